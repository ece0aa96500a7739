package natlab

import (
	"fmt"
	"net/netip"
)

// The address plan. Link i (0 for the server, 1.. for the sites in order)
// joins the core to a site:
//
//	IPv4 WAN link   203.0.113.8i/29   core .8i+1, router .8i+2
//	server link     198.51.100.0/29   core .1, server .2 and .3
//	IPv6 link       2001:db8:0:i::/64 core ::1, router or server ::2 (::3)
//	public LAN      198.51.100.8i/29  router .8i+1, hosts from .8i+2
//	                2001:db8:1:i::/64 router ::1, hosts from ::2
//	NATed LAN       10.0.i.0/24       router .1, hosts from .2
//	                fd00:0:0:i::/64   router ::1, hosts from ::2
//
// A public LAN therefore holds at most five hosts.
const maxPublicHosts = 5

func v4(a, b, c, d int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)})
}

func v6(prefix [6]byte, i, host int) netip.Addr {
	var b [16]byte
	copy(b[:], prefix[:])
	b[6], b[7] = byte(i>>8), byte(i)
	b[14], b[15] = byte(host>>8), byte(host)
	return netip.AddrFrom16(b)
}

var (
	linkV6      = [6]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0}
	publicLANV6 = [6]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1}
	privateV6   = [6]byte{0xfd, 0, 0, 0, 0, 0}
)

// linkPlan is the addressing of link i between the core and a site.
type linkPlan struct {
	core4, site4 netip.Prefix // with the link's prefix length
	core6, site6 netip.Prefix
}

func planLink(i int) linkPlan {
	if i == 0 {
		return linkPlan{
			core4: netip.PrefixFrom(v4(198, 51, 100, 1), 29),
			site4: netip.PrefixFrom(v4(198, 51, 100, 2), 29),
			core6: netip.PrefixFrom(v6(linkV6, 0, 1), 64),
			site6: netip.PrefixFrom(v6(linkV6, 0, 2), 64),
		}
	}
	return linkPlan{
		core4: netip.PrefixFrom(v4(203, 0, 113, 8*i+1), 29),
		site4: netip.PrefixFrom(v4(203, 0, 113, 8*i+2), 29),
		core6: netip.PrefixFrom(v6(linkV6, i, 1), 64),
		site6: netip.PrefixFrom(v6(linkV6, i, 2), 64),
	}
}

// serverAlt returns the server's second address of each family.
func serverAlt() (netip.Prefix, netip.Prefix) {
	return netip.PrefixFrom(v4(198, 51, 100, 3), 29), netip.PrefixFrom(v6(linkV6, 0, 3), 64)
}

// lanPlan is the addressing of site i's LAN: the router's address (with the
// prefix length) and the hosts'.
type lanPlan struct {
	router4, router6 netip.Prefix
	hosts4, hosts6   []netip.Addr
}

func planLAN(i int, public bool, hosts int) (lanPlan, error) {
	var p lanPlan
	if public {
		if hosts > maxPublicHosts {
			return p, fmt.Errorf("%w: a public LAN holds at most %d hosts, not %d", ErrConfig, maxPublicHosts, hosts)
		}
		p.router4 = netip.PrefixFrom(v4(198, 51, 100, 8*i+1), 29)
		p.router6 = netip.PrefixFrom(v6(publicLANV6, i, 1), 64)
		for h := range hosts {
			p.hosts4 = append(p.hosts4, v4(198, 51, 100, 8*i+2+h))
			p.hosts6 = append(p.hosts6, v6(publicLANV6, i, 2+h))
		}
		return p, nil
	}
	p.router4 = netip.PrefixFrom(v4(10, 0, i, 1), 24)
	p.router6 = netip.PrefixFrom(v6(privateV6, i, 1), 64)
	for h := range hosts {
		p.hosts4 = append(p.hosts4, v4(10, 0, i, 2+h))
		p.hosts6 = append(p.hosts6, v6(privateV6, i, 2+h))
	}
	return p, nil
}
