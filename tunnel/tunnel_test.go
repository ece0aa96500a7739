package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// TestStreamsBothWays opens streams from each side and echoes data on
// them, over IPv4 and IPv6 loopback.
func TestStreamsBothWays(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := tunnelPair(t, f.network, f.addr, testConfig())
			go serveEcho(a)
			go serveEcho(b)
			for _, dir := range []struct {
				name string
				from *Conn
			}{{"initiator opens", a}, {"responder opens", b}} {
				st, err := dir.from.Open(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", dir.name, err)
				}
				if err := roundTrip(t, st, random(100<<10)); err != nil {
					t.Fatalf("%s: %v", dir.name, err)
				}
				st.Close()
			}
			if got := a.RemoteAddr(); got != b.LocalAddr() {
				t.Errorf("a.RemoteAddr() = %v, want %v", got, b.LocalAddr())
			}
			s := a.Stats()
			if s.Sent < 200<<10 || s.Received < 200<<10 || s.WireSent < s.Sent || s.RTT <= 0 {
				t.Errorf("implausible stats %+v", s)
			}
			t.Logf("stats: %+v", s)
			a.Close()
			b.Close()
		})
	}
}

// TestConcurrentEcho runs 20 streams at once, each echoing 1 MiB.
func TestConcurrentEcho(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := tunnelPair(t, f.network, f.addr, testConfig())
			go serveEcho(b)
			n := size(1 << 20)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					st, err := a.Open(context.Background())
					if err != nil {
						errs <- err
						return
					}
					defer st.Close()
					if err := roundTrip(t, st, random(n)); err != nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			a.Close()
			b.Close()
		})
	}
}

// TestHalfClose checks CloseWrite: the peer reads EOF and can still
// answer; then Close on both leaves nothing behind.
func TestHalfClose(t *testing.T) {
	leakcheck.Check(t)
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
	accepted := make(chan net.Conn, 1)
	go func() {
		st, _ := b.Accept(context.Background())
		accepted <- st
	}()
	sa, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(sa, "question")
	sa.(interface{ CloseWrite() error }).CloseWrite()
	sb := <-accepted
	got, err := io.ReadAll(sb)
	if err != nil || string(got) != "question" {
		t.Fatalf("read %q, %v", got, err)
	}
	io.WriteString(sb, "answer")
	sb.Close()
	got, err = io.ReadAll(sa)
	if err != nil || string(got) != "answer" {
		t.Fatalf("read %q, %v", got, err)
	}
	sa.Close()
	if _, err := sa.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	a.Close()
	b.Close()
}

// TestStreamCloseAborts checks that Close with unread data stops the
// peer's sending, and that Close unblocks a Write stuck on flow control.
func TestStreamCloseAborts(t *testing.T) {
	cfg := testConfig()
	cfg.StreamWindow = 256 << 10
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", cfg)
	accepted := make(chan net.Conn, 1)
	go func() {
		st, _ := b.Accept(context.Background())
		accepted <- st
	}()
	sa, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := sa.Write(make([]byte, 4<<20)) // more than the window: blocks
		werr <- err
	}()
	sb := <-accepted
	sb.Read(make([]byte, 1000))
	sb.Close() // unread data: STOP_SENDING
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("Write succeeded into a closed stream")
		}
		t.Log(err)
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's Close did not stop the Write")
	}

	// A Write blocked on flow control ends when its own stream is closed.
	go func() { b.Accept(context.Background()) }() // accepts, never reads
	sa2, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := sa2.Write(make([]byte, 4<<20))
		werr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	sa2.Close()
	select {
	case err := <-werr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the Write")
	}
}

// TestDeadline checks that a read deadline makes Read fail with a
// timeout, and that the stream still works afterwards.
func TestDeadline(t *testing.T) {
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
	go serveEcho(b)
	st, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = st.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a timeout", err)
	}
	st.SetReadDeadline(time.Time{})
	if err := roundTrip(t, st, []byte("still there")); err != nil {
		t.Fatal(err)
	}
}

// TestReadNonQUIC sends datagrams that are not QUIC to both sockets while
// the tunnel is up, one of them before anyone reads, and checks they
// arrive whole with their sender, and that the tunnel is unharmed.
func TestReadNonQUIC(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := tunnelPair(t, f.network, f.addr, testConfig())
			other := listenUDP(t, f.network, f.addr)
			tests := []struct {
				name string
				c    *Conn
				msg  []byte
			}{
				{"STUN-like to responder", b, append([]byte{0x00, 0x01, 0x00, 0x00}, random(16)...)},
				{"keepalive to initiator", a, []byte{0x3f, 'p', 'u', 'n', 'c', 'h'}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if _, err := other.WriteToUDPAddrPort(tt.msg, tt.c.LocalAddr()); err != nil {
						t.Fatal(err)
					}
					time.Sleep(20 * time.Millisecond) // it waits in the queue
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					buf := make([]byte, 1500)
					n, from, err := tt.c.ReadNonQUIC(ctx, buf)
					if err != nil {
						t.Fatal(err)
					}
					if string(buf[:n]) != string(tt.msg) || from != addrOf(other) {
						t.Errorf("got % x from %v, want % x from %v", buf[:n], from, tt.msg, addrOf(other))
					}
				})
			}
			// ctx ends a wait.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, _, err := a.ReadNonQUIC(ctx, make([]byte, 10)); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("ReadNonQUIC: %v, want context.DeadlineExceeded", err)
			}
			go serveEcho(b)
			st, err := a.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(t, st, random(64<<10)); err != nil {
				t.Fatal(err)
			}
			a.Close()
			if _, _, err := a.ReadNonQUIC(context.Background(), make([]byte, 10)); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadNonQUIC after Close: %v, want ErrClosed", err)
			}
			b.Close()
		})
	}
}

// TestSocketReusable checks that the caller gets its socket back after
// Close: it can read from it again.
func TestSocketReusable(t *testing.T) {
	pcA, pcB := listenUDP(t, "udp4", "127.0.0.1:0"), listenUDP(t, "udp4", "127.0.0.1:0")
	ra, rb := dialAccept(t, pcA, pcB, netip.AddrPort{}, testKey, testKey, testConfig(), testConfig())
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	ra.c.Close()
	rb.c.Close()
	if _, err := pcA.WriteToUDPAddrPort([]byte("\x00hi"), addrOf(pcB)); err != nil {
		t.Fatal(err)
	}
	pcB.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for {
		n, _, err := pcB.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("the socket is not usable after Close: %v", err)
		}
		if string(buf[:n]) == "\x00hi" {
			break
		}
	}
}

// TestKeepAlive keeps an idle tunnel up for several idle timeouts, thanks
// to keepalives.
func TestKeepAlive(t *testing.T) {
	leakcheck.Check(t)
	cfg := &Config{HandshakeTimeout: 5 * time.Second, KeepAlivePeriod: 100 * time.Millisecond, MaxIdleTimeout: 400 * time.Millisecond}
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", cfg)
	select {
	case <-a.Done():
		t.Fatalf("the initiator's tunnel ended: %v", a.Err())
	case <-b.Done():
		t.Fatalf("the responder's tunnel ended: %v", b.Err())
	case <-time.After(2 * time.Second): // 20 keepalive periods, 5 idle timeouts
	}
	go serveEcho(b)
	st, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, st, []byte("alive")); err != nil {
		t.Fatal(err)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Errorf("Err on a live tunnel: %v, %v", a.Err(), b.Err())
	}
	a.Close()
	b.Close()
}

// TestIdleTimeout cuts the path: both sides' Done fire within the idle
// timeout, with ErrIdle.
func TestIdleTimeout(t *testing.T) {
	leakcheck.Check(t)
	cfg := &Config{HandshakeTimeout: 5 * time.Second, KeepAlivePeriod: 100 * time.Millisecond, MaxIdleTimeout: 500 * time.Millisecond}
	pcA, pcB := listenUDP(t, "udp4", "127.0.0.1:0"), listenUDP(t, "udp4", "127.0.0.1:0")
	p := newProxy(t, "udp4", "127.0.0.1:0", addrOf(pcB))
	ra, rb := dialAccept(t, pcA, pcB, addrOf(p.front), testKey, testKey, cfg, cfg)
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	p.drop.Store(true)
	start := time.Now()
	for _, c := range []*Conn{ra.c, rb.c} {
		waitDone(t, c, 5*time.Second)
		if !errors.Is(c.Err(), ErrIdle) {
			t.Errorf("Err() = %v, want ErrIdle", c.Err())
		}
		if _, err := c.Open(context.Background()); !errors.Is(err, ErrIdle) {
			t.Errorf("Open: %v, want ErrIdle", err)
		}
	}
	t.Logf("both ended after %v: %v", time.Since(start), ra.c.Err())
	ra.c.Close()
	rb.c.Close()
}

// TestPeerClose closes one side: the other's Done fires, Err says the peer
// closed, and Accept and Open fail.
func TestPeerClose(t *testing.T) {
	for _, closer := range []string{"initiator", "responder"} {
		t.Run(closer, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
			if closer == "responder" {
				a, b = b, a
			}
			acceptErr := make(chan error, 1)
			go func() {
				_, err := b.Accept(context.Background())
				acceptErr <- err
			}()
			a.Close()
			waitDone(t, b, 5*time.Second)
			if err := b.Err(); !errors.Is(err, ErrClosed) {
				t.Errorf("Err() = %v, want ErrClosed", err)
			}
			if err := <-acceptErr; !errors.Is(err, ErrClosed) {
				t.Errorf("Accept: %v, want ErrClosed", err)
			}
			if _, err := b.Open(context.Background()); !errors.Is(err, ErrClosed) {
				t.Errorf("Open: %v, want ErrClosed", err)
			}
			if err := a.Err(); !errors.Is(err, ErrClosed) {
				t.Errorf("closer's Err() = %v, want ErrClosed", err)
			}
			t.Log(b.Err())
			b.Close()
		})
	}
}

// TestTransportManyTunnels runs two tunnels on one responder socket and
// closes them with the Transport.
func TestTransportManyTunnels(t *testing.T) {
	leakcheck.Check(t)
	srv, err := NewTransport(listenUDP(t, "udp4", "127.0.0.1:0"), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var clients []*Conn
	var servers []*Conn
	for range 2 {
		c, s := dialTransport(t, srv)
		clients, servers = append(clients, c), append(servers, s)
	}
	for i, c := range clients {
		go serveEcho(servers[i])
		st, err := c.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(t, st, random(10<<10)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	for _, c := range clients {
		waitDone(t, c, 5*time.Second)
	}
	if _, err := srv.Accept(context.Background(), testKey); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v, want ErrClosed", err)
	}
}

// TestConfigDefaults checks that the zero Config gets the documented
// defaults and that set fields are kept.
func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   *Config
		want Config
	}{
		{"nil", nil, Config{HandshakeTimeout: 10 * time.Second, MaxIdleTimeout: time.Minute,
			KeepAlivePeriod: 15 * time.Second, MaxStreams: 1024, StreamWindow: 64 << 20,
			ConnectionWindow: 128 << 20, SocketBuffer: 8 << 20}},
		{"set", &Config{HandshakeTimeout: time.Second, MaxIdleTimeout: 5 * time.Second,
			KeepAlivePeriod: -1, MaxStreams: 3, StreamWindow: 1 << 20, SocketBuffer: -1},
			Config{HandshakeTimeout: time.Second, MaxIdleTimeout: 5 * time.Second,
				KeepAlivePeriod: -1, MaxStreams: 3, StreamWindow: 1 << 20,
				ConnectionWindow: 2 << 20, SocketBuffer: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.withDefaults()
			if got.Logger == nil {
				t.Error("no default logger")
			}
			got.Logger = nil
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			qc := got.quicConfig()
			if qc.EnableDatagrams || qc.MaxIncomingUniStreams >= 0 || qc.KeepAlivePeriod < 0 ||
				qc.MaxStreamReceiveWindow != uint64(got.StreamWindow) {
				t.Errorf("quic config %+v", qc)
			}
		})
	}
}

// TestCloseWithStreamsOpen closes a tunnel while streams are busy both
// ways: every blocked Read and Write returns, and no goroutine is left.
func TestCloseWithStreamsOpen(t *testing.T) {
	leakcheck.Check(t)
	a, b := tunnelPair(t, "udp4", "127.0.0.1:0", testConfig())
	go func() {
		for {
			st, err := b.Accept(context.Background())
			if err != nil {
				return
			}
			go io.Copy(io.Discard, st) // reads, never writes
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		st, err := a.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { // writes forever
			buf := make([]byte, 64<<10)
			for {
				if _, err := st.Write(buf); err != nil {
					return
				}
			}
		})
		wg.Go(func() { st.Read(make([]byte, 10)) }) // waits forever
	}
	time.Sleep(100 * time.Millisecond)
	a.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Reads and Writes still blocked after Close")
	}
	waitDone(t, b, 5*time.Second)
	b.Close()
}
