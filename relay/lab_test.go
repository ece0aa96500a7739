package relay

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// TestLabSymmetric relays between two hosts behind symmetric NATs (a new
// public port per destination, filtering by address and port: no hole
// punching gets through two of them) through a relay on the lab's server
// host, over real kernel NATs, IPv4 and IPv6: a QUIC tunnel between two
// allocations, and between an allocation and a plain socket.
func TestLabSymmetric(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{
		{Name: "natA", NAT: natlab.Symmetric},
		{Name: "natB", NAT: natlab.Symmetric},
	}})
	server := labtest.Node(t, lab, "server")
	hostA, hostB := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "b")
	data := make([]byte, size(8<<20))
	rand.Read(data)
	for _, is4 := range []bool{true, false} {
		t.Run(fmt.Sprintf("ipv%d", map[bool]int{true: 4, false: 6}[is4]), func(t *testing.T) {
			s := labServer(t, server, is4)
			t.Run("relay-to-relay", func(t *testing.T) {
				ra := labAllocate(t, s, hostA, is4, "a")
				rb := labAllocate(t, s, hostB, is4, "b")
				permit(t, ra, rb.RelayedAddr())
				permit(t, rb, ra.RelayedAddr())
				a, b := tunnelOver(t, ra, rb, rb.RelayedAddr())
				transfer(t, a, b, data)
				transfer(t, b, a, data[:len(data)/8])
			})
			t.Run("plain-to-relay", func(t *testing.T) {
				ra := labAllocate(t, s, hostA, is4, "a")
				pb := labSocket(t, hostB, is4)
				// The rendezvous server tells A the IP B comes from;
				// TURN permissions are per IP, so the port B's NAT
				// picks for the relay does not matter.
				permit(t, ra, netip.AddrPortFrom(hostB.PublicAddr(is4), 9))
				b, a := tunnelOver(t, pb, ra, ra.RelayedAddr())
				transfer(t, b, a, data)
				transfer(t, a, b, data[:len(data)/8])
			})
		})
	}
}

// labServer runs a relay on the server host's first address of the
// family, port DefaultPort, with its relayed sockets in the server's
// namespace; it is closed at cleanup.
func labServer(tb testing.TB, server *natlab.Node, is4 bool) *Server {
	tb.Helper()
	listen := func(network, address string) (pc net.PacketConn, err error) {
		err = server.Do(func() (err error) { pc, err = net.ListenPacket(network, address); return err })
		return pc, err
	}
	network := map[bool]string{true: "udp4", false: "udp6"}[is4]
	pc, err := listen(network, netip.AddrPortFrom(server.Addr(is4), DefaultPort).String())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewServer(pc, &ServerConfig{ListenPacket: listen})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// labSocket opens a UDP socket on host, closed at cleanup.
func labSocket(tb testing.TB, host *natlab.Node, is4 bool) net.PacketConn {
	tb.Helper()
	var pc net.PacketConn
	err := host.Do(func() (err error) {
		pc, err = net.ListenPacket(map[bool]string{true: "udp4", false: "udp6"}[is4], netip.AddrPortFrom(host.Addr(is4), 0).String())
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	return pc
}

// labAllocate allocates on s from a new socket on host; the Conn is
// closed at cleanup.
func labAllocate(tb testing.TB, s *Server, host *natlab.Node, is4 bool, id string) *Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Allocate(ctx, labSocket(tb, host, is4), s.Addr(), s.Issuer().Issue(id), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if got := c.RelayedAddr().Addr(); got != s.Addr().Addr() {
		tb.Errorf("relayed address %v, want the relay's %v", c.RelayedAddr(), s.Addr().Addr())
	}
	return c
}
