package tunnel

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/punchkit/punch/internal/leakcheck"
	"github.com/punchkit/punch/secure"
)

// TestWrongKey runs a tunnel with different keys: both sides fail with
// secure.ErrAuth and neither gets a Conn.
func TestWrongKey(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			pcA, pcB := listenUDP(t, f.network, f.addr), listenUDP(t, f.network, f.addr)
			ra, rb := dialAccept(t, pcA, pcB, netip.AddrPort{}, testKey, "another key", testConfig(), testConfig())
			for _, r := range []struct {
				side string
				pairResult
			}{{"initiator", ra}, {"responder", rb}} {
				if r.c != nil || !errors.Is(r.err, secure.ErrAuth) {
					t.Errorf("%s: got %v, %v; want secure.ErrAuth", r.side, r.c, r.err)
				}
				t.Logf("%s: %v", r.side, r.err)
			}
		})
	}
}

// rawClient is a QUIC client that speaks as much of the tunnel protocol
// as a test wants: a stranger, or a broken peer.
func rawClient(tb testing.TB, peer netip.AddrPort) *quic.Conn {
	tb.Helper()
	tr := &quic.Transport{Conn: listenUDP(tb, "udp4", "127.0.0.1:0")}
	tb.Cleanup(func() { tr.Close() })
	tlsConf, err := secure.TLSConfig(true)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := tr.Dial(ctx, udpAddr(peer), tlsConf, &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { qc.CloseWithError(0, "") })
	return qc
}

// rawConfirm runs the key confirmation with key on the control stream
// ctrl, as a tunnel initiator does.
func rawConfirm(qc *quic.Conn, ctrl *quic.Stream, key string) error {
	exp, err := secure.Exporter(qc.ConnectionState().TLS)
	if err != nil {
		return err
	}
	return secure.Confirm(context.Background(), ctrl, key, exp, true)
}

// TestStrangers lets peers that do not complete the key confirmation
// connect to a responder: each is rejected with the right error, its
// connection is closed, and none of the streams it opened reaches the
// caller; a genuine peer that comes next gets through, and only its
// stream is accepted.
func TestStrangers(t *testing.T) {
	tests := []struct {
		name string
		act  func(qc *quic.Conn) // what the stranger does after the QUIC handshake
		want error
	}{
		{"wrong key and data streams", func(qc *quic.Conn) {
			ctrl, _ := qc.OpenStream()
			for range 3 { // data streams before the key confirmation
				st, _ := qc.OpenStream()
				st.Write([]byte{streamTypeForward, 'h', 'i'})
			}
			rawConfirm(qc, ctrl, "not the key")
		}, secure.ErrAuth},
		{"garbage on the control stream", func(qc *quic.Conn) {
			st, _ := qc.OpenStream()
			st.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		}, secure.ErrProtocol},
		{"data stream only", func(qc *quic.Conn) {
			st, _ := qc.OpenStream()
			st, _ = qc.OpenStream() // stream 4; stream 0 stays empty
			st.Write([]byte{streamTypeForward, 'h', 'i'})
		}, ErrTimeout},
		{"silent", func(qc *quic.Conn) {}, ErrTimeout},
	}
	leakcheck.Check(t)
	cfg := testConfig()
	cfg.HandshakeTimeout = 500 * time.Millisecond
	srv, err := NewTransport(listenUDP(t, "udp4", "127.0.0.1:0"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := acceptOn(srv)
			qc := rawClient(t, srv.LocalAddr())
			go tt.act(qc)
			r := <-done
			if r.c != nil || !errors.Is(r.err, tt.want) {
				t.Fatalf("Accept: %v, %v; want %v", r.c, r.err, tt.want)
			}
			t.Log(r.err)
			select {
			case <-qc.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the stranger's connection stays open")
			}
		})
	}

	// A genuine peer: its stream is the first (and only) one accepted.
	c, server := dialTransport(t, srv)
	st, err := c.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(st, "genuine")
	st.(interface{ CloseWrite() error }).CloseWrite()
	got, err := server.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(got); err != nil || string(b) != "genuine" {
		t.Fatalf("accepted a stream with %q, %v", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if extra, err := server.Accept(ctx); err == nil {
		t.Fatalf("a second stream %v was accepted", extra)
	}
}

// TestUnknownStreamType has an authenticated peer open a stream with a
// type byte this version does not know: Read fails with ErrProtocol and
// the peer's stream is reset.
func TestUnknownStreamType(t *testing.T) {
	srv, err := NewTransport(listenUDP(t, "udp4", "127.0.0.1:0"), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	done := acceptOn(srv)
	qc := rawClient(t, srv.LocalAddr())
	ctrl, _ := qc.OpenStream()
	if err := rawConfirm(qc, ctrl, testKey); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	st, _ := qc.OpenStream()
	st.Write([]byte{0x7f, 'x'})
	got, err := r.c.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.Read(make([]byte, 10)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Read: %v, want ErrProtocol", err)
	}
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = st.Read(make([]byte, 10))
	var se *quic.StreamError
	if !errors.As(err, &se) || se.ErrorCode != streamCodeUnknownType {
		t.Fatalf("the peer's Read: %v, want a reset with code %d", err, streamCodeUnknownType)
	}
}

// TestHandshakeFailures checks Dial's errors without a willing peer.
func TestHandshakeFailures(t *testing.T) {
	silent := listenUDP(t, "udp4", "127.0.0.1:0") // nobody answers
	tests := []struct {
		name    string
		key     string
		ctx     func() (context.Context, context.CancelFunc)
		want    error
		maxTime time.Duration
	}{
		{"nobody answers", testKey, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, ErrTimeout, 3 * time.Second},
		{"cancelled", testKey, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, 2 * time.Second},
		{"invalid key", "", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, secure.ErrInvalidKey, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ctx, cancel := tt.ctx()
			defer cancel()
			cfg := &Config{HandshakeTimeout: 500 * time.Millisecond}
			start := time.Now()
			c, err := Dial(ctx, listenUDP(t, "udp4", "127.0.0.1:0"), addrOf(silent), tt.key, cfg)
			if c != nil || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", c, err, tt.want)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %v", d)
			}
			t.Log(err)
		})
	}
}

// TestAcceptContext checks that Accept ends with its ctx when nobody
// comes.
func TestAcceptContext(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Accept(ctx, listenUDP(t, "udp4", "127.0.0.1:0"), testKey, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}
