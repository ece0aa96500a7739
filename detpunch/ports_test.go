package detpunch

import (
	"net/netip"
	"slices"
	"testing"
)

// TestPortsVector checks the generator against the test vector in
// docs/det.md, which an independent implementation of the documented
// steps produced.
func TestPortsVector(t *testing.T) {
	for _, tc := range []struct {
		bucket int64
		seed   uint32
		ports  []uint16
	}{
		{0, 0, []uint16{21598, 22093, 22606, 27811, 24862, 19126, 30208, 28456, 32158, 18406, 22855, 18391, 16900, 30619, 16810, 20941}},
		{-1, 1640531534, []uint16{26277, 25593, 22194, 28839, 22692, 21909, 30945, 25281, 21687, 26913, 32040, 22350, 28035, 17250, 23214, 29373}},
		{42749182, 1670016637, []uint16{31247, 22985, 17756, 31616, 23609, 17354, 20213, 25118, 25334, 25913, 17261, 27293, 18434, 23912, 19679, 22766}},
	} {
		if got := Seed(tc.bucket); got != tc.seed {
			t.Errorf("Seed(%d) = %d, want %d", tc.bucket, got, tc.seed)
		}
		if got := Ports(tc.bucket, 16); !slices.Equal(got, tc.ports) {
			t.Errorf("Ports(%d, 16) = %v, want %v", tc.bucket, got, tc.ports)
		}
	}
}

// TestPortsProperties checks, over many buckets, that the ports are
// distinct, within range, a prefix of a longer list, and that buckets up
// to two apart never share a port.
func TestPortsProperties(t *testing.T) {
	for b := int64(-50); b < 5000; b += 7 {
		ps := Ports(b, 64)
		if !slices.Equal(Ports(b, 16), ps[:16]) {
			t.Fatalf("bucket %d: 16 ports are not the first 16 of 64", b)
		}
		seen := map[uint16]bool{}
		for _, p := range ps {
			if p < MinPort || p > MaxPort || seen[p] {
				t.Fatalf("bucket %d: port %d out of range or repeated in %v", b, p, ps)
			}
			seen[p] = true
		}
		for d := int64(1); d <= 2; d++ {
			for _, p := range Ports(b+d, 64) {
				if seen[p] {
					t.Fatalf("buckets %d and %d share port %d", b, b+d, p)
				}
			}
		}
	}
	if n := len(Ports(1, MaxPorts+10)); n != MaxPorts {
		t.Errorf("Ports(1, MaxPorts+10) gave %d ports, want %d", n, MaxPorts)
	}
}

// TestKeyVector checks the derived key against docs/det.md, and that it
// does not depend on which side computes it.
func TestKeyVector(t *testing.T) {
	for _, tc := range []struct {
		bucket int64
		a, b   string
		key    string
	}{
		{42749182, "203.0.113.18", "203.0.113.10", "det-4905e49fdec27cdf3db5be2e8221a4ed"},
		{-1, "2001:db8::1", "2001:db8::2", "det-692269d240d3784885659b5d192e1547"},
	} {
		a, b := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
		if got := Key(tc.bucket, a, b); got != tc.key {
			t.Errorf("Key(%d, %v, %v) = %s, want %s", tc.bucket, a, b, got, tc.key)
		}
		if Key(tc.bucket, b, a) != Key(tc.bucket, a, b) {
			t.Errorf("Key depends on the order of the IPs")
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		Ports(int64(i), DefaultPorts)
	}
}
