package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// build creates the namespaces, links, addresses, routes and rulesets.
func (l *Lab) build(ctx context.Context) error {
	for _, n := range l.Nodes {
		if err := l.addNetns(ctx, n); err != nil {
			return err
		}
	}
	core, _ := l.Node("core")
	server, _ := l.Node("server")
	if err := l.linkServer(ctx, core, server); err != nil {
		return err
	}
	for i, s := range l.Config.Sites {
		if err := l.buildSite(ctx, core, i+1, s); err != nil {
			return fmt.Errorf("site %s: %w", s.Name, err)
		}
	}
	return nil
}

// addNetns creates a node's namespace with loopback up, IPv6 duplicate
// address detection off (addresses are usable at once) and forwarding on
// for the core and the routers.
func (l *Lab) addNetns(ctx context.Context, n *Node) error {
	l.log.Debug("natlab: namespace", "node", n.Name, "netns", n.Netns)
	if err := ip(ctx, "netns", "add", n.Netns); err != nil {
		return err
	}
	sysctls := []string{
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
	}
	if n.Role == RoleCore || n.Role == RoleRouter {
		sysctls = append(sysctls, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	}
	if err := inNetns(ctx, n.Netns, "", append([]string{"sysctl", "-qw"}, sysctls...)...); err != nil {
		return err
	}
	return ip(ctx, "-n", n.Netns, "link", "set", "lo", "up")
}

// veth creates a veth pair with one end in each namespace, both up.
func veth(ctx context.Context, ns1, name1, ns2, name2 string) error {
	if err := ip(ctx, "link", "add", name1, "netns", ns1, "type", "veth", "peer", "name", name2, "netns", ns2); err != nil {
		return err
	}
	if err := ip(ctx, "-n", ns1, "link", "set", name1, "up"); err != nil {
		return err
	}
	return ip(ctx, "-n", ns2, "link", "set", name2, "up")
}

// addrAdd assigns addresses (with prefix lengths) to a device.
func addrAdd(ctx context.Context, netns, dev string, prefixes ...netip.Prefix) error {
	for _, p := range prefixes {
		args := []string{"-n", netns, "addr", "add", p.String(), "dev", dev}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// routeAdd adds routes to dst (a prefix or "default") via gateways, one
// per family.
func routeAdd(ctx context.Context, netns, dst4, dst6 string, via4, via6 netip.Addr) error {
	if err := ip(ctx, "-n", netns, "-4", "route", "add", dst4, "via", via4.String()); err != nil {
		return err
	}
	return ip(ctx, "-n", netns, "-6", "route", "add", dst6, "via", via6.String())
}

func (l *Lab) linkServer(ctx context.Context, core, server *Node) error {
	link := planLink(0)
	alt4, alt6 := serverAlt()
	if err := veth(ctx, core.Netns, "server", server.Netns, "eth0"); err != nil {
		return err
	}
	if err := addrAdd(ctx, core.Netns, "server", link.core4, link.core6); err != nil {
		return err
	}
	if err := addrAdd(ctx, server.Netns, "eth0", link.site4, alt4, link.site6, alt6); err != nil {
		return err
	}
	return routeAdd(ctx, server.Netns, "default", "default", link.core4.Addr(), link.core6.Addr())
}

// buildSite builds site i: its router, its link to the core, its LAN and
// its hosts, and the router's ruleset.
func (l *Lab) buildSite(ctx context.Context, core *Node, i int, s Site) error {
	router, err := l.Node(s.Name)
	if err != nil {
		return err
	}
	link := planLink(i)
	public := !s.NAT.translates()
	lan, err := planLAN(i, public, len(s.Hosts))
	if err != nil {
		return err
	}
	// WAN: the router's link to the core.
	if err := veth(ctx, core.Netns, s.Name, router.Netns, "wan"); err != nil {
		return err
	}
	if err := addrAdd(ctx, core.Netns, s.Name, link.core4, link.core6); err != nil {
		return err
	}
	if err := addrAdd(ctx, router.Netns, "wan", link.site4, link.site6); err != nil {
		return err
	}
	if err := routeAdd(ctx, router.Netns, "default", "default", link.core4.Addr(), link.core6.Addr()); err != nil {
		return err
	}
	if public {
		if err := routeAdd(ctx, core.Netns, lan.router4.Masked().String(), lan.router6.Masked().String(), link.site4.Addr(), link.site6.Addr()); err != nil {
			return err
		}
	}
	// LAN: a bridge on the router, one veth per host.
	if err := ip(ctx, "-n", router.Netns, "link", "add", "lan", "type", "bridge"); err != nil {
		return err
	}
	if err := ip(ctx, "-n", router.Netns, "link", "set", "lan", "up"); err != nil {
		return err
	}
	if err := addrAdd(ctx, router.Netns, "lan", lan.router4, lan.router6); err != nil {
		return err
	}
	for h, name := range s.Hosts {
		host, err := l.Node(name)
		if err != nil {
			return err
		}
		port := "h" + strconv.Itoa(h)
		if err := veth(ctx, router.Netns, port, host.Netns, "eth0"); err != nil {
			return err
		}
		if err := ip(ctx, "-n", router.Netns, "link", "set", port, "master", "lan"); err != nil {
			return err
		}
		if err := addrAdd(ctx, host.Netns, "eth0", netip.PrefixFrom(lan.hosts4[h], lan.router4.Bits()), netip.PrefixFrom(lan.hosts6[h], lan.router6.Bits())); err != nil {
			return err
		}
		if err := routeAdd(ctx, host.Netns, "default", "default", lan.router4.Addr(), lan.router6.Addr()); err != nil {
			return err
		}
	}
	rules := routerRuleset(s, link.site4.Addr(), link.site6.Addr(), lan.router4, lan.router6)
	if err := inNetns(ctx, router.Netns, rules, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("loading the %s ruleset: %w", s.NAT, err)
	}
	if s.Rate != "" {
		return setRate(ctx, s.Rate, core.Netns, s.Name, router.Netns, "wan")
	}
	return nil
}

// setRate limits both directions of a link with tbf: the egress of each
// end.
func setRate(ctx context.Context, rate string, ns1, dev1, ns2, dev2 string) error {
	bps, err := parseRate(rate)
	if err != nil {
		return err
	}
	// A burst of 10 ms at the rate, at least 64 KiB so that TSO packets
	// pass.
	burst := max(bps/8/100, 64<<10)
	for _, end := range [][2]string{{ns1, dev1}, {ns2, dev2}} {
		if err := run(ctx, "", "tc", "-n", end[0], "qdisc", "replace", "dev", end[1], "root", "tbf",
			"rate", rate, "burst", strconv.FormatInt(burst, 10), "latency", "50ms"); err != nil {
			return err
		}
	}
	return nil
}

// parseRate parses a rate in tc's syntax (bit or bps units with k, m, g, t
// prefixes, decimal) into bits per second.
func parseRate(s string) (int64, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%w: rate %q: use tc's syntax, e.g. 100mbit or 1gbit", ErrConfig, s)
	}
	num := strings.TrimSuffix(s, m[2])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%w: rate %q", ErrConfig, s)
	}
	unit := m[2]
	mult := map[byte]float64{'k': 1e3, 'm': 1e6, 'g': 1e9, 't': 1e12}[unit[0]]
	if mult == 0 {
		mult = 1
	}
	if strings.HasSuffix(unit, "bps") {
		mult *= 8
	}
	return int64(v * mult), nil
}
