package natlab_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/core"
	"github.com/punchkit/punch/natlab/labtest"
)

// linkSite returns a site with the given link settings.
func linkSite(tb testing.TB, name string, nat natlab.NATType, spec string) natlab.Site {
	tb.Helper()
	s := natlab.Site{Name: name, NAT: nat}
	if spec != "" {
		if err := s.Link.SetSpec(spec); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

var delay20 = core.Params{Delay: 20 * time.Millisecond}

// echo runs a UDP echo server on the lab's server until the test ends.
func echo(tb testing.TB, server *natlab.Node) netip.AddrPort {
	tb.Helper()
	c := listenUDP(tb, server, netip.AddrPortFrom(server.Addr(true), 0))
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestLinkDelay checks that a round trip through two links of 20 ms each
// takes 80 ms ± 2 ms.
func TestLinkDelay(t *testing.T) {
	lab := labtest.New(t, natlab.Config{
		Sites:      []natlab.Site{linkSite(t, "natA", natlab.PortRestricted, "delay=20ms")},
		ServerLink: natlab.LinkParams{Up: delay20, Down: delay20},
	})
	host := labtest.Node(t, lab, "a")
	to := echo(t, labtest.Node(t, lab, "server"))
	c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(true), 0))
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range 50 {
		start := time.Now()
		c.WriteToUDPAddrPort([]byte{byte(i)}, to)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	median := rtts[len(rtts)/2]
	t.Logf("round trip: min %v, median %v, max %v", rtts[0], median, rtts[len(rtts)-1])
	if median < 78*time.Millisecond || median > 82*time.Millisecond {
		t.Errorf("median round trip %v, want 80 ms ± 2 ms", median)
	}
}

// blast sends n numbered datagrams from host to to, in bursts, and returns
// the numbers the receiver saw in arrival order.
func blast(tb testing.TB, host *natlab.Node, rx *net.UDPConn, n int) []uint32 {
	tb.Helper()
	rx.SetReadBuffer(8 << 20)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	tx := listenUDP(tb, host, netip.AddrPortFrom(host.Addr(true), 0))
	done := make(chan []uint32)
	go func() {
		var got []uint32
		buf := make([]byte, 64)
		for {
			rx.SetReadDeadline(time.Now().Add(time.Second))
			m, _, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				done <- got
				return
			}
			if m >= 4 {
				got = append(got, binary.BigEndian.Uint32(buf))
			}
		}
	}()
	msg := make([]byte, 64)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := tx.WriteToUDPAddrPort(msg, to); err != nil {
			tb.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	return <-done
}

// TestLinkLossDupReorder checks that loss, duplication and reordering
// happen at the rates set, as a receiver sees them, over 10,000 packets.
func TestLinkLossDupReorder(t *testing.T) {
	const n = 10000
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{
		linkSite(t, "natA", natlab.PortRestricted, "up.loss=5%"),
		linkSite(t, "natB", natlab.PortRestricted, "up.dup=1%,up.reorder=2%"),
	}})
	server := labtest.Node(t, lab, "server")
	for _, tc := range []struct {
		host               string
		loss, dup, reorder float64
	}{{"a", 0.05, 0, 0}, {"b", 0, 0.01, 0.02}} {
		t.Run(tc.host, func(t *testing.T) {
			rx := listenUDP(t, server, netip.AddrPortFrom(server.Addr(true), 0))
			got := blast(t, labtest.Node(t, lab, tc.host), rx, n)
			seen := map[uint32]bool{}
			var dups, late int
			var highest int64 = -1
			for _, s := range got {
				if seen[s] {
					dups++
					continue
				}
				seen[s] = true
				if int64(s) < highest {
					late++
				}
				highest = max(highest, int64(s))
			}
			lost := n - len(seen)
			t.Logf("%d sent: %d lost, %d duplicated, %d arrived after a later one", n, lost, dups, late)
			check := func(what string, got int, want, tol float64) {
				if share := float64(got) / n; share < want-tol || share > want+tol {
					t.Errorf("%s: %.2f%%, want %.2f%% ± %.2f%%", what, 100*share, 100*want, 100*tol)
				}
			}
			check("loss", lost, tc.loss, 0.01)
			check("duplication", dups, tc.dup, 0.004)
			check("reordering", late, tc.reorder, 0.006)
		})
	}
}

// TestLinkRate checks that a rate of 100 Mbit/s gives TCP throughput
// within 10% of it.
func TestLinkRate(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{linkSite(t, "natA", natlab.PortRestricted, "rate=100mbit")}})
	got := tcpThroughput(t, labtest.Node(t, lab, "a"), labtest.Node(t, lab, "server"), 3*time.Second)
	t.Logf("%.1f Mbit/s of TCP through a 100 Mbit/s link", got/1e6)
	if got < 90e6 || got > 110e6 {
		t.Errorf("throughput %.1f Mbit/s, want 100 ± 10", got/1e6)
	}
}

// tcpThroughput sends TCP from host to server for d and returns the
// receiver's goodput in bit/s.
func tcpThroughput(tb testing.TB, host, server *natlab.Node, d time.Duration) float64 {
	tb.Helper()
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp4", server.Addr(true).String()+":0"); return err }); err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n       int64
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{}
			return
		}
		start := time.Now()
		n, _ := io.Copy(io.Discard, c)
		done <- result{n, time.Since(start)}
	}()
	var conn net.Conn
	if err := host.Do(func() (err error) { conn, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := conn.Write(buf); err != nil {
			tb.Fatal(err)
		}
	}
	conn.Close()
	r := <-done
	return float64(r.n) * 8 / r.elapsed.Seconds()
}

// pinger sends a numbered datagram to the echo server every 10 ms and
// records when replies come back.
type pinger struct {
	replies chan time.Time
	stop    chan struct{}
}

func startPinger(tb testing.TB, host *natlab.Node, to netip.AddrPort) *pinger {
	tb.Helper()
	c := listenUDP(tb, host, netip.AddrPortFrom(host.Addr(true), 0))
	p := &pinger{replies: make(chan time.Time, 10000), stop: make(chan struct{})}
	go func() {
		buf := make([]byte, 64)
		for {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			p.replies <- time.Now()
		}
	}()
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.WriteToUDPAddrPort([]byte("ping"), to)
			case <-p.stop:
				return
			}
		}
	}()
	tb.Cleanup(func() { close(p.stop) })
	return p
}

// times returns the arrival times of the replies received so far.
func (p *pinger) times() []time.Time {
	var ts []time.Time
	for {
		select {
		case r := <-p.replies:
			ts = append(ts, r)
		default:
			return ts
		}
	}
}

// count returns how many times fall in [from, to).
func count(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// TestBlackhole checks that a blackholed link passes nothing for the time
// set and then recovers.
func TestBlackhole(t *testing.T) {
	for _, fault := range []natlab.Fault{natlab.Blackhole, natlab.Restart} {
		t.Run(string(fault), func(t *testing.T) {
			lab := labtest.New(t, natlab.Config{})
			host := labtest.Node(t, lab, "a")
			p := startPinger(t, host, echo(t, labtest.Node(t, lab, "server")))
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			if err := lab.Inflict(context.Background(), "natA", fault, time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			ts := p.times()
			before := count(ts, start.Add(-300*time.Millisecond), start)
			// Replies already in flight may land just after the start.
			during := count(ts, start.Add(50*time.Millisecond), start.Add(950*time.Millisecond))
			after := count(ts, start.Add(1100*time.Millisecond), start.Add(1500*time.Millisecond))
			t.Logf("replies: %d before, %d during, %d after", before, during, after)
			if before < 20 || during != 0 || after < 25 {
				t.Errorf("want replies before (got %d), none during the fault (got %d), and again after (got %d)", before, during, after)
			}
		})
	}
}

// TestFlushAndRebind checks that flush-nat gives a flow a new mapping on a
// NAT with random ports, and that rebind moves flows to the NAT's other
// public address.
func TestFlushAndRebind(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{
		{Name: "natA", NAT: natlab.Symmetric}, {Name: "natB", NAT: natlab.PortRestricted},
	}})
	obs := newObserver(t, labtest.Node(t, lab, "server"), true)
	ctx := context.Background()

	a := labtest.Node(t, lab, "a")
	c := listenUDP(t, a, netip.AddrPortFrom(a.Addr(true), 0))
	m1, m2 := obs.probe(t, c, 0, 0), obs.probe(t, c, 0, 0)
	if m1 != m2 {
		t.Fatalf("mapping changed without a fault: %v, %v", m1, m2)
	}
	if err := lab.Inflict(ctx, "natA", natlab.FlushNAT, 0); err != nil {
		t.Fatal(err)
	}
	if m3 := obs.probe(t, c, 0, 0); m3 == m1 {
		t.Errorf("flush-nat: mapping %v unchanged", m3)
	}

	b := labtest.Node(t, lab, "b")
	c = listenUDP(t, b, netip.AddrPortFrom(b.Addr(true), 0))
	before := obs.probe(t, c, 0, 0)
	if err := lab.Inflict(ctx, "natB", natlab.Rebind, 0); err != nil {
		t.Fatal(err)
	}
	after := obs.probe(t, c, 0, 0)
	t.Logf("rebind: %v -> %v", before, after)
	if after.Addr() == before.Addr() || after.Addr() != b.PublicAddr(true) {
		t.Errorf("rebind: public address %v -> %v, want a move to %v", before, after, b.PublicAddr(true))
	}
	if err := lab.Inflict(ctx, "natB", natlab.Rebind, 0); err != nil {
		t.Fatal(err)
	}
	if back := obs.probe(t, c, 0, 0); back.Addr() != before.Addr() {
		t.Errorf("second rebind: %v, want back on %v", back, before.Addr())
	}
}

// TestPcap checks that --pcap writes each link's packets, both directions.
func TestPcap(t *testing.T) {
	dir := t.TempDir()
	lab := labtest.New(t, natlab.Config{PcapDir: dir})
	host := labtest.Node(t, lab, "a")
	to := echo(t, labtest.Node(t, lab, "server"))
	c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(true), 0))
	buf := make([]byte, 64)
	for range 10 {
		c.WriteToUDPAddrPort([]byte("captured"), to)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"natA", "server"} {
		f, err := os.Open(filepath.Join(dir, link+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("%s.pcap: %v", link, err)
		}
		var count int
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			if bytes.HasSuffix(data, []byte("captured")) {
				count++
			}
		}
		f.Close()
		if count != 20 {
			t.Errorf("%s.pcap holds %d of the 20 datagrams (10 each way)", link, count)
		}
	}
}
