package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
	"github.com/punchkit/punch/tunnel"
)

const testKey = "7k3q-m9xd-2f8h-tp4w-c6rn"

// tunnelOver opens a punch tunnel (QUIC, key-authenticated) from pcA to
// pcB, which reach each other at toB (pcA's peer address) as pcB sees
// it; both tunnels are closed at cleanup.
func tunnelOver(tb testing.TB, pcA, pcB net.PacketConn, toB netip.AddrPort) (a, b *tunnel.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := &tunnel.Config{HandshakeTimeout: 10 * time.Second}
	type result struct {
		c   *tunnel.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := tunnel.Accept(ctx, pcB, testKey, cfg)
		done <- result{c, err}
	}()
	a, err := tunnel.Dial(ctx, pcA, toB, testKey, cfg)
	r := <-done
	for _, c := range []*tunnel.Conn{a, r.c} {
		if c != nil {
			tb.Cleanup(func() { c.Close() })
		}
	}
	if err != nil || r.err != nil {
		tb.Fatalf("dial: %v; accept: %v", err, r.err)
	}
	return a, r.c
}

// relayedPair allocates for two clients on s and lets each hear the
// other: the two ends of a relay-to-relay path.
func relayedPair(tb testing.TB, s *Server) (a, b *Conn) {
	tb.Helper()
	a = allocate(tb, s, s.Issuer().Issue("a"))
	b = allocate(tb, s, s.Issuer().Issue("b"))
	permit(tb, a, b.RelayedAddr())
	permit(tb, b, a.RelayedAddr())
	return a, b
}

// transfer sends data from a to b on one stream and checks that b reads
// exactly data.
func transfer(tb testing.TB, a, b *tunnel.Conn, data []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		st, err := a.Open(ctx)
		if err == nil {
			_, err = io.Copy(st, bytes.NewReader(data))
			st.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	st, err := b.Accept(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	h := sha256.New()
	n, err := io.Copy(h, st)
	if werr := <-errc; werr != nil {
		tb.Fatalf("sending: %v", werr)
	}
	if err != nil {
		tb.Fatalf("receiving: %v", err)
	}
	if want := sha256.Sum256(data); n != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		tb.Fatalf("received %d bytes, want %d (or the contents differ)", n, len(data))
	}
}

// TestQUIC runs punch's QUIC tunnel over the relay, with a relayed
// client on each side and with one side on a plain socket, and moves
// 16 MiB through each intact.
func TestQUIC(t *testing.T) {
	data := make([]byte, size(16<<20))
	rand.Read(data)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			s := newTestServer(t, f.network, f.ip, nil)
			t.Run("relay-to-relay", func(t *testing.T) {
				leakcheck.Check(t)
				ra, rb := relayedPair(t, s)
				a, b := tunnelOver(t, ra, rb, rb.RelayedAddr())
				transfer(t, a, b, data)
				transfer(t, b, a, data[:len(data)/8])
			})
			t.Run("relay-to-plain", func(t *testing.T) {
				leakcheck.Check(t)
				ra := allocate(t, s, s.Issuer().Issue("a"))
				pb := listenUDP(t, f.network, f.ip)
				permit(t, ra, addrOf(pb))
				a, b := tunnelOver(t, ra, pb, addrOf(pb))
				transfer(t, a, b, data)
				transfer(t, b, a, data[:len(data)/8])
			})
		})
	}
}
