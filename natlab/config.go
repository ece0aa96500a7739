package natlab

import (
	"fmt"

	"github.com/punchkit/punch/natlab/core"
	"regexp"
	"strconv"
	"strings"
)

// NATType is the behaviour of a site's router, named after RFC 4787's
// mapping and filtering axes.
type NATType string

// The NAT types the lab implements; see the package documentation.
const (
	None           NATType = "none"
	FullCone       NATType = "fullcone"
	Restricted     NATType = "restricted"
	PortRestricted NATType = "portrestricted"
	Symmetric      NATType = "symmetric"
	SymmetricSeq   NATType = "symmetric-seq"
	Firewall       NATType = "firewall"
)

// NATTypes lists every NAT type, from the most open to the least.
var NATTypes = []NATType{None, FullCone, Restricted, PortRestricted, SymmetricSeq, Symmetric, Firewall}

// translates reports whether the type rewrites addresses (a NAT) rather
// than only forwarding or filtering.
func (t NATType) translates() bool { return t != None && t != Firewall }

// endpointIndependent reports whether the type keeps one public port per
// internal endpoint whatever the destination.
func (t NATType) endpointIndependent() bool {
	return t == FullCone || t == Restricted || t == PortRestricted
}

// Input is what a router does with unsolicited packets addressed to itself
// (packets that match no mapping).
type Input string

// The unsolicited-packet behaviours.
const (
	// Drop silently discards them, as most home routers do.
	Drop Input = "drop"
	// Reject answers TCP with RST and UDP with ICMP port unreachable, as
	// OpenWrt does by default.
	Reject Input = "reject"
	// Accept hands them to the router's own stack, as a bare masquerade
	// router without an input firewall does: its stack answers, and
	// conntrack keeps an entry that can take the public port a later
	// outgoing packet wanted.
	Accept Input = "accept"
)

// Inputs lists every unsolicited-packet behaviour.
var Inputs = []Input{Drop, Reject, Accept}

// Site describes one NAT router and the hosts behind it.
type Site struct {
	// Name names the router namespace, e.g. "natA". Required.
	Name string `json:"name"`
	// Hosts names the hosts on the site's LAN, e.g. ["a"]. Default: the
	// lower-case last letter of Name, e.g. "a" for "natA".
	Hosts []string `json:"hosts"`
	// NAT is the router's behaviour. Default: PortRestricted.
	NAT NATType `json:"nat"`
	// Input is what the router does with unsolicited packets to itself.
	// Default: Drop.
	Input Input `json:"input"`
	// NoPortPreservation makes an endpoint-independent NAT map internal
	// ports to different public ports. Default: ports are preserved when
	// free, as Linux does.
	NoPortPreservation bool `json:"no_port_preservation,omitempty"`
	// Hairpin makes the router loop packets from its LAN to its own public
	// address back to the LAN host that owns the mapping. Default: off.
	Hairpin bool `json:"hairpin,omitempty"`
	// Link is the site's link to the core. Default: perfect.
	Link LinkParams `json:"link"`
}

// LinkParams are the impairments of a link to the core: Up from the site
// into the core, Down from the core to the site.
type LinkParams struct {
	Up   core.Params `json:"up"`
	Down core.Params `json:"down"`
}

// Set applies one setting to both directions, or to one if the key starts
// with "up." or "down.": delay, jitter, loss, dup, reorder, rate (see
// [core.Params.Set]).
func (lp *LinkParams) Set(key, value string) error {
	var err error
	switch {
	case strings.HasPrefix(key, "up."):
		err = lp.Up.Set(strings.TrimPrefix(key, "up."), value)
	case strings.HasPrefix(key, "down."):
		err = lp.Down.Set(strings.TrimPrefix(key, "down."), value)
	default:
		if err = lp.Up.Set(key, value); err == nil {
			err = lp.Down.Set(key, value)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// SetSpec applies settings of the form key=value,key=value.
func (lp *LinkParams) SetSpec(spec string) error {
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%w: %q: want key=value", ErrConfig, kv)
		}
		if err := lp.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// isLinkKey reports whether a site option is a link setting.
func isLinkKey(k string) bool {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "up."), "down.")
	switch k {
	case "delay", "jitter", "loss", "dup", "reorder", "rate":
		return true
	}
	return false
}

// Config describes a lab.
type Config struct {
	// Name names the lab; it prefixes every namespace. Required: letters,
	// digits and '-', at most 20 characters.
	Name string `json:"name"`
	// Sites are the NAT sites. Default: natA and natB, both
	// PortRestricted.
	Sites []Site `json:"sites"`
	// ServerLink is the server's link to the core. Default: perfect.
	ServerLink LinkParams `json:"server_link"`
	// PcapDir, if set, is a directory where the core writes every link's
	// packets to LINK.pcap (natA.pcap, server.pcap, ...). Default: no
	// capture.
	PcapDir string `json:"pcap_dir,omitempty"`
}

var (
	labNameRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,19}$`)
	nodeNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]{0,11}$`)
)

// maxSites bounds the number of sites by the address plan (one /29 of
// 203.0.113.0/24 each, the first being the server's).
const maxSites = 30

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if !labNameRE.MatchString(c.Name) {
		return c, fmt.Errorf("%w: lab name %q: use 1-20 letters, digits and '-'", ErrConfig, c.Name)
	}
	if len(c.Sites) == 0 {
		c.Sites = []Site{{Name: "natA"}, {Name: "natB"}}
	}
	if len(c.Sites) > maxSites {
		return c, fmt.Errorf("%w: %d sites, at most %d", ErrConfig, len(c.Sites), maxSites)
	}
	seen := map[string]bool{"core": true, "server": true}
	sites := make([]Site, len(c.Sites))
	for i, s := range c.Sites {
		var err error
		if sites[i], err = s.withDefaults(); err != nil {
			return c, err
		}
		for _, n := range append([]string{sites[i].Name}, sites[i].Hosts...) {
			if seen[n] {
				return c, fmt.Errorf("%w: node name %q used twice", ErrConfig, n)
			}
			seen[n] = true
		}
	}
	c.Sites = sites
	return c, nil
}

func (s Site) withDefaults() (Site, error) {
	if !nodeNameRE.MatchString(s.Name) {
		return s, fmt.Errorf("%w: site name %q: use a letter then up to 11 letters or digits", ErrConfig, s.Name)
	}
	if len(s.Hosts) == 0 {
		s.Hosts = []string{strings.ToLower(s.Name[len(s.Name)-1:])}
	}
	if len(s.Hosts) > 200 {
		return s, fmt.Errorf("%w: site %s: %d hosts, at most 200", ErrConfig, s.Name, len(s.Hosts))
	}
	for _, h := range s.Hosts {
		if !nodeNameRE.MatchString(h) {
			return s, fmt.Errorf("%w: host name %q: use a letter then up to 11 letters or digits", ErrConfig, h)
		}
	}
	if s.NAT == "" {
		s.NAT = PortRestricted
	}
	if _, err := ParseNATType(string(s.NAT)); err != nil {
		return s, err
	}
	if s.Input == "" {
		s.Input = Drop
	}
	if _, err := ParseInput(string(s.Input)); err != nil {
		return s, err
	}
	return s, nil
}

// ParseNATType parses a NAT type name.
func ParseNATType(s string) (NATType, error) {
	for _, t := range NATTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: unknown NAT type %q (one of %s)", ErrConfig, s, joinNames(NATTypes))
}

// ParseInput parses an unsolicited-packet behaviour.
func ParseInput(s string) (Input, error) {
	for _, in := range Inputs {
		if string(in) == s {
			return in, nil
		}
	}
	return "", fmt.Errorf("%w: unknown input behaviour %q (one of %s)", ErrConfig, s, joinNames(Inputs))
}

// ParseSiteSpec applies a site specification of the form
// TYPE[:key=value,...] to s, as the --nat-a flag takes it. Keys: input
// (drop|reject|accept), preserve (on|off), hairpin (on|off), hosts (a
// number of hosts or names separated by '+'), and the link settings of
// [LinkParams.Set] (delay, jitter, loss, dup, reorder, rate, each
// optionally prefixed with up. or down.).
func ParseSiteSpec(s *Site, spec string) error {
	typ, opts, _ := strings.Cut(spec, ":")
	t, err := ParseNATType(typ)
	if err != nil {
		return err
	}
	s.NAT = t
	if opts == "" {
		return nil
	}
	for _, kv := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%w: %q in %q: want key=value", ErrConfig, kv, spec)
		}
		if err := s.set(k, v); err != nil {
			return fmt.Errorf("%w (in %q)", err, spec)
		}
	}
	return nil
}

func (s *Site) set(k, v string) error {
	if isLinkKey(k) {
		return s.Link.Set(k, v)
	}
	switch k {
	case "input":
		in, err := ParseInput(v)
		s.Input = in
		return err
	case "preserve", "hairpin":
		on, err := parseOnOff(v)
		if k == "preserve" {
			s.NoPortPreservation = !on
		} else {
			s.Hairpin = on
		}
		return err
	case "hosts":
		return s.setHosts(v)
	}
	return fmt.Errorf("%w: unknown site option %q (input, preserve, hairpin, hosts, delay, jitter, loss, dup, reorder, rate)", ErrConfig, k)
}

func (s *Site) setHosts(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		s.Hosts = strings.Split(v, "+")
		return nil
	}
	if n < 1 || n > 200 {
		return fmt.Errorf("%w: hosts=%d: want 1 to 200", ErrConfig, n)
	}
	base := strings.ToLower(s.Name[len(s.Name)-1:])
	s.Hosts = []string{base}
	for i := 2; i <= n; i++ {
		s.Hosts = append(s.Hosts, base+strconv.Itoa(i))
	}
	return nil
}

func parseOnOff(v string) (bool, error) {
	switch v {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q: want on or off", ErrConfig, v)
}

func joinNames[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// Validate reports whether a lab could be built from c, without building
// it.
func (c Config) Validate() error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	return (&Lab{Config: c}).plan()
}
