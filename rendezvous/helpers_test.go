package rendezvous

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// testServer is a Server serving a loopback listener.
type testServer struct {
	*Server
	addr string // host:port to dial
}

// startServer serves cfg on a loopback listener of network ("tcp4" or
// "tcp6"), and stops it at cleanup.
func startServer(tb testing.TB, cfg *Config, network string) *testServer {
	tb.Helper()
	ip := netip.MustParseAddr("127.0.0.1")
	if network == "tcp6" {
		ip = netip.IPv6Loopback()
	}
	lns, err := Listen(context.Background(), []netip.Addr{ip}, 0)
	if err != nil {
		if network == "tcp6" {
			tb.Skipf("no IPv6 loopback: %v", err)
		}
		tb.Fatal(err)
	}
	ln := lns[0]
	s := New(cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	tb.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("Serve returned %v after Close, want ErrServerClosed", err)
		}
	})
	return &testServer{Server: s, addr: ln.Addr().String()}
}

// dial connects to the test server.
func (ts *testServer) dial(tb testing.TB) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// send dials the server and sends b.
func (ts *testServer) send(tb testing.TB, b []byte) net.Conn {
	tb.Helper()
	c := ts.dial(tb)
	if _, err := c.Write(b); err != nil {
		tb.Fatal(err)
	}
	return c
}

// waitFor waits up to 5 s for cond.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waiting waits until the server has n sessions waiting.
func (ts *testServer) waiting(tb testing.TB, n int64) {
	tb.Helper()
	waitFor(tb, "waiting sessions", func() bool { return ts.Stats().Waiting == n })
}

// readAll reads from c until the server closes it, for at most 5 s.
func readAll(tb testing.TB, c net.Conn) string {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		tb.Fatalf("reading answer: %v (got %q)", err, b)
	}
	return string(b)
}

// isReset reports a connection reset, which a close with unread data
// causes.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// newToken returns a random token or key.
func newToken() [KeySize]byte {
	var t [KeySize]byte
	rand.Read(t[:])
	if string(t[:len(Hello)]) == Hello {
		t[0] = 0
	}
	return t
}

// localAddr is c's local address, unmapped.
func localAddr(c net.Conn) netip.AddrPort {
	a, _ := observedAddr(c.LocalAddr())
	return a
}

// result is what a client goroutine returns.
type result struct {
	m    *Match
	peer netip.AddrPort
	err  error
}

// exchange runs Exchange on a new connection in a goroutine.
func (ts *testServer) exchange(tb testing.TB, req Request) (net.Conn, <-chan result) {
	tb.Helper()
	c := ts.dial(tb)
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := Exchange(ctx, c, req)
		ch <- result{m: m, err: err}
	}()
	return c, ch
}

// legacy runs Legacy on a new connection in a goroutine.
func (ts *testServer) legacy(tb testing.TB, key [KeySize]byte) (net.Conn, <-chan result) {
	tb.Helper()
	c := ts.dial(tb)
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := Legacy(ctx, c, key)
		ch <- result{peer: p, err: err}
	}()
	return c, ch
}

// get waits up to 10 s for a result.
func get(tb testing.TB, ch <-chan result) result {
	tb.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("client did not return")
		return result{}
	}
}
