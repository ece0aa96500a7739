package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/punchkit/punch/forward"
	"github.com/punchkit/punch/internal/leakcheck"
)

// Both ends of a tunnel are forward.Muxes.
var _ forward.Mux = (*Conn)(nil)

// tcpEcho starts a TCP echo server on loopback; it stops at cleanup.
func tcpEcho(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { echo(c) })
		}
	})
	return ln.Addr().String()
}

// TestForward runs forward.Listen on the initiator and forward.Serve on
// the responder, as `punch` port forwarding does, and pushes 8 TCP
// connections at once through the tunnel to an echo server; each
// half-closes and checks its echo. Closing the tunnel ends both.
func TestForward(t *testing.T) {
	leakcheck.Check(t)
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
	target := tcpEcho(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveErr, listenErr := make(chan error, 1), make(chan error, 1)
	go func() { serveErr <- forward.Serve(ctx, b, target, nil) }()
	go func() { listenErr <- forward.Listen(ctx, a, ln, nil) }()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := roundTrip(t, c, random(size(512<<10)+i)); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	a.Close()
	for name, ch := range map[string]chan error{"Serve": serveErr, "Listen": listenErr} {
		select {
		case err := <-ch:
			t.Logf("%s: %v", name, err)
		case <-time.After(5 * time.Second):
			t.Errorf("%s did not end with the tunnel", name)
		}
	}
	b.Close()
}

// TestForwardServerFirst forwards a protocol whose server speaks first:
// the responder must learn of the stream before the client sends
// anything.
func TestForwardServerFirst(t *testing.T) {
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 hello\r\n"))
		c.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go forward.Serve(ctx, b, srv.Addr().String(), nil)
	st, err := a.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(st)
	if err != nil || string(got) != "220 hello\r\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	st.Close()
}
