package relay

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/punchkit/punch/tunnel"
)

// BenchmarkQUIC measures one stream of punch's QUIC tunnel on loopback,
// directly between two sockets, through the relay with each side relayed,
// and with one side relayed, in the same run: the ratios are the relay's
// cost. Relay, clients and
// tunnels share this process's CPU.
func BenchmarkQUIC(b *testing.B) {
	ip := families[0].ip
	b.Run("direct", func(b *testing.B) {
		pa, pb := listenUDP(b, "udp4", ip), listenUDP(b, "udp4", ip)
		a, c := tunnelOver(b, pa, pb, addrOf(pb))
		benchStream(b, a, c)
	})
	b.Run("relay", func(b *testing.B) {
		s := newTestServer(b, "udp4", ip, nil)
		ra, rb := relayedPair(b, s)
		a, c := tunnelOver(b, ra, rb, rb.RelayedAddr())
		benchStream(b, a, c)
	})
	b.Run("pair", func(b *testing.B) {
		iss := NewIssuer(nil, 0)
		s := newPairServer(b, "udp4", ip, &PairConfig{Issuer: iss})
		cred := iss.Issue("pair")
		pb := join(b, s, "udp4", cred, 1, false)
		pa := join(b, s, "udp4", cred, 0, true)
		a, c := tunnelOver(b, pa, pb, s.Addr())
		benchStream(b, a, c)
	})
	b.Run("relay-to-plain", func(b *testing.B) {
		s := newTestServer(b, "udp4", ip, nil)
		ra := allocate(b, s, s.Issuer().Issue("a"))
		pb := listenUDP(b, "udp4", ip)
		permit(b, ra, addrOf(pb))
		a, c := tunnelOver(b, ra, pb, addrOf(pb))
		benchStream(b, a, c)
	})
}

// benchStream writes 64 KiB chunks from a to c on one stream, to a reader
// that discards them, and reports Mbit/s up to the last byte read.
func benchStream(b *testing.B, a, c *tunnel.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, err := c.Accept(ctx)
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, st)
		st.Close()
	}()
	st, err := a.Open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	start := time.Now()
	var total int64
	for b.Loop() {
		if _, err := st.Write(buf); err != nil {
			b.Fatal(err)
		}
		total += int64(len(buf))
	}
	st.(interface{ CloseWrite() error }).CloseWrite()
	<-done
	b.ReportMetric(float64(total)*8/time.Since(start).Seconds()/1e6, "Mbit/s")
	st.(net.Conn).Close()
}
