package natlab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// observer is a UDP responder on the lab's server: four sockets (two
// addresses, two ports) that answer every datagram with the source address
// they saw, and can send unsolicited datagrams from any of them.
type observer struct {
	socks [2][2]*net.UDPConn // [address][port]
}

func newObserver(tb testing.TB, server *natlab.Node, want4 bool) *observer {
	tb.Helper()
	o := &observer{}
	var addrs []netip.Addr
	for _, a := range server.Addrs {
		if a.Is4() == want4 {
			addrs = append(addrs, a)
		}
	}
	for i, a := range addrs[:2] {
		for j, port := range []uint16{3478, 3479} {
			o.socks[i][j] = listenUDP(tb, server, netip.AddrPortFrom(a, port))
			go o.serve(o.socks[i][j])
		}
	}
	return o
}

func (o *observer) serve(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if string(buf[:n]) == "probe" {
			c.WriteToUDPAddrPort([]byte(from.String()), from)
		}
	}
}

func (o *observer) addr(i, j int) netip.AddrPort {
	return o.socks[i][j].LocalAddr().(*net.UDPAddr).AddrPort()
}

// probe sends a probe from c to the observer socket (i, j) and returns the
// source address the observer saw.
func (o *observer) probe(tb testing.TB, c *net.UDPConn, i, j int) netip.AddrPort {
	tb.Helper()
	buf := make([]byte, 100)
	for try := 0; try < 5; try++ {
		if _, err := c.WriteToUDPAddrPort([]byte("probe"), o.addr(i, j)); err != nil {
			tb.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if from.Addr().Unmap() != o.addr(i, j).Addr() || from.Port() != o.addr(i, j).Port() {
			tb.Fatalf("reply to probe came from %v, not %v", from, o.addr(i, j))
		}
		seen, err := netip.ParseAddrPort(string(buf[:n]))
		if err != nil {
			tb.Fatal(err)
		}
		return seen
	}
	tb.Fatalf("no reply from observer %v", o.addr(i, j))
	return netip.AddrPort{}
}

func listenUDP(tb testing.TB, n *natlab.Node, addr netip.AddrPort) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		c, err = net.ListenUDP(network(addr.Addr().Is4()), net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func network(is4 bool) string {
	if is4 {
		return "udp4"
	}
	return "udp6"
}

// received returns the sources of the datagrams c receives before a short
// deadline.
func received(c *net.UDPConn, d time.Duration) map[netip.AddrPort]bool {
	got := map[netip.AddrPort]bool{}
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(d))
	for {
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return got
		}
		got[netip.AddrPortFrom(from.Addr().Unmap(), from.Port())] = true
	}
}

// behaviour is what a NAT type must show.
type behaviour struct {
	mapping    string // "eim", "random", "sequential"
	preserves  bool   // public port == local port
	translates bool
	fromPort   bool // passes unsolicited packets from a contacted address, other port
	fromAddr   bool // passes unsolicited packets from another address
}

var behaviours = map[natlab.NATType]behaviour{
	natlab.None:           {mapping: "eim", preserves: true, fromPort: true, fromAddr: true},
	natlab.FullCone:       {mapping: "eim", preserves: true, translates: true, fromPort: true, fromAddr: true},
	natlab.Restricted:     {mapping: "eim", preserves: true, translates: true, fromPort: true},
	natlab.PortRestricted: {mapping: "eim", preserves: true, translates: true},
	natlab.Symmetric:      {mapping: "random", translates: true},
	natlab.SymmetricSeq:   {mapping: "sequential", translates: true},
	natlab.Firewall:       {mapping: "eim", preserves: true},
}

// TestNATTypes checks every NAT type's mapping and filtering with real
// packets, over IPv4 and IPv6.
func TestNATTypes(t *testing.T) {
	cfg := natlab.Config{}
	for i, typ := range natlab.NATTypes {
		cfg.Sites = append(cfg.Sites, natlab.Site{Name: fmt.Sprintf("nat%c", 'A'+i), NAT: typ})
	}
	lab := labtest.New(t, cfg)
	server := labtest.Node(t, lab, "server")
	for _, is4 := range []bool{true, false} {
		obs := newObserver(t, server, is4)
		for i, typ := range natlab.NATTypes {
			host := labtest.Node(t, lab, fmt.Sprintf("%c", 'a'+i))
			t.Run(fmt.Sprintf("%s/%s", typ, network(is4)), func(t *testing.T) {
				checkBehaviour(t, obs, host, behaviours[typ], is4)
			})
		}
	}
}

func checkBehaviour(t *testing.T, obs *observer, host *natlab.Node, want behaviour, is4 bool) {
	local := netip.AddrPortFrom(host.Addr(is4), 0)
	c := listenUDP(t, host, local)
	localPort := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	m := []netip.AddrPort{obs.probe(t, c, 0, 0), obs.probe(t, c, 1, 1), obs.probe(t, c, 0, 1)}
	t.Logf("local port %d, mapped %v", localPort, m)
	wantIP := host.Addr(is4)
	if want.translates {
		wantIP = host.PublicAddr(is4)
	}
	for _, a := range m {
		if a.Addr() != wantIP {
			t.Errorf("public address %v, want %v", a.Addr(), wantIP)
		}
	}
	switch want.mapping {
	case "eim":
		if m[0] != m[1] || m[0] != m[2] {
			t.Errorf("mapping %v: want endpoint-independent", m)
		}
	case "random":
		if m[0] == m[1] || m[0] == m[2] || m[1] == m[2] {
			t.Errorf("mapping %v: want a new port per destination", m)
		}
	case "sequential":
		if m[1].Port() != m[0].Port()+1 || m[2].Port() != m[1].Port()+1 {
			t.Errorf("mapping %v: want consecutive ports", m)
		}
	}
	if got := m[0].Port() == localPort; got != want.preserves {
		t.Errorf("port preserved = %v, want %v", got, want.preserves)
	}

	// Filtering, on a fresh socket that has sent only to observer (0, 0).
	c2 := listenUDP(t, host, local)
	mapped := obs.probe(t, c2, 0, 0)
	for _, from := range [][2]int{{0, 1}, {1, 0}} {
		if _, err := obs.socks[from[0]][from[1]].WriteToUDPAddrPort([]byte("unsolicited"), mapped); err != nil {
			t.Fatal(err)
		}
	}
	got := received(c2, 300*time.Millisecond)
	if g := got[obs.addr(0, 1)]; g != want.fromPort {
		t.Errorf("packet from the contacted address, other port: passed = %v, want %v", g, want.fromPort)
	}
	if g := got[obs.addr(1, 0)]; g != want.fromAddr {
		t.Errorf("packet from another address: passed = %v, want %v", g, want.fromAddr)
	}
}

// TestUnsolicited checks what routers do with unsolicited packets sent to
// themselves: drop, reject (RST, ICMP unreachable) or accept (their own
// stack answers and conntrack keeps an entry that takes the public port a
// later outgoing packet wanted).
func TestUnsolicited(t *testing.T) {
	cfg := natlab.Config{}
	for i, in := range natlab.Inputs {
		cfg.Sites = append(cfg.Sites, natlab.Site{Name: fmt.Sprintf("nat%c", 'A'+i), NAT: natlab.PortRestricted, Input: in})
	}
	lab := labtest.New(t, cfg)
	server := labtest.Node(t, lab, "server")
	for _, is4 := range []bool{true, false} {
		obs := newObserver(t, server, is4)
		for i, in := range natlab.Inputs {
			host := labtest.Node(t, lab, fmt.Sprintf("%c", 'a'+i))
			t.Run(fmt.Sprintf("%s/%s", in, network(is4)), func(t *testing.T) {
				checkUnsolicited(t, obs, server, host, in, is4)
			})
		}
	}
}

func checkUnsolicited(t *testing.T, obs *observer, server, host *natlab.Node, in natlab.Input, is4 bool) {
	const port = 31337
	public := netip.AddrPortFrom(host.PublicAddr(is4), port)

	// An unsolicited datagram to the public port the host will use.
	u := obs.socks[0][0]
	if _, err := u.WriteToUDPAddrPort([]byte("unsolicited"), public); err != nil {
		t.Fatal(err)
	}

	// A connected socket sees an ICMP unreachable as ECONNREFUSED.
	var probe *net.UDPConn
	err := server.Do(func() (err error) {
		probe, err = net.DialUDP(network(is4), nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(public.Addr(), port+1)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.Write([]byte("unsolicited"))
	probe.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = probe.Read(make([]byte, 10))
	if got, want := errors.Is(err, syscall.ECONNREFUSED), in != natlab.Drop; got != want {
		t.Errorf("UDP: ICMP unreachable seen = %v (%v), want %v", got, err, want)
	}

	// The host now sends from the port the unsolicited datagram went to,
	// to the address it came from. With accept, conntrack's entry for the
	// unsolicited datagram holds that public port, so the NAT picks
	// another.
	c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(is4), port))
	seen := obs.probe(t, c, 0, 0)
	if got, want := seen.Port() == port, in != natlab.Accept; got != want {
		t.Errorf("UDP: host's port %d kept = %v (seen %v), want %v", port, got, seen, want)
	}

	// TCP: a SYN to a closed public port.
	var tcpErr error
	server.Do(func() error {
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		conn, err := d.Dial("tcp", netip.AddrPortFrom(public.Addr(), port+2).String())
		if conn != nil {
			conn.Close()
		}
		tcpErr = err
		return nil
	})
	refused := errors.Is(tcpErr, syscall.ECONNREFUSED)
	switch {
	case in == natlab.Drop && !os.IsTimeout(tcpErr):
		t.Errorf("TCP: with drop the SYN must go unanswered, got %v", tcpErr)
	case in != natlab.Drop && !refused:
		t.Errorf("TCP: with %s the SYN must be answered by RST, got %v", in, tcpErr)
	}
}
