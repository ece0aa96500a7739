package stun_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/stunserver"
)

// labWant is what discovery must report behind each lab NAT type.
var labWant = map[natlab.NATType]struct {
	nat       bool
	mapping   stun.Mapping
	filtering stun.Filtering
	preserves bool
	class     stun.Class
}{
	natlab.None:           {false, stun.EndpointIndependentMapping, stun.EndpointIndependentFiltering, true, stun.ClassOpen},
	natlab.FullCone:       {true, stun.EndpointIndependentMapping, stun.EndpointIndependentFiltering, true, stun.ClassNAT1},
	natlab.Restricted:     {true, stun.EndpointIndependentMapping, stun.AddressDependentFiltering, true, stun.ClassNAT2},
	natlab.PortRestricted: {true, stun.EndpointIndependentMapping, stun.AddressAndPortDependentFiltering, true, stun.ClassNAT3},
	natlab.SymmetricSeq:   {true, stun.AddressAndPortDependentMapping, stun.AddressAndPortDependentFiltering, false, stun.ClassNAT4},
	natlab.Symmetric:      {true, stun.AddressAndPortDependentMapping, stun.AddressAndPortDependentFiltering, false, stun.ClassNAT4},
	natlab.Firewall:       {false, stun.EndpointIndependentMapping, stun.AddressAndPortDependentFiltering, true, stun.ClassFirewall},
}

// TestDiscoverLab runs NAT behaviour discovery behind every lab NAT type,
// against the STUN server on the lab's server host, over IPv4 and IPv6.
func TestDiscoverLab(t *testing.T) {
	cfg := natlab.Config{}
	for i, typ := range natlab.NATTypes {
		cfg.Sites = append(cfg.Sites, natlab.Site{Name: fmt.Sprintf("nat%c", 'A'+i), NAT: typ})
	}
	lab := labtest.New(t, cfg)
	server := labtest.Node(t, lab, "server")
	serveSTUN(t, server)
	for _, is4 := range []bool{true, false} {
		for i, typ := range natlab.NATTypes {
			host := labtest.Node(t, lab, fmt.Sprintf("%c", 'a'+i))
			name := fmt.Sprintf("%s/ipv%d", typ, map[bool]int{true: 4, false: 6}[is4])
			t.Run(name, func(t *testing.T) {
				r := discover(t, host, server.Addr(is4), is4)
				want := labWant[typ]
				if r.NAT != want.nat || r.Mapping != want.mapping || r.Filtering != want.filtering ||
					r.PortPreserving != want.preserves || r.Class != want.class {
					t.Errorf("got nat=%v mapping=%s filtering=%s preserving=%v class=%s\nwant nat=%v mapping=%s filtering=%s preserving=%v class=%s",
						r.NAT, r.Mapping, r.Filtering, r.PortPreserving, r.Class,
						want.nat, want.mapping, want.filtering, want.preserves, want.class)
				}
				wantPublic := host.PublicAddr(is4)
				if r.Public.Addr() != wantPublic {
					t.Errorf("public address %v, want %v", r.Public.Addr(), wantPublic)
				}
			})
		}
	}
}

// serveSTUN runs an RFC 5780 STUN server on the lab's server host, on both
// of its addresses of each family, until the test ends.
func serveSTUN(tb testing.TB, server *natlab.Node) {
	tb.Helper()
	var socks *stunserver.Sockets
	err := server.Do(func() (err error) {
		socks, err = stunserver.Listen(context.Background(), &stunserver.ListenConfig{
			IPs:    []netip.Addr{server.Addrs[0], server.Addrs[2]},
			AltIPs: []netip.Addr{server.Addrs[1], server.Addrs[3]},
		})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := stunserver.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, socks); close(done) }()
	tb.Cleanup(func() { cancel(); srv.Close(); <-done })
}

func discover(tb testing.TB, host *natlab.Node, server netip.Addr, is4 bool) *stun.Report {
	tb.Helper()
	var pc net.PacketConn
	err := host.Do(func() (err error) {
		pc, err = net.ListenUDP(map[bool]string{true: "udp4", false: "udp6"}[is4], net.UDPAddrFromAddrPort(netip.AddrPortFrom(host.Addr(is4), 0)))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := stun.Discover(ctx, pc, netip.AddrPortFrom(server, stun.DefaultPort), &stun.Config{Timeout: 500 * time.Millisecond})
	if err != nil {
		tb.Fatalf("discover: %v (report %+v)", err, r)
	}
	return r
}
