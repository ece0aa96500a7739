package stunserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestUDPBurst sends many requests from several clients at once, so that
// the server reads and answers them in batches, and checks every answer:
// plain sockets of each family, a dual-stack one, the slow path, and an
// RFC 5780 group that answers every other request from another socket.
func TestUDPBurst(t *testing.T) {
	const (
		clients = 4
		each    = 32
	)
	tests := []struct {
		name   string
		client string
		// open serves a server and returns the address to send to and
		// where the answer to a request with CHANGE-REQUEST flags comes
		// from.
		open   func(t *testing.T, s *Server) (netip.AddrPort, func(flags uint32) netip.AddrPort)
		change bool // every other request asks for a change of port
	}{
		{"ipv4", "127.0.0.1:0", openSingle("127.0.0.1:0", "127.0.0.1", false), false},
		{"ipv6", "[::1]:0", openSingle("[::1]:0", "::1", false), false},
		{"dual-stack-ipv4-client", "127.0.0.1:0", openSingle("[::]:0", "127.0.0.1", false), false},
		{"slow-path", "127.0.0.1:0", openSingle("127.0.0.1:0", "127.0.0.1", true), false},
		{"rfc5780-change-port", "127.0.0.1:0", func(t *testing.T, s *Server) (netip.AddrPort, func(uint32) netip.AddrPort) {
			addrs := serveGrid(t, s, openGrid(t, "127.0.0.1", "127.0.0.2"))
			return addrs[RolePrimary], func(flags uint32) netip.AddrPort {
				if flags&changePort != 0 {
					return addrs[RoleAltPort]
				}
				return addrs[RolePrimary]
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			server, from := tt.open(t, s)
			for c := range clients {
				t.Run(fmt.Sprint("client", c), func(t *testing.T) {
					t.Parallel()
					conn := listenUDP(t, tt.client)
					flags := func(i int) uint32 {
						if tt.change && i%2 == 1 {
							return changePort
						}
						return 0
					}
					burst(t, conn, server, each, flags, from)
				})
			}
		})
	}
}

// openSingle returns a TestUDPBurst opener of a one-socket server bound to
// addr and reached at ip, served through a wrapper that hides its type
// when slow.
func openSingle(addr, ip string, slow bool) func(t *testing.T, s *Server) (netip.AddrPort, func(uint32) netip.AddrPort) {
	return func(t *testing.T, s *Server) (netip.AddrPort, func(uint32) netip.AddrPort) {
		sock := listenUDP(t, addr)
		sock.SetReadBuffer(1 << 20)
		var pc net.PacketConn = sock
		if slow {
			pc = wrapped{sock}
		}
		serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: pc}) })
		server := netip.AddrPortFrom(netip.MustParseAddr(ip), localAddr(t, sock).Port())
		return server, func(uint32) netip.AddrPort { return server }
	}
}

// burst sends n requests from c to server without waiting, the i-th with
// CHANGE-REQUEST flags(i), then checks that each is answered once, with
// c's address, from wantFrom(flags).
func burst(tb testing.TB, c *net.UDPConn, server netip.AddrPort, n int, flags func(i int) uint32, wantFrom func(uint32) netip.AddrPort) {
	tb.Helper()
	me := localAddr(tb, c)
	pending := make(map[[stun.TransactionIDSize]byte]uint32, n)
	for i := range n {
		f := flags(i)
		req := newRequest(tb, changeRequest(f))
		pending[req.TransactionID] = f
		if _, err := c.WriteToUDPAddrPort(req.Raw, server); err != nil {
			tb.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(pending) > 0 {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			tb.Fatalf("%d requests unanswered: %v", len(pending), err)
		}
		resp := decodeResponse(tb, buf[:k])
		f, ok := pending[resp.TransactionID]
		if !ok {
			tb.Fatalf("answer to an unknown or already answered request")
		}
		delete(pending, resp.TransactionID)
		if resp.Type != stun.BindingSuccess {
			tb.Fatalf("type %v, want %v", resp.Type, stun.BindingSuccess)
		}
		wantAddr(tb, resp, stun.AttrXORMappedAddress, me)
		if from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port()); from != wantFrom(f) {
			tb.Errorf("answer came from %v, want %v", from, wantFrom(f))
		}
	}
}

// TestOversizedDatagram checks that a datagram larger than MaxMessageSize
// is dropped even when its first MaxMessageSize bytes are a valid request,
// and that a request of exactly MaxMessageSize bytes is answered, on the
// batched and the slow path.
func TestOversizedDatagram(t *testing.T) {
	for _, slow := range []bool{false, true} {
		t.Run(fmt.Sprint("slow=", slow), func(t *testing.T) {
			s := newTestServer(t, nil)
			server, _ := openSingle("127.0.0.1:0", "127.0.0.1", slow)(t, s)
			client := listenUDP(t, "127.0.0.1:0")
			// 20-byte header, 4+1468-byte optional attribute, 8-byte
			// FINGERPRINT: 1500 bytes.
			fill := rawAttr{0x8030, make([]byte, DefaultMaxMessageSize-headerSize-4-fingerprintAttr)}
			big, exact := newRequest(t, fill), newRequest(t, fill)
			if len(exact.Raw) != DefaultMaxMessageSize {
				t.Fatalf("request of %d bytes, want %d", len(exact.Raw), DefaultMaxMessageSize)
			}
			oversized := append(append([]byte(nil), big.Raw...), make([]byte, 100)...)
			if _, err := client.WriteToUDPAddrPort(oversized, server); err != nil {
				t.Fatal(err)
			}
			if _, err := client.WriteToUDPAddrPort(exact.Raw, server); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			client.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, _, err := client.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no answer to the request of %d bytes: %v", len(exact.Raw), err)
			}
			resp := decodeResponse(t, buf[:n])
			if resp.TransactionID == big.TransactionID {
				t.Fatal("the oversized datagram was answered")
			}
			wantSuccess(t, resp, exact)
		})
	}
}
