package detpunch

import "slices"

// The port generator. Another implementation that follows these steps
// derives the same ports (docs/det.md has the steps and a test vector):
//
//	seed  = (bucket × 2654435761) mod 0xFFFFFFFF   (mathematical modulo: 0 ≤ seed < 0xFFFFFFFF)
//	state = seed, as an unsigned 64-bit integer
//	next: state = state + 0x9E3779B97F4A7C15                 (SplitMix64, all mod 2^64)
//	      z = state
//	      z = (z xor (z >> 30)) × 0xBF58476D1CE4E5B9
//	      z = (z xor (z >> 27)) × 0x94D049BB133111EB
//	      return z xor (z >> 31)
//	port  = 16384 + 3 × (next mod 5461) + (bucket mod 3)
//
// drawn until n distinct ports are found, in the order drawn (a repeat is
// skipped). All ports lie in 16384-32766: above the well-known and most
// registered ports, below Linux's ephemeral range (32768-60999), so they
// rarely collide with the host's own connections. A bucket's ports are all
// congruent to the bucket modulo 3, so buckets up to two apart never share
// a port: the port a connection comes up on names its bucket on both sides.
const (
	// seedMultiplier and seedModulus are the seed's.
	seedMultiplier = 2654435761
	seedModulus    = 0xFFFFFFFF
	// MinPort and MaxPort bound the ports of every bucket.
	MinPort = 16384
	MaxPort = MinPort + 3*(portSlots-1) + 2
	// portSlots is the number of ports of one residue modulo 3.
	portSlots = 5461
	// MaxPorts bounds the ports per bucket (Config.Ports).
	MaxPorts = 256
)

// Seed returns the PRNG seed of a bucket: (bucket × 2654435761) mod
// 0xFFFFFFFF, never negative.
func Seed(bucket int64) uint32 {
	b := bucket % seedModulus
	if b < 0 {
		b += seedModulus
	}
	return uint32(uint64(b) * seedMultiplier % seedModulus)
}

// Ports returns the n ports of a bucket (n at most [MaxPorts]), in the
// order the generator draws them.
func Ports(bucket int64, n int) []uint16 {
	n = min(n, MaxPorts)
	residue := bucket % 3
	if residue < 0 {
		residue += 3
	}
	rng := splitMix64(Seed(bucket))
	ports := make([]uint16, 0, n)
	for len(ports) < n {
		p := uint16(MinPort + 3*(rng.next()%portSlots) + uint64(residue))
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator.
type splitMix64 uint64

func (s *splitMix64) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}
