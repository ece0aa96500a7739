package stunserver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/rfc5769"
)

// BenchmarkHandle measures the request handler alone: decode, checks and
// the encoded response, for the common kinds of request.
func BenchmarkHandle(b *testing.B) {
	benchmarks := []struct {
		name string
		req  []byte
		v6   bool
	}{
		{"plain", newRequest(b).Raw, false},
		{"plain-ipv6", newRequest(b).Raw, true},
		{"rfc5769", rfc5769.Request, false},
		{"change-request", newRequest(b, changeRequest(changeIP|changePort)).Raw, false},
		{"classic", classicRequest([16]byte{1}, changePort), false},
		{"unknown-420", newRequest(b, rawAttr{stun.AttrPadding, make([]byte, 8)}).Raw, false},
	}
	for _, bb := range benchmarks {
		b.Run(bb.name, func(b *testing.B) {
			s := New(nil)
			defer s.Close()
			w := s.newWorker()
			g := testGrid(bb.v6)
			client := netip.MustParseAddrPort("198.51.100.7:40000")
			if bb.v6 {
				client = netip.MustParseAddrPort("[2001:db8:ffff::7]:40000")
			}
			pkt := make([]byte, len(bb.req))
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.req)))
			for b.Loop() {
				copy(pkt, bb.req)
				if v, _ := s.handle(w, pkt, client, &g, RolePrimary, true); v != verdictReply {
					b.Fatal("no reply")
				}
			}
		})
	}
}

// BenchmarkUDPRoundTrip measures a request and its response over loopback,
// client included.
func BenchmarkUDPRoundTrip(b *testing.B) {
	s := newTestServer(b, nil)
	sock := listenUDP(b, "127.0.0.1:0")
	server := localAddr(b, sock)
	serve(b, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: sock}) })
	client := listenUDP(b, "127.0.0.1:0")
	req := newRequest(b).Raw
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.WriteToUDPAddrPort(req, server); err != nil {
			b.Fatal(err)
		}
		if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}
