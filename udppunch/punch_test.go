package udppunch_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/stunserver"
	"github.com/punchkit/punch/udppunch"
)

func listen(tb testing.TB, n *natlab.Node, addr netip.AddrPort) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	do := func(f func() error) error { return f() }
	if n != nil {
		do = n.Do
	}
	err := do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

type outcome struct {
	r   *udppunch.Result
	err error
}

// punchPair punches from two sockets at once and checks the results agree.
func punchPair(tb testing.TB, pcs [2]*net.UDPConn, keys [2]string, peers [2][]netip.AddrPort, cfg *udppunch.Config) [2]outcome {
	tb.Helper()
	ch := make(chan struct {
		i int
		o outcome
	}, 2)
	for i := range 2 {
		go func() {
			r, err := udppunch.Punch(context.Background(), pcs[i], keys[i], peers[i], cfg)
			ch <- struct {
				i int
				o outcome
			}{i, outcome{r, err}}
		}()
	}
	var out [2]outcome
	for range 2 {
		x := <-ch
		out[x.i] = x.o
	}
	return out
}

func checkPair(tb testing.TB, out [2]outcome) {
	tb.Helper()
	for i, o := range out {
		if o.err != nil {
			tb.Fatalf("side %d: %v", i, o.err)
		}
	}
	if out[0].r.Initiator == out[1].r.Initiator {
		tb.Errorf("both sides initiator = %v", out[0].r.Initiator)
	}
}

func TestLoopback(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, b := listen(t, nil, netip.AddrPortFrom(lo, 0)), listen(t, nil, netip.AddrPortFrom(lo, 0))
	pa, pb := a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort()
	out := punchPair(t, [2]*net.UDPConn{a, b}, [2]string{"k", "k"}, [2][]netip.AddrPort{{pb}, {pa}}, nil)
	checkPair(t, out)
	if out[0].r.Peer != pb || out[1].r.Peer != pa {
		t.Errorf("peers %v, %v", out[0].r.Peer, out[1].r.Peer)
	}
}

// TestWrongKey checks that probes under another key are ignored: neither
// side completes.
func TestWrongKey(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, b := listen(t, nil, netip.AddrPortFrom(lo, 0)), listen(t, nil, netip.AddrPortFrom(lo, 0))
	pa, pb := a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort()
	out := punchPair(t, [2]*net.UDPConn{a, b}, [2]string{"one", "two"}, [2][]netip.AddrPort{{pb}, {pa}}, &udppunch.Config{Timeout: 500 * time.Millisecond})
	for i, o := range out {
		if o.err == nil {
			t.Errorf("side %d completed a punch with a peer of another key", i)
		}
	}
}

// TestLab punches between hosts behind every pairing of the port-
// preserving NAT types, and through port-restricted NATs that drop,
// reject or accept unsolicited packets, over IPv4 and IPv6; the peers are
// told each other's public address and the port both bind (the seed's
// serverless mode).
func TestLab(t *testing.T) {
	type tc struct {
		name string
		a, b natlab.Site
	}
	var cases []tc
	types := []natlab.NATType{natlab.FullCone, natlab.Restricted, natlab.PortRestricted, natlab.Firewall}
	for i, x := range types {
		for _, y := range types[i:] {
			cases = append(cases, tc{fmt.Sprintf("%s-%s", x, y), natlab.Site{Name: "natA", NAT: x}, natlab.Site{Name: "natB", NAT: y}})
		}
	}
	for _, in := range natlab.Inputs {
		for _, delay := range []string{"0ms", "20ms"} {
			a := natlab.Site{Name: "natA", Input: in}
			b := natlab.Site{Name: "natB", Input: in}
			a.Link.SetSpec("delay=" + delay)
			b.Link.SetSpec("delay=" + delay)
			cases = append(cases, tc{fmt.Sprintf("portrestricted-%s-%s", in, delay), a, b})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{c.a, c.b}})
			ha, hb := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "b")
			for _, is4 := range []bool{true, false} {
				const port = 5555
				a := listen(t, ha, netip.AddrPortFrom(ha.Addr(is4), port))
				b := listen(t, hb, netip.AddrPortFrom(hb.Addr(is4), port))
				peers := [2][]netip.AddrPort{{netip.AddrPortFrom(hb.PublicAddr(is4), port)}, {netip.AddrPortFrom(ha.PublicAddr(is4), port)}}
				out := punchPair(t, [2]*net.UDPConn{a, b}, [2]string{"lab-key", "lab-key"}, peers, &udppunch.Config{Timeout: 5 * time.Second})
				checkPair(t, out)
				a.Close()
				b.Close()
			}
		})
	}
}

// TestLabSTUN punches between hosts behind NATs that do not preserve
// ports, and with a sequential symmetric NAT on one side: each side learns
// its public address by STUN on the very socket it punches from, and the
// restricted side learns the symmetric side's real port from its packets.
func TestLabSTUN(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b natlab.Site
	}{
		{"no-preservation", natlab.Site{Name: "natA", NAT: natlab.PortRestricted, NoPortPreservation: true}, natlab.Site{Name: "natB", NAT: natlab.Restricted, NoPortPreservation: true}},
		{"symmetric-seq-restricted", natlab.Site{Name: "natA", NAT: natlab.SymmetricSeq}, natlab.Site{Name: "natB", NAT: natlab.Restricted}},
		{"symmetric-fullcone", natlab.Site{Name: "natA", NAT: natlab.Symmetric}, natlab.Site{Name: "natB", NAT: natlab.FullCone}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{c.a, c.b}})
			server := labtest.Node(t, lab, "server")
			srvConn := listen(t, server, netip.MustParseAddrPort("198.51.100.2:3478"))
			srv := stunserver.New(nil)
			go srv.ServeUDP(context.Background(), stunserver.UDPSocket{Conn: srvConn})
			t.Cleanup(func() { srv.Close() })
			ha, hb := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "b")
			a := listen(t, ha, netip.AddrPortFrom(ha.Addr(true), 0))
			b := listen(t, hb, netip.AddrPortFrom(hb.Addr(true), 0))
			var mapped [2]netip.AddrPort
			for i, pc := range []*net.UDPConn{a, b} {
				m, err := stun.Bind(context.Background(), pc, netip.MustParseAddrPort("198.51.100.2:3478"), nil)
				if err != nil {
					t.Fatal(err)
				}
				mapped[i] = m
			}
			t.Logf("mapped by STUN: %v", mapped)
			out := punchPair(t, [2]*net.UDPConn{a, b}, [2]string{"k", "k"}, [2][]netip.AddrPort{{mapped[1]}, {mapped[0]}}, &udppunch.Config{Timeout: 5 * time.Second})
			checkPair(t, out)
			t.Logf("a reaches b at %v, b reaches a at %v", out[0].r.Peer, out[1].r.Peer)
		})
	}
}
