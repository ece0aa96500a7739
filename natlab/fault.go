package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Fault is a failure the lab can inflict on a site.
type Fault string

// The faults.
const (
	// Blackhole drops everything to and from the site's link for a while,
	// then the link recovers.
	Blackhole Fault = "blackhole"
	// FlushNAT makes the site's NAT forget every mapping (conntrack and the
	// lab's mapping tables), so the next outgoing packet of a flow gets a
	// new mapping (on a port-preserving NAT, usually the same port again).
	FlushNAT Fault = "flush-nat"
	// Rebind moves the site's NAT to its other public address (the router
	// holds .2 and .3 of its WAN link, and ::2 and ::3) and forgets every
	// mapping, so existing flows continue from a new public address.
	Rebind Fault = "rebind"
	// Restart takes the site's router down for a while: it loses all state,
	// drops every packet, then comes back.
	Restart Fault = "restart"
)

// Faults lists every fault.
var Faults = []Fault{Blackhole, FlushNAT, Rebind, Restart}

// ParseFault parses a fault name.
func ParseFault(s string) (Fault, error) {
	for _, f := range Faults {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: unknown fault %q (one of %s)", ErrConfig, s, joinNames(Faults))
}

// needsDuration reports whether the fault lasts for a given time.
func (f Fault) needsDuration() bool { return f == Blackhole || f == Restart }

// Inflict applies a fault to a site (or to "server" for a blackhole); d is
// how long a blackhole or a restart lasts. It returns once the fault has
// started; the lab's core ends it.
func (l *Lab) Inflict(ctx context.Context, site string, f Fault, d time.Duration) error {
	if f.needsDuration() && d <= 0 {
		return fmt.Errorf("%w: %s needs a duration, such as 10s", ErrConfig, f)
	}
	if l.router == nil {
		return l.control(ctx, request{Op: "fault", Site: site, Fault: f, Duration: d}, nil)
	}
	if f == Blackhole {
		return l.router.Blackhole(site, d)
	}
	router, err := l.Node(site)
	if err != nil || router.Role != RoleRouter {
		return fmt.Errorf("%w: %s is not a site with a router", ErrNotFound, site)
	}
	s, _ := l.Site(site)
	switch f {
	case FlushNAT:
		return flushNAT(ctx, router)
	case Rebind:
		return l.rebind(ctx, router, s)
	case Restart:
		return l.restart(ctx, router, d)
	}
	return fmt.Errorf("%w: unknown fault %q", ErrConfig, f)
}

// flushNAT empties the router's conntrack table and mapping tables.
func flushNAT(ctx context.Context, router *Node) error {
	out, err := router.Command(ctx, "nft", "-j", "list", "table", "inet", "punchlab").Output()
	if err != nil {
		return fmt.Errorf("%s: reading the ruleset: %w", router.Name, err)
	}
	var flush []string
	for _, kind := range []string{"map", "set"} {
		for _, name := range []string{"paddr4", "pport4", "paddr6", "pport6", "peers4", "peers6"} {
			if strings.Contains(string(out), `"`+kind+`": {"family": "inet", "name": "`+name+`"`) {
				flush = append(flush, fmt.Sprintf("flush %s inet punchlab %s", kind, name))
			}
		}
	}
	if len(flush) > 0 {
		if err := inNetns(ctx, router.Netns, strings.Join(flush, "\n")+"\n", "nft", "-f", "-"); err != nil {
			return err
		}
	}
	// conntrack -F exits 1 when the table was already empty on some
	// versions; the flush has happened either way.
	router.Command(ctx, "conntrack", "-F").Run()
	router.Command(ctx, "conntrack", "-F", "-f", "ipv6").Run()
	return nil
}

// rebind moves the router's NAT to its other WAN address of each family.
func (l *Lab) rebind(ctx context.Context, router *Node, s Site) error {
	if !s.NAT.translates() {
		return fmt.Errorf("%w: %s is a %s site: it has no NAT to rebind", ErrConfig, s.Name, s.NAT)
	}
	i := l.siteIndex(s.Name)
	link := planLink(i)
	lan, _ := planLAN(i, false, len(s.Hosts))
	old4 := router.PublicAddr(true)
	new4, new6 := link.site4.Addr().Next(), link.site6.Addr().Next()
	if old4 == new4 {
		new4, new6 = link.site4.Addr(), link.site6.Addr()
	}
	for _, a := range []netip.Addr{new4, new6} {
		// The address may already be there from an earlier rebind.
		addrAdd(ctx, router.Netns, "wan", netip.PrefixFrom(a, map[bool]int{true: 29, false: 64}[a.Is4()]))
	}
	if err := loadRuleset(ctx, router, s, new4, new6, lan); err != nil {
		return err
	}
	if err := flushNAT(ctx, router); err != nil {
		return err
	}
	public := []netip.Addr{new4, new6}
	for _, n := range l.Nodes {
		if n.Site == s.Name {
			n.Public = public
		}
	}
	return l.save()
}

func (l *Lab) siteIndex(name string) int {
	for i, s := range l.Config.Sites {
		if s.Name == name {
			return i + 1
		}
	}
	return 0
}

// downTable is the ruleset that makes a router drop everything while it is
// restarting.
const downTable = `table inet punchlab_down {
  chain prerouting { type filter hook prerouting priority raw - 10; policy drop; }
  chain output { type filter hook output priority raw - 10; policy drop; }
}
`

// restart takes the router down for d: its state is flushed, it drops
// every packet, and the core drops its link; then it comes back.
func (l *Lab) restart(ctx context.Context, router *Node, d time.Duration) error {
	if err := inNetns(ctx, router.Netns, downTable, "nft", "-f", "-"); err != nil {
		return err
	}
	if err := l.router.Blackhole(router.Name, d); err != nil {
		return err
	}
	if err := flushNAT(ctx, router); err != nil {
		return err
	}
	time.AfterFunc(d, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inNetns(ctx, router.Netns, "", "nft", "delete", "table", "inet", "punchlab_down"); err != nil {
			l.log.Warn("natlab: bringing the router back", "router", router.Name, "err", err)
		}
	})
	return nil
}
