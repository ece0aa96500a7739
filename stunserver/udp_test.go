package stunserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestRFC5780Grid sends a request to each of the four sockets of an RFC
// 5780 server with each CHANGE-REQUEST, and checks every attribute of the
// response and the address it really came from (RFC 5780 table 1).
func TestRFC5780Grid(t *testing.T) {
	s := newTestServer(t, nil)
	addrs := serveGrid(t, s, openGrid(t, "127.0.0.1", "127.0.0.2"))
	client := listenUDP(t, "127.0.0.1:0")
	me := localAddr(t, client)

	flagCases := []struct {
		name   string
		flags  []uint32 // none: no CHANGE-REQUEST at all
		change Role
	}{
		{"no-attribute", nil, 0},
		{"no-flags", []uint32{0}, 0},
		{"change-ip", []uint32{changeIP}, RoleAltIP},
		{"change-port", []uint32{changePort}, RoleAltPort},
		{"change-both", []uint32{changeIP | changePort}, RoleAltIPPort},
		{"other-bits-ignored", []uint32{0xfffffff9}, 0},
	}
	for to := RolePrimary; to <= RoleAltIPPort; to++ {
		for _, fc := range flagCases {
			t.Run(fmt.Sprintf("%v/%s", to, fc.name), func(t *testing.T) {
				var setters []stun.Setter
				for _, f := range fc.flags {
					setters = append(setters, changeRequest(f))
				}
				req := newRequest(t, setters...)
				raw, from := exchange(t, client, addrs[to], req.Raw)
				resp := decodeResponse(t, raw)
				wantSuccess(t, resp, req)
				wantFrom := addrs[to^fc.change]
				if from != wantFrom {
					t.Errorf("response came from %v, want %v", from, wantFrom)
				}
				wantAddr(t, resp, stun.AttrXORMappedAddress, me)
				wantAddr(t, resp, stun.AttrMappedAddress, me)
				wantAddr(t, resp, stun.AttrResponseOrigin, wantFrom)
				wantAddr(t, resp, stun.AttrOtherAddress, addrs[to^RoleAltIPPort])
				if len(raw) > len(req.Raw)+s.MaxGrowth() {
					t.Errorf("response of %d bytes to a request of %d: amplification", len(raw), len(req.Raw))
				}
			})
		}
	}
}

// TestSingleSocket checks a plain server of one socket, IPv4 and IPv6: no
// OTHER-ADDRESS, and a 420 for a CHANGE-REQUEST it cannot honour.
func TestSingleSocket(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "[::1]"} {
		t.Run(ip, func(t *testing.T) {
			s := newTestServer(t, &Config{Software: "test server"})
			sock := listenUDP(t, ip+":0")
			server := localAddr(t, sock)
			serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: sock}) })
			client := listenUDP(t, ip+":0")
			me := localAddr(t, client)

			tests := []struct {
				name    string
				setters []stun.Setter
				unknown []stun.AttrType // nil: success expected
			}{
				{"plain", nil, nil},
				{"no-flags", []stun.Setter{changeRequest(0)}, nil},
				{"change-ip", []stun.Setter{changeRequest(changeIP)}, []stun.AttrType{stun.AttrChangeRequest}},
				{"change-port", []stun.Setter{changeRequest(changePort)}, []stun.AttrType{stun.AttrChangeRequest}},
				{"ice-check", []stun.Setter{
					stun.NewUsername("a:b"), rawAttr{stun.AttrPriority, []byte{1, 2, 3, 4}},
					rawAttr{stun.AttrUseCandidate, nil}, rawAttr{stun.AttrICEControlling, make([]byte, 8)},
					stun.NewShortTermIntegrity("pass"),
				}, nil},
				{"padding", []stun.Setter{rawAttr{stun.AttrPadding, make([]byte, 64)}}, []stun.AttrType{stun.AttrPadding}},
				{"response-port", []stun.Setter{rawAttr{stun.AttrResponsePort, []byte{0x10, 0, 0, 0}}}, []stun.AttrType{stun.AttrResponsePort}},
				{"two-unknown", []stun.Setter{rawAttr{0x7001, []byte{1}}, rawAttr{0x8f00, []byte{2}}, rawAttr{0x0002, make([]byte, 8)}},
					[]stun.AttrType{0x7001, 0x0002}},
				{"unknown-and-change", []stun.Setter{rawAttr{0x7001, nil}, changeRequest(changeIP)},
					[]stun.AttrType{0x7001, stun.AttrChangeRequest}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req := newRequest(t, tt.setters...)
					raw, from := exchange(t, client, server, req.Raw)
					if from != server {
						t.Errorf("response came from %v, want %v", from, server)
					}
					resp := decodeResponse(t, raw)
					if err := stun.Fingerprint.Check(resp); err != nil {
						t.Errorf("FINGERPRINT: %v", err)
					}
					if len(raw) > len(req.Raw)+s.MaxGrowth() {
						t.Errorf("response of %d bytes to a request of %d: amplification", len(raw), len(req.Raw))
					}
					if tt.unknown != nil {
						wantUnknown(t, resp, tt.unknown...)
						return
					}
					if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
						t.Fatalf("got %v, want success to the request", resp)
					}
					var sw stun.Software
					if err := sw.GetFrom(resp); err != nil || sw.String() != "test server" {
						t.Errorf("SOFTWARE = %q, %v", sw, err)
					}
					wantAddr(t, resp, stun.AttrXORMappedAddress, me)
					wantAddr(t, resp, stun.AttrMappedAddress, me)
					wantAddr(t, resp, stun.AttrResponseOrigin, server)
					wantAddr(t, resp, stun.AttrOtherAddress, netip.AddrPort{})
				})
			}
		})
	}
}

// TestClassicClient checks that an RFC 3489 client (no magic cookie) gets
// MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS, its whole 128-bit
// transaction ID back, and CHANGE-REQUEST honoured.
func TestClassicClient(t *testing.T) {
	s := newTestServer(t, &Config{OmitSoftware: true})
	addrs := serveGrid(t, s, openGrid(t, "127.0.0.1", "127.0.0.2"))
	client := listenUDP(t, "127.0.0.1:0")
	me := localAddr(t, client)

	tests := []struct {
		name   string
		flags  []uint32
		change Role
	}{
		{"test-I", nil, 0},
		{"test-I-zero-flags", []uint32{0}, 0},
		{"test-II-change-both", []uint32{changeIP | changePort}, RoleAltIPPort},
		{"test-III-change-port", []uint32{changePort}, RoleAltPort},
		{"change-ip", []uint32{changeIP}, RoleAltIP},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tid := [16]byte{0xde, 0xad, 0xbe, byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			req := classicRequest(tid, tt.flags...)
			raw, from := exchange(t, client, addrs[RolePrimary], req)
			if want := addrs[tt.change]; from != want {
				t.Errorf("response came from %v, want %v", from, want)
			}
			if binary.BigEndian.Uint16(raw[0:2]) != 0x0101 {
				t.Fatalf("type %#04x, want 0x0101", raw[0:2])
			}
			if string(raw[4:20]) != string(tid[:]) {
				t.Errorf("transaction ID %x, want %x", raw[4:20], tid)
			}
			resp := decodeResponse(t, raw)
			wantAddr(t, resp, stun.AttrMappedAddress, me)
			wantAddr(t, resp, stun.AttrSourceAddress, addrs[tt.change])
			wantAddr(t, resp, stun.AttrChangedAddress, addrs[RoleAltIPPort])
			for _, absent := range []stun.AttrType{stun.AttrXORMappedAddress, stun.AttrFingerprint, stun.AttrSoftware, stun.AttrResponseOrigin, stun.AttrOtherAddress} {
				if resp.Contains(absent) {
					t.Errorf("classic response has %v", absent)
				}
			}
		})
	}
}

// garbage is a table of messages that must get no reply at all.
func garbage(tb testing.TB) []struct {
	name string
	pkt  []byte
} {
	tb.Helper()
	good := newRequest(tb).Raw
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	resp := newRequest(tb)
	resp.SetType(stun.BindingSuccess)
	resp.Encode()
	build := func(t stun.MessageType, setters ...stun.Setter) []byte {
		m, err := stun.Build(append([]stun.Setter{stun.TransactionID, t}, setters...)...)
		if err != nil {
			tb.Fatal(err)
		}
		return m.Raw
	}
	return []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"one-byte", []byte{0}},
		{"short-header", good[:19]},
		{"header-only-truncated", good[:20]},
		{"truncated", good[:len(good)-4]},
		{"trailing-bytes", append(append([]byte(nil), good...), 0, 0, 0, 0)},
		{"length-not-multiple-of-4", with(func(b []byte) []byte { b[3]++; return append(b, 0) })},
		{"top-bits-set", with(func(b []byte) []byte { b[0] |= 0xC0; return b })},
		{"bad-fingerprint", with(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"fingerprint-not-last", build(stun.BindingRequest, stun.Fingerprint, stun.NewSoftware("x"))},
		{"success-response", build(stun.BindingSuccess, stun.Fingerprint)},
		{"error-response", build(stun.BindingError, stun.CodeUnknownAttribute, stun.Fingerprint)},
		{"binding-indication", build(stun.NewType(stun.MethodBinding, stun.ClassIndication))},
		{"allocate-request", build(stun.NewType(stun.MethodAllocate, stun.ClassRequest), stun.Fingerprint)},
		{"bad-change-request-size", build(stun.BindingRequest, rawAttr{stun.AttrChangeRequest, []byte{0, 0, 6}})},
		{"attribute-overruns", with(func(b []byte) []byte { b[headerSize+3] = 0xff; return b })},
		{"classic-response", func() []byte { b := classicRequest([16]byte{1}); b[1] = 0x01; b[0] = 0x01; return b }()},
		{"http", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")},
		{"dns-like", []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}},
		{"zeros-1400", make([]byte, 1400)},
		{"oversized", with(func(b []byte) []byte {
			b = append(b[:headerSize], make([]byte, 1600)...)
			binary.BigEndian.PutUint16(b[2:4], 1600)
			return b
		})},
	}
}

// TestGarbageDropped sends each bad message followed by a good request and
// checks that the first thing to come back answers the good one.
func TestGarbageDropped(t *testing.T) {
	s := newTestServer(t, nil)
	sock := listenUDP(t, "127.0.0.1:0")
	server := localAddr(t, sock)
	serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: sock}) })
	client := listenUDP(t, "127.0.0.1:0")

	for _, tt := range garbage(t) {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.WriteToUDPAddrPort(tt.pkt, server); err != nil {
				t.Fatal(err)
			}
			good := newRequest(t)
			if _, err := client.WriteToUDPAddrPort(good.Raw, server); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			client.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, _, err := client.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no answer to the good request: %v", err)
			}
			if string(buf[8:20]) != string(good.Raw[8:20]) {
				t.Fatalf("got a reply to the bad message: % x", buf[:n])
			}
		})
	}
}

// TestDualStackSocket checks that a socket bound to :: answers IPv4 clients
// with their IPv4 address (not an IPv4-mapped IPv6 one) and, not knowing
// which address was reached, without RESPONSE-ORIGIN.
func TestDualStackSocket(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	s := newTestServer(t, nil)
	port := localAddr(t, pc).Port()
	serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: pc}) })
	client := listenUDP(t, "127.0.0.1:0")
	req := newRequest(t)
	raw, _ := exchange(t, client, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), req.Raw)
	resp := decodeResponse(t, raw)
	wantSuccess(t, resp, req)
	wantAddr(t, resp, stun.AttrXORMappedAddress, localAddr(t, client))
	if resp.Contains(stun.AttrResponseOrigin) {
		t.Errorf("RESPONSE-ORIGIN from a wildcard socket")
	}
}

// TestBadGroup checks that ServeUDP refuses sockets that are not a group,
// and closes them.
func TestBadGroup(t *testing.T) {
	g := openGrid(t, "127.0.0.1", "127.0.0.2")
	other := listenUDP(t, "127.0.0.1:0")
	tests := []struct {
		name  string
		socks []UDPSocket
	}{
		{"none", nil},
		{"nil-conn", []UDPSocket{{}}},
		{"bad-role", []UDPSocket{{Conn: g[0], Role: 4}}},
		{"duplicate-role", []UDPSocket{{Conn: g[0]}, {Conn: g[1]}}},
		{"ports-swapped", []UDPSocket{{g[0], RolePrimary}, {g[1], RoleAltPort}, {g[3], RoleAltIP}, {g[2], RoleAltIPPort}}},
		{"ips-swapped", []UDPSocket{{g[0], RolePrimary}, {g[2], RoleAltPort}, {g[1], RoleAltIP}, {g[3], RoleAltIPPort}}},
		{"one-ip", []UDPSocket{{g[0], RolePrimary}, {g[1], RoleAltPort}, {other, RoleAltIP}, {g[3], RoleAltIPPort}}},
	}
	s := newTestServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ServeUDP(context.Background(), tt.socks...)
			if !errors.Is(err, ErrBadGroup) {
				t.Errorf("ServeUDP = %v, want ErrBadGroup", err)
			}
		})
	}
	if _, err := g[0].WriteToUDPAddrPort([]byte{0}, localAddr(t, other)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket of a refused group still open: write error %v", err)
	}
}

// TestServeAfterClose checks that a closed server serves nothing.
func TestServeAfterClose(t *testing.T) {
	s := New(nil)
	s.Close()
	sock := listenUDP(t, "127.0.0.1:0")
	if err := s.ServeUDP(context.Background(), UDPSocket{Conn: sock}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeUDP after Close = %v, want ErrServerClosed", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ServeTCP(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeTCP after Close = %v, want ErrServerClosed", err)
	}
}

// TestNonUDPConn serves a net.PacketConn that is not a *net.UDPConn, the
// slow path.
func TestNonUDPConn(t *testing.T) {
	s := newTestServer(t, nil)
	sock := listenUDP(t, "127.0.0.1:0")
	server := localAddr(t, sock)
	serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: wrapped{sock}}) })
	client := listenUDP(t, "127.0.0.1:0")
	req := newRequest(t)
	raw, _ := exchange(t, client, server, req.Raw)
	resp := decodeResponse(t, raw)
	wantSuccess(t, resp, req)
	wantAddr(t, resp, stun.AttrXORMappedAddress, localAddr(t, client))
	wantAddr(t, resp, stun.AttrResponseOrigin, server)
}

// wrapped hides the *net.UDPConn type of a socket.
type wrapped struct{ net.PacketConn }
