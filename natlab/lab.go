package natlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/punchkit/punch/natlab/core"
)

// StateDir is where labs are recorded, one JSON file each, so that
// `punch lab exec` and `punch lab down` find a lab another process built.
var StateDir = "/run/punch/lab"

// Role is what a node does in the lab.
type Role string

// The node roles.
const (
	RoleServer Role = "server" // a public host with two addresses per family
	RoleRouter Role = "router" // a site's NAT router
	RoleHost   Role = "host"   // a host on a site's LAN
)

// Node is one network namespace of the lab.
type Node struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Netns string `json:"netns"`
	// Site is the site a router or host belongs to.
	Site string `json:"site,omitempty"`
	// NAT is the NAT type in front of a host, or of a router.
	NAT NATType `json:"nat,omitempty"`
	// Addrs are the node's own addresses: for a host its LAN addresses,
	// for a router its WAN then LAN addresses, for the server its two
	// addresses of each family.
	Addrs []netip.Addr `json:"addrs"`
	// Public are the addresses the internet sees a host's packets come
	// from: its router's WAN addresses behind a NAT, its own otherwise.
	Public []netip.Addr `json:"public,omitempty"`
}

// Addr returns the node's first address of the family of want4 (IPv4 when
// true, IPv6 otherwise), or the zero Addr.
func (n *Node) Addr(want4 bool) netip.Addr { return firstOf(n.Addrs, want4) }

// PublicAddr returns the node's first public address of the given family.
func (n *Node) PublicAddr(want4 bool) netip.Addr { return firstOf(n.Public, want4) }

func firstOf(addrs []netip.Addr, want4 bool) netip.Addr {
	for _, a := range addrs {
		if a.Is4() == want4 {
			return a
		}
	}
	return netip.Addr{}
}

// Lab is a built lab.
type Lab struct {
	Config  Config    `json:"config"`
	Nodes   []*Node   `json:"nodes"`
	Created time.Time `json:"created"`
	// Daemon is the process that runs the lab's core router when the lab
	// outlives the command that built it (punch lab up), else 0.
	Daemon int `json:"daemon,omitempty"`

	log    *slog.Logger
	router *core.Router // the core, when this process runs it
}

// Node returns the node with the given name.
func (l *Lab) Node(name string) (*Node, error) {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w: lab %s has no node %q (it has %s)", ErrNotFound, l.Config.Name, name, strings.Join(l.nodeNames(), ", "))
}

func (l *Lab) nodeNames() []string {
	names := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		names[i] = n.Name
	}
	return names
}

// Site returns the configuration of the named site.
func (l *Lab) Site(name string) (Site, error) {
	for _, s := range l.Config.Sites {
		if s.Name == name {
			return s, nil
		}
	}
	return Site{}, fmt.Errorf("%w: lab %s has no site %q", ErrNotFound, l.Config.Name, name)
}

func netnsName(lab, node string) string { return "pl-" + lab + "-" + node }

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

// New builds the lab described by cfg. log may be nil. On failure it
// removes whatever it had built.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Lab, error) {
	if err := CheckSupported(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Lab{Config: cfg, Created: time.Now().UTC(), log: log}
	if err := l.plan(); err != nil {
		return nil, err
	}
	if err := l.reserve(); err != nil {
		return nil, err
	}
	if err := l.build(ctx); err != nil {
		// The build's context may be the reason it failed; clean up
		// regardless.
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		return nil, err
	}
	return l, l.save()
}

// plan fills in the nodes and their addresses.
func (l *Lab) plan() error {
	name := l.Config.Name
	link0 := planLink(0)
	alt4, alt6 := serverAlt()
	l.Nodes = []*Node{
		{Name: "server", Role: RoleServer, Netns: netnsName(name, "server"), NAT: None,
			Addrs: []netip.Addr{link0.site4.Addr(), alt4.Addr(), link0.site6.Addr(), alt6.Addr()}},
	}
	l.Nodes[0].Public = l.Nodes[0].Addrs
	for i, s := range l.Config.Sites {
		link := planLink(i + 1)
		lan, err := planLAN(i+1, !s.NAT.translates(), len(s.Hosts))
		if err != nil {
			return fmt.Errorf("site %s: %w", s.Name, err)
		}
		wan := []netip.Addr{link.site4.Addr(), link.site6.Addr()}
		l.Nodes = append(l.Nodes, &Node{Name: s.Name, Role: RoleRouter, Netns: netnsName(name, s.Name), Site: s.Name, NAT: s.NAT,
			Addrs: append(slices.Clone(wan), lan.router4.Addr(), lan.router6.Addr()), Public: wan})
		for h, host := range s.Hosts {
			addrs := []netip.Addr{lan.hosts4[h], lan.hosts6[h]}
			public := wan
			if !s.NAT.translates() {
				public = addrs
			}
			l.Nodes = append(l.Nodes, &Node{Name: host, Role: RoleHost, Netns: netnsName(name, host), Site: s.Name, NAT: s.NAT,
				Addrs: addrs, Public: public})
		}
	}
	return nil
}

// reserve claims the lab's name, failing if a lab of that name exists.
func (l *Lab) reserve() error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(statePath(l.Config.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %q (run `punch lab down %s` first)", ErrExists, l.Config.Name, l.Config.Name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(l)
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(statePath(l.Config.Name), append(b, '\n'), 0o644)
}

// Open returns the lab of that name that a previous New recorded.
func Open(name string) (*Lab, error) {
	b, err := os.ReadFile(statePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no lab named %q (see `punch lab list`)", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	l := &Lab{log: slog.New(slog.DiscardHandler)}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("lab %s: reading %s: %w", name, statePath(name), err)
	}
	return l, nil
}

// List returns the names of the recorded labs.
func List() ([]string, error) {
	entries, err := os.ReadDir(StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	return names, nil
}

// Close tears the lab down: it stops the core router if this process runs
// it, kills every process in the lab's namespaces, deletes the namespaces
// (and with them every interface) and forgets the lab. It also removes
// namespaces of the lab's name that a crashed build left behind.
func (l *Lab) Close() error {
	var errs []error
	if l.router != nil {
		errs = append(errs, l.router.Close())
	}
	return errors.Join(append(errs, Remove(l.Config.Name))...)
}

// Remove tears down the lab of that name, whether or not its record is
// complete; see [Lab.Close].
func Remove(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if l, err := Open(name); err == nil && l.Daemon != 0 && l.Daemon != os.Getpid() {
		errs = append(errs, stopDaemon(l.Daemon))
	}
	prefix := netnsName(name, "")
	for _, ns := range listNetns(ctx) {
		// Node names hold no '-', so this never matches another lab whose
		// name extends this one's.
		if rest, ok := strings.CutPrefix(ns, prefix); ok && !strings.Contains(rest, "-") {
			errs = append(errs, deleteNetns(ctx, ns))
		}
	}
	for _, p := range []string{statePath(name), socketPath(name), filepath.Join(StateDir, name+".log")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
