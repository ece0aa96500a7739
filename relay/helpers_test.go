package relay

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/internal/testkit"
)

// families are the address families the loopback tests run over.
var families = []struct {
	name    string
	network string
	ip      netip.Addr
}{
	{"ipv4", "udp4", netip.MustParseAddr("127.0.0.1")},
	{"ipv6", "udp6", netip.IPv6Loopback()},
}

// size returns n bytes of test data, scaled down under -race or -short.
func size(n int) int { return testkit.Size(n, 256<<10) }

// listenUDP opens a UDP socket on ip, closed at cleanup; it skips the
// test where the family has no loopback.
func listenUDP(tb testing.TB, network string, ip netip.Addr) *net.UDPConn {
	tb.Helper()
	pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		tb.Skipf("no %s loopback here: %v", network, err)
	}
	tb.Cleanup(func() { pc.Close() })
	return pc
}

// addrOf returns a socket's local address.
func addrOf(pc net.PacketConn) netip.AddrPort {
	ap, _ := netaddr.AddrPort(pc.LocalAddr())
	return ap
}

// newTestServer starts a relay on a loopback socket of network, closed at
// cleanup. cfg may be nil; loopback peers are allowed unless cfg says
// otherwise.
func newTestServer(tb testing.TB, network string, ip netip.Addr, cfg *ServerConfig) *Server {
	tb.Helper()
	if cfg == nil {
		cfg = &ServerConfig{AllowPrivatePeers: true}
	}
	pc := listenUDP(tb, network, ip)
	s, err := NewServer(pc, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// allocate allocates on s with cred from a new socket of s's family; the
// Conn is closed at cleanup.
func allocate(tb testing.TB, s *Server, cred Credentials) *Conn {
	tb.Helper()
	c, err := tryAllocate(tb, s, cred)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// tryAllocate is allocate, returning the error.
func tryAllocate(tb testing.TB, s *Server, cred Credentials) (*Conn, error) {
	tb.Helper()
	network := "udp6"
	if s.Addr().Addr().Is4() {
		network = "udp4"
	}
	pc := listenUDP(tb, network, s.Addr().Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Allocate(ctx, pc, s.Addr(), cred, &ClientConfig{Timeout: 3 * time.Second})
	if err == nil {
		tb.Cleanup(func() { c.Close() })
	}
	return c, err
}

// exchange sends p from a to b's address toAddr, again every 50 ms until
// b receives it (the first datagrams can arrive before the relay grants
// the permissions), and checks what b reads and whom from.
func exchange(tb testing.TB, a net.PacketConn, b net.PacketConn, toB, fromA netip.AddrPort, p []byte) {
	tb.Helper()
	got := make(chan error, 1)
	buf := make([]byte, 2048)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer b.SetReadDeadline(time.Time{})
	go func() {
		for {
			n, from, err := b.ReadFrom(buf)
			if err != nil {
				got <- err
				return
			}
			if ap, _ := netaddr.AddrPort(from); bytes.Equal(buf[:n], p) && ap == fromA {
				got <- nil
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := a.WriteTo(p, net.UDPAddrFromAddrPort(toB)); err != nil {
			tb.Fatalf("write to %v: %v", toB, err)
		}
		select {
		case err := <-got:
			if err != nil {
				tb.Fatalf("%d bytes from %v to %v did not arrive: %v", len(p), fromA, toB, err)
			}
			return
		case <-tick.C:
		}
	}
}

// permit makes c's relay accept datagrams from peer's IP (a TURN
// permission), by sending peer an empty datagram: WriteTo returns once
// the relay has granted it.
func permit(tb testing.TB, c *Conn, peer netip.AddrPort) {
	tb.Helper()
	if _, err := c.WriteTo(nil, net.UDPAddrFromAddrPort(peer)); err != nil {
		tb.Fatalf("permission for %v: %v", peer, err)
	}
}
