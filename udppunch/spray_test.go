package udppunch_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/udppunch"
)

// TestSpray plays the birthday technique on loopback: the "hard" side
// keeps 64 sockets on consecutive ports punching toward the easy side,
// which knows none of them and sprays random ports of a range twice as
// large; it finds one, and that socket and the easy side complete.
func TestSpray(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	const n = 64
	var hard []*net.UDPConn
	base := 0
	for try := 47000; try < 60000 && hard == nil; try += 2 * n {
		var socks []*net.UDPConn
		for i := range n {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, uint16(try+i))))
			if err != nil {
				break
			}
			socks = append(socks, c)
		}
		if len(socks) == n {
			hard, base = socks, try
		} else {
			for _, c := range socks {
				c.Close()
			}
		}
	}
	if hard == nil {
		t.Fatal("no free range of 64 ports")
	}
	for _, c := range hard {
		t.Cleanup(func() { c.Close() })
	}
	easy := listen(t, nil, netip.AddrPortFrom(lo, 0))
	easyAddr := easy.LocalAddr().(*net.UDPAddr).AddrPort()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type win struct {
		i int
		r *udppunch.Result
	}
	wins := make(chan win, n)
	hardCtx, stopHard := context.WithCancel(ctx)
	defer stopHard()
	for i, c := range hard {
		go func() {
			r, err := udppunch.Punch(hardCtx, c, "k", []netip.AddrPort{easyAddr}, &udppunch.Config{TTL: -1})
			if err == nil {
				wins <- win{i, r}
			}
		}()
	}
	spray := &udppunch.Spray{Addr: lo, Low: uint16(base), High: uint16(base + 2*n - 1)}
	r, err := udppunch.Punch(ctx, easy, "k", nil, &udppunch.Config{TTL: -1, Spray: spray})
	if err != nil {
		t.Fatal(err)
	}
	var w win
	select {
	case w = <-wins:
	case <-ctx.Done():
		t.Fatal("no hard socket completed")
	}
	stopHard()
	// Several hard sockets may be found and complete; the hard side uses
	// the first, and opens the tunnel from it (the easy side accepts from
	// any of them).
	if w.r.Peer != easyAddr {
		t.Errorf("hard socket %d reached %v, want %v", w.i, w.r.Peer, easyAddr)
	}
	if p := int(r.Peer.Port()); r.Peer.Addr() != lo || p < base || p >= base+n {
		t.Errorf("easy side reached %v, not one of the hard sockets", r.Peer)
	}
}
