package udppunch

import (
	"net/netip"
	"slices"
)

// MaxDelta bounds the port step that Predict takes for a sequential
// allocator: a greater step between two mappings looks random.
const MaxDelta = 256

// Predict guesses the next n public addresses of a peer's UDP socket
// behind a NAT that allocates a new port for each destination, counting
// up (a "sequential symmetric" NAT). udp are the socket's mapped addresses
// toward two or more destinations (STUN to two ports of the server);
// other are further mappings the NAT made for the same host meanwhile
// (its TCP connection to the rendezvous server, say), which tell the step
// when the NAT shares one counter between protocols. The step is the
// smallest gap between the ports seen on the socket's public address, if
// it is at most MaxDelta; the predictions follow the highest UDP port.
// Predict returns nil when the NAT kept one mapping for every destination,
// when there are fewer than two UDP samples, or when the gaps look random.
func Predict(udp, other []netip.AddrPort, n int) []netip.AddrPort {
	if len(udp) < 2 {
		return nil
	}
	ip := udp[0].Addr()
	var ports []int
	base := 0
	for i, a := range append(slices.Clone(udp), other...) {
		if a.Addr() != ip {
			continue
		}
		ports = append(ports, int(a.Port()))
		if i < len(udp) {
			base = max(base, int(a.Port()))
		}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	step := 0
	for i := 1; i < len(ports); i++ {
		if d := ports[i] - ports[i-1]; step == 0 || d < step {
			step = d
		}
	}
	if step == 0 || step > MaxDelta {
		return nil
	}
	var out []netip.AddrPort
	for p := base + step; len(out) < n && p <= 65535; p += step {
		out = append(out, netip.AddrPortFrom(ip, uint16(p)))
	}
	return out
}
