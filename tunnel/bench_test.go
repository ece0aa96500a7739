package tunnel

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// benchBulk pushes bulk data from a to b over n streams at once, in
// 64 KiB writes, to readers that discard it, and reports Gbit/s
// measured until the last byte has been read.
func benchBulk(b *testing.B, a, c interface {
	Open(context.Context) (net.Conn, error)
	Accept(context.Context) (net.Conn, error)
}, streams int) {
	var readers sync.WaitGroup
	for range streams {
		readers.Go(func() {
			st, err := c.Accept(context.Background())
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, st)
			st.Close()
		})
	}
	conns := make([]net.Conn, streams)
	for i := range conns {
		st, err := a.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = st
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	start := time.Now()
	var total int64
	for i := 0; b.Loop(); i++ {
		if _, err := conns[i%streams].Write(buf); err != nil {
			b.Fatal(err)
		}
		total += int64(len(buf))
	}
	for _, st := range conns {
		st.(interface{ CloseWrite() error }).CloseWrite()
	}
	readers.Wait()
	b.ReportMetric(float64(total)*8/time.Since(start).Seconds()/1e9, "Gbit/s")
	for _, st := range conns {
		st.Close()
	}
}

// BenchmarkThroughput measures one stream through a tunnel on loopback,
// both ends in this process (so they share the CPU).
func BenchmarkThroughput(b *testing.B) {
	for _, f := range families {
		b.Run(f.name, func(b *testing.B) {
			a, c := tunnelPair(b, f.network, f.addr, testConfig())
			benchBulk(b, a, c, 1)
			b.StopTimer()
			s := a.Stats()
			b.ReportMetric(float64(s.WireSent)/float64(max(s.Sent, 1)), "wire/payload")
			b.ReportMetric(float64(c.Stats().PacketsSent)/float64(max(s.PacketsSent, 1)), "acks/pkt")
			b.ReportMetric(float64(s.PacketsLost)/float64(max(s.PacketsSent, 1))*100, "%lost")
			a.Close()
			c.Close()
		})
	}
}

// BenchmarkThroughputStreams measures 8 streams at once.
func BenchmarkThroughputStreams(b *testing.B) {
	a, c := tunnelPair(b, "udp4", "127.0.0.1:0", testConfig())
	benchBulk(b, a, c, 8)
	a.Close()
	c.Close()
}

// tcpMux hands out loopback TCP connections as streams, the baseline
// for the tunnel's throughput.
type tcpMux struct {
	ln net.Listener
}

func (m tcpMux) Open(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", m.ln.Addr().String())
}

func (m tcpMux) Accept(context.Context) (net.Conn, error) { return m.ln.Accept() }

// BenchmarkTCPBaseline measures plain loopback TCP the same way.
func BenchmarkTCPBaseline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	benchBulk(b, tcpMux{ln}, tcpMux{ln}, 1)
}

// BenchmarkHandshake measures setting up a tunnel (QUIC handshake and key
// confirmation, both sides) on loopback; socket setup and Close are
// outside the timer.
func BenchmarkHandshake(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		pcA, pcB := listenUDP(b, "udp4", "127.0.0.1:0"), listenUDP(b, "udp4", "127.0.0.1:0")
		cfg := &Config{SocketBuffer: -1}
		srv, err := NewTransport(pcB, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := srv.listener(); err != nil { // no lost first Initial
			b.Fatal(err)
		}
		b.StartTimer()
		done := make(chan error, 1)
		go func() {
			_, err := srv.Accept(context.Background(), testKey)
			done <- err
		}()
		c, err := Dial(context.Background(), pcA, addrOf(pcB), testKey, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StopTimer() // Close lingers on purpose
		c.Close()
		srv.Close()
		b.StartTimer()
	}
}
