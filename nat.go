package punch

import (
	"net/netip"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/udppunch"
)

// Mapping is how a NAT maps a host's sockets to public addresses, as the
// punch server saw them: it decides which techniques can work.
type Mapping string

// The mappings punch tells apart.
const (
	// MappingUnknown: the server does not speak RFC 5780 (one STUN
	// mapping tells nothing), or the path was not tried.
	MappingUnknown Mapping = "unknown"
	// MappingNone: no NAT; the host's own address is public (a firewall
	// may still filter).
	MappingNone Mapping = "none"
	// MappingOne: one public address for every destination
	// (endpoint-independent mapping, RFC 4787): cone NATs.
	MappingOne Mapping = "endpoint-independent"
	// MappingSequential: a new public port for each destination, in
	// sequence: predictable.
	MappingSequential Mapping = "sequential"
	// MappingRandom: a new random public port for each destination.
	MappingRandom Mapping = "random"
)

// NATs are the mappings of the two sides of a session.
type NATs struct {
	Self, Peer Mapping
}

// classify tells a host's mapping from its TCP connection to the
// rendezvous server (public as the server saw it, and the local address
// it was made from) and its UDP socket's mappings toward the STUN
// server's two ports.
func classify(public netip.AddrPort, local []netip.AddrPort, udp []netip.AddrPort) Mapping {
	for _, l := range local {
		if l == public {
			return MappingNone
		}
	}
	if len(udp) < 2 || !udp[0].IsValid() || !udp[1].IsValid() {
		return MappingUnknown
	}
	switch {
	case udp[0] == udp[1]:
		return MappingOne
	case udppunch.Predict(udp[:2], []netip.AddrPort{public}, 1) != nil:
		return MappingSequential
	}
	return MappingRandom
}

// natsOf classifies both sides of a meeting.
func natsOf(g *gathered, m *rendezvous.Match) NATs {
	return NATs{
		Self: classify(m.Self, []netip.AddrPort{g.tcpLocal}, []netip.AddrPort{g.mapped, g.second}),
		Peer: classify(m.Peer, m.PeerLocal, m.PeerUDP),
	}
}

// oneMapping reports whether a NAT keeps one public address for every
// destination, or there is no NAT.
func (m Mapping) oneMapping() bool { return m == MappingOne || m == MappingNone }
