package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/punchkit/punch/natlab/core"
)

// linkMTU is the MTU of every link to the core.
const linkMTU = 1500

// build creates the namespaces, links, addresses, routes and rulesets, and
// starts the core router.
func (l *Lab) build(ctx context.Context) error {
	for _, n := range l.Nodes {
		if err := l.addNetns(ctx, n); err != nil {
			return err
		}
	}
	server, _ := l.Node("server")
	link, err := l.linkServer(ctx, server)
	if err != nil {
		return err
	}
	links := []core.Link{link}
	for i, s := range l.Config.Sites {
		link, err := l.buildSite(ctx, i+1, s)
		if err != nil {
			return fmt.Errorf("site %s: %w", s.Name, err)
		}
		links = append(links, link)
	}
	l.router, err = core.New(&core.Config{PcapDir: l.Config.PcapDir, Logger: l.log}, links...)
	return err
}

// addNetns creates a node's namespace with loopback up, IPv6 duplicate
// address detection off (addresses are usable at once), forwarding on for
// routers, TCP Fast Open for the server's listeners, and TCP buffers large
// enough for a gigabit over long delays.
func (l *Lab) addNetns(ctx context.Context, n *Node) error {
	l.log.Debug("natlab: namespace", "node", n.Name, "netns", n.Netns)
	if err := ip(ctx, "netns", "add", n.Netns); err != nil {
		return err
	}
	sysctls := []string{
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
		"net.ipv4.tcp_rmem=4096 131072 33554432", "net.ipv4.tcp_wmem=4096 65536 33554432",
	}
	switch n.Role {
	case RoleRouter:
		sysctls = append(sysctls, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	case RoleServer:
		// Configured as a punch server should be: TCP Fast Open for
		// clients (1) and listeners (2) for the rendezvous, and IP
		// forwarding, without redirects, for the pair relay's kernel
		// forwarding (docs/relay.md).
		sysctls = append(sysctls, "net.ipv4.tcp_fastopen=3",
			"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
			"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0")
	}
	if err := inNetns(ctx, n.Netns, "", append([]string{"sysctl", "-qw"}, sysctls...)...); err != nil {
		return err
	}
	return ip(ctx, "-n", n.Netns, "link", "set", "lo", "up")
}

// createTUN creates a TUN device inside a node's namespace, the node's end
// of its link to the core, and brings it up.
func createTUN(ctx context.Context, n *Node, name string) (tun.Device, error) {
	var dev tun.Device
	if err := n.Do(func() (err error) { dev, err = tun.CreateTUN(name, linkMTU); return err }); err != nil {
		return nil, fmt.Errorf("creating TUN %s in %s: %w", name, n.Netns, err)
	}
	if err := ip(ctx, "-n", n.Netns, "link", "set", name, "up"); err != nil {
		dev.Close()
		return nil, err
	}
	return dev, nil
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

// defaultRoute adds default routes of both families via gateways on dev.
func defaultRoute(ctx context.Context, netns, dev string, via4, via6 netip.Addr) error {
	if err := ip(ctx, "-n", netns, "-4", "route", "add", "default", "via", via4.String(), "dev", dev); err != nil {
		return err
	}
	return ip(ctx, "-n", netns, "-6", "route", "add", "default", "via", via6.String(), "dev", dev)
}

func (l *Lab) linkServer(ctx context.Context, server *Node) (core.Link, error) {
	link := planLink(0)
	alt4, alt6 := serverAlt()
	dev, err := createTUN(ctx, server, "eth0")
	if err != nil {
		return core.Link{}, err
	}
	if err := addrAdd(ctx, server.Netns, "eth0", link.site4, alt4, link.site6, alt6); err == nil {
		err = defaultRoute(ctx, server.Netns, "eth0", link.core4.Addr(), link.core6.Addr())
	}
	if err != nil {
		dev.Close()
		return core.Link{}, err
	}
	return core.Link{
		Name: "server", Dev: dev,
		Prefixes: []netip.Prefix{link.site4.Masked(), link.site6.Masked()},
		Addr4:    link.core4.Addr(), Addr6: link.core6.Addr(),
		Up: l.Config.ServerLink.Up, Down: l.Config.ServerLink.Down,
	}, nil
}

// buildSite builds site i: its router and its link to the core, its LAN
// and its hosts, and the router's ruleset.
func (l *Lab) buildSite(ctx context.Context, i int, s Site) (core.Link, error) {
	router, err := l.Node(s.Name)
	if err != nil {
		return core.Link{}, err
	}
	link := planLink(i)
	public := !s.NAT.translates()
	lan, err := planLAN(i, public, len(s.Hosts))
	if err != nil {
		return core.Link{}, err
	}
	dev, err := createTUN(ctx, router, "wan")
	if err != nil {
		return core.Link{}, err
	}
	if err := l.buildLAN(ctx, router, link, lan, s); err != nil {
		dev.Close()
		return core.Link{}, err
	}
	prefixes := []netip.Prefix{link.site4.Masked(), link.site6.Masked()}
	if public {
		prefixes = append(prefixes, lan.router4.Masked(), lan.router6.Masked())
	}
	return core.Link{
		Name: s.Name, Dev: dev, Prefixes: prefixes,
		Addr4: link.core4.Addr(), Addr6: link.core6.Addr(),
		Up: s.Link.Up, Down: s.Link.Down,
	}, nil
}

// buildLAN addresses the router's WAN, builds its LAN (a bridge, one veth
// per host) and loads its ruleset.
func (l *Lab) buildLAN(ctx context.Context, router *Node, link linkPlan, lan lanPlan, s Site) error {
	if err := addrAdd(ctx, router.Netns, "wan", link.site4, link.site6); err != nil {
		return err
	}
	if err := defaultRoute(ctx, router.Netns, "wan", link.core4.Addr(), link.core6.Addr()); err != nil {
		return err
	}
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
		if err := defaultRoute(ctx, host.Netns, "eth0", lan.router4.Addr(), lan.router6.Addr()); err != nil {
			return err
		}
	}
	return loadRuleset(ctx, router, s, link.site4.Addr(), link.site6.Addr(), lan)
}

// loadRuleset (re)loads the router's nftables ruleset for its NAT type
// with the given public addresses.
func loadRuleset(ctx context.Context, router *Node, s Site, wan4, wan6 netip.Addr, lan lanPlan) error {
	rules := "table inet punchlab {}\ndelete table inet punchlab\n" + routerRuleset(s, wan4, wan6, lan.router4, lan.router6)
	if err := inNetns(ctx, router.Netns, rules, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("loading the %s ruleset: %w", s.NAT, err)
	}
	return nil
}
