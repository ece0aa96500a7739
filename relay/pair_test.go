package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// newPairServer starts a pair relay on a loopback socket of network,
// closed at cleanup.
func newPairServer(tb testing.TB, network string, ip netip.Addr, cfg *PairConfig) *PairServer {
	tb.Helper()
	s, err := NewPairServer(listenUDP(tb, network, ip), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// join joins a new socket of s's family to side of the pair cred names
// and returns the socket.
func join(tb testing.TB, s *PairServer, network string, cred Credentials, side byte, waitPeer bool) *net.UDPConn {
	tb.Helper()
	pc := listenUDP(tb, network, s.Addr().Addr())
	if err := tryJoin(pc, s, cred, side, waitPeer, 3*time.Second); err != nil {
		tb.Fatalf("join side %d: %v", side, err)
	}
	return pc
}

func tryJoin(pc net.PacketConn, s *PairServer, cred Credentials, side byte, waitPeer bool, timeout time.Duration) error {
	return JoinPair(context.Background(), pc, Pair{Relay: s.Addr(), Credentials: cred, Side: side}, waitPeer, &ClientConfig{Timeout: timeout})
}

// TestPairRelay joins both sides of a pair, the leader waiting for the
// follower, and sends datagrams both ways: each peer sees the other at
// the relay's address, and a burst arrives whole and in order.
func TestPairRelay(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			iss := NewIssuer(nil, 0)
			s := newPairServer(t, f.network, f.ip, &PairConfig{Issuer: iss})
			cred := iss.Issue("pair")
			var (
				leader *net.UDPConn
				wg     sync.WaitGroup
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				leader = join(t, s, f.network, cred, 0, true)
			}()
			time.Sleep(50 * time.Millisecond) // the leader joins first and waits
			follower := join(t, s, f.network, cred, 1, false)
			wg.Wait()
			if t.Failed() {
				return
			}
			exchange(t, leader, follower, s.Addr(), s.Addr(), []byte("to the follower"))
			exchange(t, follower, leader, s.Addr(), s.Addr(), []byte("to the leader"))

			const n = 200
			leader.SetWriteBuffer(1 << 20)
			follower.SetReadBuffer(1 << 20)
			for i := range n {
				p := binary.BigEndian.AppendUint32(bytes.Repeat([]byte{0x40}, 1200), uint32(i))
				if _, err := leader.WriteTo(p, net.UDPAddrFromAddrPort(s.Addr())); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 2048)
			follower.SetReadDeadline(time.Now().Add(3 * time.Second))
			for i := range n {
				k, _, err := follower.ReadFrom(buf)
				if err != nil {
					t.Fatalf("datagram %d of %d: %v", i, n, err)
				}
				if k != 1204 || binary.BigEndian.Uint32(buf[1200:k]) != uint32(i) {
					t.Fatalf("datagram %d: %d bytes, number %d", i, k, binary.BigEndian.Uint32(buf[1200:k]))
				}
			}
			if st := s.Stats(); st.Pairs != 1 || st.Relayed < n+2 {
				t.Errorf("stats %+v, want 1 pair and at least %d datagrams relayed", st, n+2)
			}
		})
	}
}

// TestPairRefusals checks each refusal and that data from addresses that
// did not join goes nowhere.
func TestPairRefusals(t *testing.T) {
	const network = "udp4"
	ip := netip.MustParseAddr("127.0.0.1")
	iss := NewIssuer(nil, 0)
	s := newPairServer(t, network, ip, &PairConfig{Issuer: iss, MaxPairs: 1})

	t.Run("forged", func(t *testing.T) {
		cred := iss.Issue("forged")
		cred.Password = "not the password"
		start := time.Now()
		err := tryJoin(listenUDP(t, network, ip), s, cred, 0, false, 500*time.Millisecond)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
		// The refusal is not signed with the password the client
		// holds, so the client waits for its deadline.
		if time.Since(start) < 400*time.Millisecond {
			t.Errorf("an unsigned refusal ended the join at once")
		}
	})
	t.Run("expired", func(t *testing.T) {
		cred := iss.issue("expired", time.Now().Add(-time.Second))
		err := tryJoin(listenUDP(t, network, ip), s, cred, 0, false, 3*time.Second)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
	})
	t.Run("foreign", func(t *testing.T) {
		cred := NewIssuer(nil, 0).Issue("foreign")
		if err := tryJoin(listenUDP(t, network, ip), s, cred, 0, false, 300*time.Millisecond); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
	})

	cred := iss.Issue("pair")
	a := join(t, s, network, cred, 0, false)
	t.Run("full", func(t *testing.T) {
		err := tryJoin(listenUDP(t, network, ip), s, iss.Issue("second"), 0, false, 3*time.Second)
		if !errors.Is(err, ErrRelayFull) {
			t.Fatalf("err = %v, want ErrRelayFull", err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		// A hello older than a's, from another address: a replay.
		pc := listenUDP(t, network, ip)
		h := hello{side: 0, seq: 1, username: cred.Username}
		answer := helloAnswer(t, pc, s, &h, cred.Password)
		if answer.t == typeCookie {
			h.cookie = answer.cookie
			answer = helloAnswer(t, pc, s, &h, cred.Password)
		}
		if answer.t != typeRefused || answer.v != refusedStale || !answer.signed {
			t.Fatalf("answer %+v, want a signed refusal, stale", answer)
		}
	})
	t.Run("unjoined", func(t *testing.T) {
		stranger := listenUDP(t, network, ip)
		stranger.WriteTo([]byte{0x40, 1, 2, 3}, net.UDPAddrFromAddrPort(s.Addr()))
		a.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _, err := a.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("a stranger's datagram reached a joined peer: %d bytes", n)
		}
	})
}

// helloAnswer sends h from pc to s and returns the answer.
func helloAnswer(tb testing.TB, pc *net.UDPConn, s *PairServer, h *hello, password string) answer {
	tb.Helper()
	if _, err := pc.WriteTo(appendHello(nil, h, password), net.UDPAddrFromAddrPort(s.Addr())); err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 256)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		tb.Fatal(err)
	}
	a, ok := parseAnswer(buf[:n], password)
	if !ok {
		tb.Fatalf("undecodable answer %x", buf[:n])
	}
	return a
}

// TestPairRebind moves the leader to a new socket, as a NAT rebinding
// does: its newer hello takes the side over, and the follower's datagrams
// go to the new address.
func TestPairRebind(t *testing.T) {
	const network = "udp4"
	ip := netip.MustParseAddr("127.0.0.1")
	iss := NewIssuer(nil, 0)
	s := newPairServer(t, network, ip, &PairConfig{Issuer: iss})
	cred := iss.Issue("pair")
	old := join(t, s, network, cred, 0, false)
	follower := join(t, s, network, cred, 1, true)
	exchange(t, follower, old, s.Addr(), s.Addr(), []byte("before"))
	moved := join(t, s, network, cred, 0, true)
	exchange(t, follower, moved, s.Addr(), s.Addr(), []byte("after"))
	exchange(t, moved, follower, s.Addr(), s.Addr(), []byte("back"))
	old.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := old.ReadFrom(make([]byte, 64)); err == nil {
		t.Error("the old address still gets the follower's datagrams")
	}
}

// TestPairIdle checks that a pair nobody uses is dropped after Idle.
func TestPairIdle(t *testing.T) {
	const network = "udp4"
	ip := netip.MustParseAddr("127.0.0.1")
	iss := NewIssuer(nil, 0)
	s := newPairServer(t, network, ip, &PairConfig{Issuer: iss, Idle: 500 * time.Millisecond})
	join(t, s, network, iss.Issue("pair"), 0, false)
	if st := s.Stats(); st.Pairs != 1 {
		t.Fatalf("%d pairs after a join, want 1", st.Pairs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Pairs != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle pair is still held after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPairGarbage sends the relay random datagrams and mangled hellos
// from many addresses; it must go on relaying for a joined pair.
func TestPairGarbage(t *testing.T) {
	const network = "udp4"
	ip := netip.MustParseAddr("127.0.0.1")
	iss := NewIssuer(nil, 0)
	s := newPairServer(t, network, ip, &PairConfig{Issuer: iss})
	cred := iss.Issue("pair")
	valid := appendHello(nil, &hello{side: 1, seq: 7, username: cred.Username}, cred.Password)
	for range 8 {
		pc := listenUDP(t, network, ip)
		for i := range 200 {
			var b []byte
			switch i % 3 {
			case 0:
				b = make([]byte, i%1600)
				rand.Read(b)
			case 1:
				b = append([]byte(nil), valid[:i%len(valid)]...)
			default:
				b = append([]byte(nil), valid...)
				b[i%len(b)] ^= byte(i)
			}
			pc.WriteTo(b, net.UDPAddrFromAddrPort(s.Addr()))
		}
	}
	a := join(t, s, network, cred, 0, false)
	b := join(t, s, network, cred, 1, true)
	exchange(t, a, b, s.Addr(), s.Addr(), []byte("still relaying"))
}

// FuzzPairHello checks that the hello and answer decoders take any bytes.
func FuzzPairHello(f *testing.F) {
	f.Add(appendHello(nil, &hello{side: 1, seq: 9, username: "1:x"}, "pw"))
	var c [cookieSize]byte
	f.Add(appendAnswer(nil, typeCookie, 3, &c, 0, ""))
	f.Add(appendAnswer(nil, typeBound, 3, nil, 1, "pw"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, signed, mac, ok := parseHello(b); ok {
			if len(signed)+len(mac) != len(b) || h.side > 1 {
				t.Fatalf("hello %+v from %d bytes", h, len(b))
			}
			if again := appendHello(nil, &h, "pw"); len(again) != len(b) {
				t.Fatalf("re-encoded hello is %d bytes, want %d", len(again), len(b))
			}
		}
		parseAnswer(b, "pw")
	})
}
