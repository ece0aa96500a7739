package tcppunch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
	"github.com/punchkit/punch/tcppunch"
)

// freePort returns a TCP port that is free on addr now.
func freePort(tb testing.TB, addr string) uint16 {
	tb.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

type result struct {
	conn *net.TCPConn
	err  error
}

// pair punches between two local addresses with the given roles and
// checks that data flows both ways.
func pair(t *testing.T, do [2]func(func() error) error, local, peer [2]netip.AddrPort, roles [2]tcppunch.Role, ttl int) {
	t.Helper()
	ch := make(chan result, 2)
	for i := range 2 {
		go func() {
			var r result
			do[i](func() error {
				r.conn, r.err = tcppunch.Punch(context.Background(), local[i], []netip.AddrPort{peer[i]},
					&tcppunch.Config{Role: roles[i], TTL: ttl, Timeout: 5 * time.Second, Logger: testLogger(t)})
				return nil
			})
			ch <- r
		}()
	}
	var conns []*net.TCPConn
	for range 2 {
		r := <-ch
		if r.err != nil {
			t.Fatalf("punch: %v", r.err)
		}
		conns = append(conns, r.conn)
		defer r.conn.Close()
	}
	for i, c := range conns {
		msg := fmt.Sprintf("hello from %d", i)
		go c.Write([]byte(msg))
		other := conns[1-i]
		buf := make([]byte, len(msg))
		other.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(other, buf); err != nil || string(buf) != msg {
			t.Fatalf("read %q, %v; want %q", buf, err, msg)
		}
	}
}

func direct(f func() error) error { return f() }

// TestLoopback punches on loopback, which has no NAT: classic simultaneous
// open with both sides connecting, and leader and follower.
func TestLoopback(t *testing.T) {
	for _, roles := range [][2]tcppunch.Role{{tcppunch.Both, tcppunch.Both}, {tcppunch.Leader, tcppunch.Follower}} {
		t.Run(roles[0].String()+"-"+roles[1].String(), func(t *testing.T) {
			a := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freePort(t, "127.0.0.1"))
			b := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freePort(t, "127.0.0.1"))
			pair(t, [2]func(func() error) error{direct, direct}, [2]netip.AddrPort{a, b}, [2]netip.AddrPort{b, a}, roles, 2)
		})
	}
}

// TestPunchLab punches between two hosts behind port-restricted NATs that
// drop, reject or accept unsolicited packets, with instant links and with
// 20 ms links, over IPv4 and IPv6. Reject is the hard case: the peer's SYN
// reaching a NAT before its own host's SYN has left is answered with RST.
func TestPunchLab(t *testing.T) {
	for _, in := range natlab.Inputs {
		for _, delay := range []string{"0ms", "20ms"} {
			t.Run(fmt.Sprintf("%s/%s", in, delay), func(t *testing.T) {
				sites := []natlab.Site{{Name: "natA", Input: in}, {Name: "natB", Input: in}}
				for i := range sites {
					if err := sites[i].Link.SetSpec("delay=" + delay); err != nil {
						t.Fatal(err)
					}
				}
				lab := labtest.New(t, natlab.Config{Sites: sites})
				a, b := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "b")
				for _, is4 := range []bool{true, false} {
					local := [2]netip.AddrPort{netip.AddrPortFrom(a.Addr(is4), 40000), netip.AddrPortFrom(b.Addr(is4), 40001)}
					// The lab's NATs preserve ports, so the public ports are
					// the local ones.
					peer := [2]netip.AddrPort{netip.AddrPortFrom(b.PublicAddr(is4), 40001), netip.AddrPortFrom(a.PublicAddr(is4), 40000)}
					var ttl int
					a.Do(func() (err error) { ttl, err = tcppunch.ProbeHops(context.Background(), peer[0].Addr(), 0); return err })
					if ttl != 2 {
						t.Errorf("ProbeHops: %d, want 2", ttl)
					}
					pair(t, [2]func(func() error) error{a.Do, b.Do}, local, peer, [2]tcppunch.Role{tcppunch.Leader, tcppunch.Follower}, ttl)
				}
			})
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
