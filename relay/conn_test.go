package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// TestExchange passes datagrams both ways, small and large, between a
// relay client and a plain UDP peer, and between two relay clients, over
// IPv4 and IPv6.
func TestExchange(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			s := newTestServer(t, f.network, f.ip, nil)
			iss := s.Issuer()
			a := allocate(t, s, iss.Issue("a"))
			if got := a.RelayedAddr(); got.Addr() != f.ip || got.Port() == 0 || got.Port() == s.Addr().Port() {
				t.Fatalf("relayed address %v, want %v and a port of its own", got, f.ip)
			}
			if la, ok := a.LocalAddr().(*net.UDPAddr); !ok || la.AddrPort() != a.RelayedAddr() {
				t.Errorf("LocalAddr %v, want %v", a.LocalAddr(), a.RelayedAddr())
			}
			small := []byte("hello through the relay")
			large := bytes.Repeat([]byte{0xa5}, 1350)

			t.Run("plain-peer", func(t *testing.T) {
				peer := listenUDP(t, f.network, f.ip)
				for _, p := range [][]byte{small, large} {
					exchange(t, a, peer, addrOf(peer), a.RelayedAddr(), p)
					exchange(t, peer, a, a.RelayedAddr(), addrOf(peer), p)
				}
			})
			t.Run("relay-peer", func(t *testing.T) {
				b := allocate(t, s, iss.Issue("b"))
				// Each writes first: TURN relays only from peers its
				// client has sent to (permissions).
				permit(t, a, b.RelayedAddr())
				permit(t, b, a.RelayedAddr())
				for _, p := range [][]byte{small, large} {
					exchange(t, a, b, b.RelayedAddr(), a.RelayedAddr(), p)
					exchange(t, b, a, a.RelayedAddr(), b.RelayedAddr(), p)
				}
			})
		})
	}
}

// TestPeerForbidden checks that a relay that does not allow private peers
// refuses to relay to a loopback address, and says so.
func TestPeerForbidden(t *testing.T) {
	s := newTestServer(t, "udp4", families[0].ip, &ServerConfig{})
	a := allocate(t, s, s.Issuer().Issue("a"))
	peer := listenUDP(t, "udp4", families[0].ip)
	_, err := a.WriteTo([]byte("x"), peer.LocalAddr())
	if !errors.Is(err, ErrPeerForbidden) {
		t.Fatalf("write to a loopback peer: %v, want ErrPeerForbidden", err)
	}
}

func TestPeerAllowed(t *testing.T) {
	for _, tt := range []struct {
		ip              string
		public, private bool // allowed without and with allowPrivate
	}{
		{"198.51.100.2", true, true},
		{"2001:db8::2", true, true},
		{"::ffff:203.0.113.7", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd00::1", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"255.255.255.255", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"169.254.1.1", false, false},
		{"fe80::1", false, false},
	} {
		ip := netip.MustParseAddr(tt.ip)
		if got := peerAllowed(ip, false); got != tt.public {
			t.Errorf("peerAllowed(%v, false) = %v, want %v", ip, got, tt.public)
		}
		if got := peerAllowed(ip, true); got != tt.private {
			t.Errorf("peerAllowed(%v, true) = %v, want %v", ip, got, tt.private)
		}
	}
}

// TestReadDeadline checks that read deadlines behave as on a UDP socket:
// a passed deadline fails every read until it is moved, a deadline set
// while a read blocks wakes it, and the zero time clears it.
func TestReadDeadline(t *testing.T) {
	leakcheck.Check(t)
	s := newTestServer(t, "udp4", families[0].ip, nil)
	a := allocate(t, s, s.Issuer().Issue("a"))
	buf := make([]byte, 1500)

	a.SetReadDeadline(time.Now().Add(-time.Second))
	for i := range 3 {
		_, _, err := a.ReadFrom(buf)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d past the deadline: %v, want a timeout", i, err)
		}
	}

	a.SetReadDeadline(time.Time{})
	errc := make(chan error, 2)
	for range 2 {
		go func() { _, _, err := a.ReadFrom(make([]byte, 1500)); errc <- err }()
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("read returned %v without a deadline", err)
	default:
	}
	start := time.Now()
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("blocked read: %v, want a timeout", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("a blocked read did not wake at the deadline")
		}
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("reads woke after %v, before the deadline", d)
	}

	a.SetReadDeadline(time.Time{})
	peer := listenUDP(t, "udp4", families[0].ip)
	permit(t, a, addrOf(peer))
	exchange(t, peer, a, a.RelayedAddr(), addrOf(peer), []byte("after the deadline"))
}

// TestClose checks that Close releases the allocation on the relay at
// once, that the Conn then fails with net.ErrClosed, that a blocked read
// wakes, and that the socket is the caller's again, without a deadline.
func TestClose(t *testing.T) {
	leakcheck.Check(t)
	s := newTestServer(t, "udp4", families[0].ip, nil)
	pc := listenUDP(t, "udp4", families[0].ip)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := Allocate(ctx, pc, s.Addr(), s.Issuer().Issue("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 1 {
		t.Fatalf("%d allocations on the relay, want 1", n)
	}
	readErr := make(chan error, 1)
	go func() { _, _, err := a.ReadFrom(make([]byte, 1500)); readErr <- err }()
	time.Sleep(20 * time.Millisecond)

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("%d allocations on the relay after Close, want 0", n)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked read: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a blocked read did not return at Close")
	}
	if _, _, err := a.ReadFrom(make([]byte, 1500)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := a.WriteTo([]byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}

	other := listenUDP(t, "udp4", families[0].ip)
	other.WriteTo([]byte("yours again"), pc.LocalAddr())
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "yours again" {
		t.Fatalf("reading the socket after Close: %q, %v", buf[:n], err)
	}
}

// TestSocketFails checks that closing the socket under a Conn ends it:
// blocked reads return net.ErrClosed.
func TestSocketFails(t *testing.T) {
	leakcheck.Check(t)
	s := newTestServer(t, "udp4", families[0].ip, nil)
	a := allocate(t, s, s.Issuer().Issue("a"))
	readErr := make(chan error, 1)
	go func() { _, _, err := a.ReadFrom(make([]byte, 1500)); readErr <- err }()
	a.pc.Close()
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a blocked read did not return when the socket closed")
	}
	if _, err := a.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(s.Addr())); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write: %v, want net.ErrClosed", err)
	}
}
