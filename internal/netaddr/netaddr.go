// Package netaddr converts the standard library's socket addresses to
// netip values, the form punch's packages work with.
package netaddr

import (
	"net"
	"net/netip"
)

// AddrPort converts a socket address (*net.UDPAddr, *net.TCPAddr, or any
// address whose String is ip:port) to a netip.AddrPort, with IPv4-mapped
// IPv6 addresses unmapped. ok is false for nil and for addresses that are
// not IP addresses.
func AddrPort(a net.Addr) (ap netip.AddrPort, ok bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case nil:
		return ap, false
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.AddrPort{}, false
		}
	}
	if !ap.Addr().IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
