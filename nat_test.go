package punch

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	ap := netip.MustParseAddrPort
	lan := []netip.AddrPort{ap("10.0.0.2:40000")}
	public := ap("203.0.113.5:40000")
	for _, c := range []struct {
		name   string
		public netip.AddrPort
		udp    []netip.AddrPort
		want   Mapping
	}{
		{"no NAT", ap("10.0.0.2:40000"), nil, MappingNone},
		{"one STUN mapping", public, []netip.AddrPort{ap("203.0.113.5:5000")}, MappingUnknown},
		{"cone", public, []netip.AddrPort{ap("203.0.113.5:5000"), ap("203.0.113.5:5000")}, MappingOne},
		{"sequential", ap("203.0.113.5:20001"), []netip.AddrPort{ap("203.0.113.5:20000"), ap("203.0.113.5:20002")}, MappingSequential},
		{"random", ap("203.0.113.5:61001"), []netip.AddrPort{ap("203.0.113.5:3310"), ap("203.0.113.5:47012")}, MappingRandom},
	} {
		if got := classify(c.public, lan, c.udp); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
