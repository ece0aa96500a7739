package relay

import "net/netip"

// sharedSpace is the carrier-grade NAT range of RFC 6598.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// peerAllowed reports whether an allocation may relay to and from ip.
// Unspecified, multicast, link-local and broadcast addresses are never
// allowed; loopback, private and shared ones only with allowPrivate.
func peerAllowed(ip netip.Addr, allowPrivate bool) bool {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return allowPrivate
	case !ip.IsGlobalUnicast():
		return false
	case ip.IsPrivate() || sharedSpace.Contains(ip):
		return allowPrivate
	}
	return true
}
