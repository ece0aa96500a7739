package stunserver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/netaddr"
)

// changeRequest is a Setter for CHANGE-REQUEST with the given flags.
type changeRequest uint32

func (c changeRequest) AddTo(m *stun.Message) error {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(c))
	m.Add(stun.AttrChangeRequest, v[:])
	return nil
}

// rawAttr is a Setter for an arbitrary attribute.
type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (a rawAttr) AddTo(m *stun.Message) error {
	m.Add(a.t, a.v)
	return nil
}

// newRequest builds a Binding request with a fresh transaction ID, the
// given attributes and FINGERPRINT.
func newRequest(tb testing.TB, setters ...stun.Setter) *stun.Message {
	tb.Helper()
	all := append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)
	all = append(all, stun.Fingerprint)
	m, err := stun.Build(all...)
	if err != nil {
		tb.Fatalf("build request: %v", err)
	}
	return m
}

// classicRequest builds an RFC 3489 Binding request (no magic cookie, a
// 128-bit transaction ID) with optional CHANGE-REQUEST flags.
func classicRequest(tid [16]byte, flags ...uint32) []byte {
	b := make([]byte, headerSize, headerSize+8)
	binary.BigEndian.PutUint16(b[0:2], 0x0001)
	copy(b[4:], tid[:])
	for _, f := range flags {
		b = binary.BigEndian.AppendUint16(b, uint16(stun.AttrChangeRequest))
		b = binary.BigEndian.AppendUint16(b, 4)
		b = binary.BigEndian.AppendUint32(b, f)
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-headerSize))
	return b
}

// decodeResponse decodes a response, classic or not, with pion. For a
// classic response it patches in the magic cookie first, as pion needs.
func decodeResponse(tb testing.TB, b []byte) *stun.Message {
	tb.Helper()
	raw := append([]byte(nil), b...)
	if len(raw) >= 8 {
		binary.BigEndian.PutUint32(raw[4:8], magicCookie)
	}
	m := new(stun.Message)
	if err := stun.Decode(raw, m); err != nil {
		tb.Fatalf("decode response: %v", err)
	}
	return m
}

// newTestServer returns a Server closed at the end of the test.
func newTestServer(tb testing.TB, cfg *Config) *Server {
	tb.Helper()
	s := New(cfg)
	tb.Cleanup(func() { s.Close() })
	return s
}

// serve runs serve in a goroutine until the test ends, then cancels it and
// checks it stopped the way it should.
func serve(tb testing.TB, serve func(ctx context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrServerClosed) {
				tb.Errorf("serve returned %v, want context.Canceled or ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			tb.Errorf("serve did not return after cancel")
		}
	})
}

// listenUDP opens a UDP socket on addr ("127.0.0.1:0"), closed at the end
// of the test unless served.
func listenUDP(tb testing.TB, addr string) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		tb.Skipf("cannot open UDP socket on %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// localAddr is the local address of a socket.
func localAddr(tb testing.TB, c interface{ LocalAddr() net.Addr }) netip.AddrPort {
	tb.Helper()
	ap, ok := netaddr.AddrPort(c.LocalAddr())
	if !ok {
		tb.Fatalf("bad local address %v", c.LocalAddr())
	}
	return ap
}

// openGrid opens four UDP sockets on ip1 and ip2 by two ports that are
// free on both, indexed by role.
func openGrid(tb testing.TB, ip1, ip2 string) [4]*net.UDPConn {
	tb.Helper()
	for range 50 {
		var g [4]*net.UDPConn
		g[RolePrimary] = listenUDP(tb, ip1+":0")
		g[RoleAltPort] = listenUDP(tb, ip1+":0")
		p1 := localAddr(tb, g[RolePrimary]).Port()
		p2 := localAddr(tb, g[RoleAltPort]).Port()
		var err1, err2 error
		g[RoleAltIP], err1 = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip2), p1)))
		g[RoleAltIPPort], err2 = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip2), p2)))
		if err1 == nil && err2 == nil {
			tb.Cleanup(func() { g[RoleAltIP].Close(); g[RoleAltIPPort].Close() })
			return g
		}
		for _, c := range g {
			if c != nil {
				c.Close()
			}
		}
		if err1 != nil && !errors.Is(err1, syscall.EADDRINUSE) {
			tb.Skipf("cannot bind %s: %v", ip2, err1)
		}
	}
	tb.Fatalf("no port pair free on both %s and %s", ip1, ip2)
	return [4]*net.UDPConn{}
}

// serveGrid serves the four sockets of g as one RFC 5780 group and returns
// their addresses by role.
func serveGrid(tb testing.TB, s *Server, g [4]*net.UDPConn) [4]netip.AddrPort {
	tb.Helper()
	var addrs [4]netip.AddrPort
	socks := make([]UDPSocket, 4)
	for r, c := range g {
		addrs[r] = localAddr(tb, c)
		socks[r] = UDPSocket{Conn: c, Role: Role(r)}
	}
	serve(tb, func(ctx context.Context) error { return s.ServeUDP(ctx, socks...) })
	return addrs
}

// exchange sends req to server from c and returns the first response with
// the same transaction ID and the address it came from.
func exchange(tb testing.TB, c *net.UDPConn, server netip.AddrPort, req []byte) ([]byte, netip.AddrPort) {
	tb.Helper()
	if _, err := c.WriteToUDPAddrPort(req, server); err != nil {
		tb.Fatalf("send: %v", err)
	}
	return receive(tb, c, req, 3*time.Second)
}

// receive waits up to d for a response to req on c; it fails the test on
// timeout.
func receive(tb testing.TB, c *net.UDPConn, req []byte, d time.Duration) ([]byte, netip.AddrPort) {
	tb.Helper()
	resp, from, err := tryReceive(c, req, d)
	if err != nil {
		tb.Fatalf("no response: %v", err)
	}
	return resp, from
}

// tryReceive waits up to d for a response to req on c, skipping messages
// for other transactions.
func tryReceive(c *net.UDPConn, req []byte, d time.Duration) ([]byte, netip.AddrPort, error) {
	buf := make([]byte, 2048)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, netip.AddrPort{}, err
	}
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil, from, err
		}
		if n >= headerSize && string(buf[4:headerSize]) == string(req[4:headerSize]) {
			return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
		}
	}
}

// addrOf reads an address attribute of m; ok is false when it is absent.
func addrOf(tb testing.TB, m *stun.Message, t stun.AttrType) (netip.AddrPort, bool) {
	tb.Helper()
	if _, err := m.Get(t); err != nil {
		return netip.AddrPort{}, false
	}
	var (
		ip   net.IP
		port int
	)
	if t == stun.AttrXORMappedAddress {
		var a stun.XORMappedAddress
		if err := a.GetFrom(m); err != nil {
			tb.Fatalf("get %v: %v", t, err)
		}
		ip, port = a.IP, a.Port
	} else {
		var a stun.MappedAddress
		if err := a.GetFromAs(m, t); err != nil {
			tb.Fatalf("get %v: %v", t, err)
		}
		ip, port = a.IP, a.Port
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		tb.Fatalf("%v: bad IP %v", t, ip)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}

// wantAddr checks an address attribute; want the zero AddrPort for absent.
func wantAddr(tb testing.TB, m *stun.Message, t stun.AttrType, want netip.AddrPort) {
	tb.Helper()
	got, ok := addrOf(tb, m, t)
	switch {
	case !want.IsValid() && ok:
		tb.Errorf("%v = %v, want none", t, got)
	case want.IsValid() && got != want:
		tb.Errorf("%v = %v, want %v", t, got, want)
	}
}

// wantSuccess checks the parts of a success response every client gets:
// type, transaction ID, SOFTWARE and FINGERPRINT.
func wantSuccess(tb testing.TB, m *stun.Message, req *stun.Message) {
	tb.Helper()
	if m.Type != stun.BindingSuccess {
		tb.Fatalf("type %v, want %v", m.Type, stun.BindingSuccess)
	}
	if m.TransactionID != req.TransactionID {
		tb.Errorf("transaction ID %x, want %x", m.TransactionID, req.TransactionID)
	}
	var sw stun.Software
	if err := sw.GetFrom(m); err != nil || sw.String() != DefaultSoftware {
		tb.Errorf("SOFTWARE = %q, %v; want %q", sw, err, DefaultSoftware)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		tb.Errorf("FINGERPRINT: %v", err)
	}
}

// wantUnknown checks a 420 response listing the given attribute types.
func wantUnknown(tb testing.TB, m *stun.Message, types ...stun.AttrType) {
	tb.Helper()
	if m.Type != stun.BindingError {
		tb.Fatalf("type %v, want %v", m.Type, stun.BindingError)
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil || code.Code != stun.CodeUnknownAttribute {
		tb.Errorf("ERROR-CODE = %v, %v; want 420", code, err)
	}
	var ua stun.UnknownAttributes
	if err := ua.GetFrom(m); err != nil {
		tb.Fatalf("UNKNOWN-ATTRIBUTES: %v", err)
	}
	if ua.String() != stun.UnknownAttributes(types).String() {
		tb.Errorf("UNKNOWN-ATTRIBUTES = %v, want %v", ua, stun.UnknownAttributes(types))
	}
}
