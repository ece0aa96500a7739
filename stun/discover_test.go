package stun

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// testConfig keeps the tests fast: silence is taken as an answer after
// 300 ms.
func testConfig(t testing.TB) *Config {
	return &Config{RTO: 20 * time.Millisecond, Timeout: 300 * time.Millisecond}
}

func TestDiscoverBehaviours(t *testing.T) {
	t.Parallel()
	mappings := []Mapping{EndpointIndependentMapping, AddressDependentMapping, AddressAndPortDependentMapping}
	filterings := []Filtering{EndpointIndependentFiltering, AddressDependentFiltering, AddressAndPortDependentFiltering}
	classes := map[Filtering]Class{
		EndpointIndependentFiltering:     ClassNAT1,
		AddressDependentFiltering:        ClassNAT2,
		AddressAndPortDependentFiltering: ClassNAT3,
	}
	for _, m := range mappings {
		for _, f := range filterings {
			want := classes[f]
			if m != EndpointIndependentMapping {
				want = ClassNAT4
			}
			t.Run(string(m)+"/"+string(f), func(t *testing.T) {
				t.Parallel()
				pc := listenUDP(t, "127.0.0.1:0")
				s := newFakeServer(t, pc, fakeOpts{mapping: m, filtering: f})
				r, err := Discover(context.Background(), pc, s.primary(), testConfig(t))
				if err != nil {
					t.Fatalf("Discover: %v", err)
				}
				if r.Mapping != m || r.Filtering != f || r.Class != want {
					t.Errorf("got mapping %s, filtering %s, class %s; want %s, %s, %s\n%+v",
						r.Mapping, r.Filtering, r.Class, m, f, want, r.Probes)
				}
				if !r.NAT || r.Public != s.publicAddr() || r.Other != s.other() || len(r.Skipped) != 0 {
					t.Errorf("got nat %v public %s other %s skipped %v; want true %s %s none",
						r.NAT, r.Public, r.Other, r.Skipped, s.publicAddr(), s.other())
				}
			})
		}
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		local string
		opts  fakeOpts
		want  Report // the fields compared: NAT, Mapping, Filtering, PortPreserving, Hairpin, Class, Skipped
		err   error
	}{
		{
			name: "open", local: "127.0.0.1:0",
			want: Report{NAT: false, Mapping: EndpointIndependentMapping, Filtering: EndpointIndependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassOpen},
		},
		{
			name: "open, unspecified local address", local: "0.0.0.0:0",
			want: Report{NAT: false, Mapping: EndpointIndependentMapping, Filtering: EndpointIndependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassOpen},
		},
		{
			// A dual-stack socket on a host with two IPv6 addresses: the
			// source address, and so the "mapping", changes with the
			// destination, yet each is a local address: no NAT.
			name: "open, unspecified dual-stack local address", local: "[::]:0",
			want: Report{NAT: false, Mapping: AddressDependentMapping, Filtering: EndpointIndependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassOpen},
		},
		{
			name: "firewall", local: "127.0.0.1:0",
			opts: fakeOpts{filtering: AddressAndPortDependentFiltering},
			want: Report{NAT: false, Mapping: EndpointIndependentMapping, Filtering: AddressAndPortDependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassFirewall},
		},
		{
			name: "port preservation and hairpin", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressAndPortDependentFiltering,
				preservePort: true, hairpin: true},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: AddressAndPortDependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassNAT3},
		},
		{
			name: "no port preservation, no hairpin", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressAndPortDependentFiltering},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: AddressAndPortDependentFiltering,
				PortPreserving: false, Hairpin: false, Class: ClassNAT3},
		},
		{
			name: "symmetric with hairpin", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: AddressAndPortDependentMapping, filtering: AddressAndPortDependentFiltering,
				preservePort: true, hairpin: true},
			want: Report{NAT: true, Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassNAT4},
		},
		{
			name: "legacy MAPPED-ADDRESS", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressDependentFiltering, legacy: true},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: AddressDependentFiltering,
				Class: ClassNAT2},
		},
		{
			name: "retransmissions", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, dropFirst: 2},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: EndpointIndependentFiltering,
				Class: ClassNAT1},
		},
		{
			name: "stray packets", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressDependentFiltering, strays: true},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: AddressDependentFiltering,
				Class: ClassNAT2},
		},
		{
			name: "no RFC 5780", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, preservePort: true, hairpin: true, noOther: true},
			want: Report{NAT: true, Mapping: MappingUnknown, Filtering: FilteringUnknown,
				PortPreserving: true, Hairpin: true, Class: ClassUnknown, Skipped: []string{"mapping", "filtering"}},
			err: ErrNoRFC5780,
		},
		{
			name: "server ignores CHANGE-REQUEST", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, ignoreChange: true},
			want: Report{NAT: true, Mapping: EndpointIndependentMapping, Filtering: FilteringUnknown,
				Class: ClassUnknown, Skipped: []string{"filtering"}},
			err: ErrIncomplete,
		},
		{
			name: "server rejects CHANGE-REQUEST", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: AddressDependentMapping, rejectChange: true},
			want: Report{NAT: true, Mapping: AddressDependentMapping, Filtering: FilteringUnknown,
				Class: ClassNAT4, Skipped: []string{"filtering"}},
			err: ErrErrorResponse,
		},
		{
			name: "alternate address silent", local: "127.0.0.1:0",
			opts: fakeOpts{mapping: EndpointIndependentMapping, silentAlt: true},
			want: Report{NAT: true, Mapping: MappingUnknown, Filtering: EndpointIndependentFiltering,
				Class: ClassUnknown, Skipped: []string{"mapping"}},
			err: ErrIncomplete,
		},
		{
			name: "IPv6", local: "[::1]:0",
			opts: fakeOpts{mapping: AddressDependentMapping, filtering: AddressDependentFiltering, hairpin: true},
			want: Report{NAT: true, Mapping: AddressDependentMapping, Filtering: AddressDependentFiltering,
				Hairpin: true, Class: ClassNAT4},
		},
		{
			name: "IPv6 open", local: "[::1]:0",
			want: Report{NAT: false, Mapping: EndpointIndependentMapping, Filtering: EndpointIndependentFiltering,
				PortPreserving: true, Hairpin: true, Class: ClassOpen},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc := listenUDP(t, tt.local)
			s := newFakeServer(t, pc, tt.opts)
			r, err := Discover(context.Background(), pc, s.primary(), testConfig(t))
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Discover error %v, want %v", err, tt.err)
			}
			if tt.err != nil && !errors.Is(err, ErrIncomplete) {
				t.Errorf("error %v does not wrap ErrIncomplete", err)
			}
			if r == nil {
				t.Fatal("no report")
			}
			got := Report{NAT: r.NAT, Mapping: r.Mapping, Filtering: r.Filtering, PortPreserving: r.PortPreserving,
				Hairpin: r.Hairpin, Class: r.Class, Skipped: r.Skipped}
			if !equalReports(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v\nprobes %+v", got, tt.want, r.Probes)
			}
			if r.Public != s.publicAddr() || r.Server != s.primary() || r.Advice != r.Class.Advice() {
				t.Errorf("public %s server %s advice %q; want %s %s %q",
					r.Public, r.Server, r.Advice, s.publicAddr(), s.primary(), r.Class.Advice())
			}
		})
	}
}

func equalReports(a, b Report) bool {
	return a.NAT == b.NAT && a.Mapping == b.Mapping && a.Filtering == b.Filtering &&
		a.PortPreserving == b.PortPreserving && a.Hairpin == b.Hairpin && a.Class == b.Class &&
		slices.Equal(a.Skipped, b.Skipped)
}

func TestDiscoverNoServer(t *testing.T) {
	t.Parallel()
	pc := listenUDP(t, "127.0.0.1:0")
	server := blackhole(t, "127.0.0.1")
	start := time.Now()
	r, err := Discover(context.Background(), pc, server, testConfig(t))
	if !errors.Is(err, ErrNoResponse) || r != nil {
		t.Fatalf("Discover = %v, %v; want nil, ErrNoResponse", r, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v with a 300 ms timeout", d)
	}
}

// TestDiscoverDuration checks the worst case the Config documents: with
// the filtering and hairpin probes all dropped, about 2 x Timeout.
func TestDiscoverDuration(t *testing.T) {
	t.Parallel()
	pc := listenUDP(t, "127.0.0.1:0")
	s := newFakeServer(t, pc, fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressAndPortDependentFiltering})
	cfg := testConfig(t)
	start := time.Now()
	if _, err := Discover(context.Background(), pc, s.primary(), cfg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*cfg.Timeout || d > 4*cfg.Timeout {
		t.Errorf("took %v, want about 2 x %v", d, cfg.Timeout)
	}
}

func TestDiscoverCancel(t *testing.T) {
	t.Parallel()
	pc := listenUDP(t, "127.0.0.1:0")
	s := newFakeServer(t, pc, fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressAndPortDependentFiltering})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Discover(ctx, pc, s.primary(), &Config{Timeout: 5 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Discover error %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancellation took %v", d)
	}
	if r == nil || r.Public != s.publicAddr() {
		t.Errorf("want the partial report with the public address, got %+v", r)
	}
	// The socket's read deadline is cleared: a read blocks until a packet
	// comes.
	go func() { _, _ = pc.WriteTo([]byte("x"), pc.LocalAddr()) }()
	if _, _, err := pc.ReadFrom(make([]byte, 10)); err != nil {
		t.Errorf("socket unusable after Discover: %v", err)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	pc := listenUDP(t, "127.0.0.1:0")
	s := newFakeServer(t, pc, fakeOpts{mapping: EndpointIndependentMapping, filtering: AddressDependentFiltering})
	r, err := Discover(context.Background(), pc, s.primary(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"public":          s.publicAddr().String(),
		"nat":             true,
		"mapping":         "endpoint-independent",
		"filtering":       "address-dependent",
		"port_preserving": false,
		"hairpin":         false,
		"class":           "NAT2",
		"local":           r.Local.String(),
		"server":          s.primary().String(),
		"other":           s.other().String(),
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("JSON %q = %v, want %v", k, m[k], v)
		}
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Public != r.Public || back.Class != r.Class {
		t.Errorf("round trip: %v, %+v", err, back)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		nat  bool
		m    Mapping
		f    Filtering
		want Class
	}{
		{false, EndpointIndependentMapping, EndpointIndependentFiltering, ClassOpen},
		{false, MappingUnknown, AddressDependentFiltering, ClassFirewall},
		{false, EndpointIndependentMapping, AddressAndPortDependentFiltering, ClassFirewall},
		{false, MappingUnknown, FilteringUnknown, ClassUnknown},
		{true, EndpointIndependentMapping, EndpointIndependentFiltering, ClassNAT1},
		{true, EndpointIndependentMapping, AddressDependentFiltering, ClassNAT2},
		{true, EndpointIndependentMapping, AddressAndPortDependentFiltering, ClassNAT3},
		{true, EndpointIndependentMapping, FilteringUnknown, ClassUnknown},
		{true, AddressDependentMapping, EndpointIndependentFiltering, ClassNAT4},
		{true, AddressAndPortDependentMapping, FilteringUnknown, ClassNAT4},
		{true, MappingUnknown, EndpointIndependentFiltering, ClassUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.nat, tt.m, tt.f); got != tt.want {
			t.Errorf("Classify(%v, %s, %s) = %s, want %s", tt.nat, tt.m, tt.f, got, tt.want)
		}
		if tt.want.Advice() == "" || tt.want.Description() == "" {
			t.Errorf("class %s has no advice or description", tt.want)
		}
	}
}

func TestIsLocal(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	tests := []struct {
		public, local netip.AddrPort
		want          bool
	}{
		{ap("127.0.0.1:5000"), ap("127.0.0.1:5000"), true},
		{ap("127.0.0.1:5001"), ap("127.0.0.1:5000"), false},
		{ap("192.0.2.200:5000"), ap("127.0.0.1:5000"), false},
		{ap("127.0.0.1:5000"), ap("0.0.0.0:5000"), true},
		{ap("127.0.0.1:5000"), ap("[::]:5000"), true},
		{ap("[::1]:5000"), ap("[::]:5000"), true},
		{ap("198.51.100.77:5000"), ap("0.0.0.0:5000"), false},
		{ap("127.0.0.1:5000"), netip.AddrPort{}, false},
	}
	for _, tt := range tests {
		if got := isLocal(tt.public, tt.local); got != tt.want {
			t.Errorf("isLocal(%s, %s) = %v, want %v", tt.public, tt.local, got, tt.want)
		}
	}
}
