package natlab_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/core"
	"github.com/punchkit/punch/natlab/labtest"
	"golang.org/x/sys/unix"
)

// TestLowTTL checks that the internet is routed: a datagram sent with a TTL
// of 2 opens its sender's NAT mapping, then expires in the core before it
// reaches the other side.
func TestLowTTL(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{{Name: "natA", NAT: natlab.PortRestricted}}})
	host, server := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "server")
	for _, is4 := range []bool{true, false} {
		t.Run(network(is4), func(t *testing.T) {
			srv := listenUDP(t, server, netip.AddrPortFrom(server.Addr(is4), 0))
			c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(is4), 0))
			public := netip.AddrPortFrom(host.PublicAddr(is4), c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
			srvAddr := srv.LocalAddr().(*net.UDPAddr).AddrPort()

			// Before anything was sent, the NAT drops the server's datagram.
			srv.WriteToUDPAddrPort([]byte("early"), public)
			if got := received(c, 200*time.Millisecond); len(got) != 0 {
				t.Fatalf("an unsolicited datagram passed a port-restricted NAT: %v", got)
			}
			setTTL(t, c, is4, 2)
			c.WriteToUDPAddrPort([]byte("low"), srvAddr)
			if got := received(srv, 200*time.Millisecond); len(got) != 0 {
				t.Fatalf("a datagram with TTL 2 reached the server: %v", got)
			}
			srv.WriteToUDPAddrPort([]byte("late"), public)
			if got := received(c, time.Second); !got[srvAddr] {
				t.Fatalf("the TTL-2 datagram did not open the mapping for the server's reply")
			}

			// The core answers an expiring packet with ICMP time exceeded
			// from its own address on the link, which the NAT translates
			// back to the host.
			args := []string{"-c1", "-W2", "-t2", server.Addr(is4).String()}
			if !is4 {
				args = append([]string{"-6"}, args...)
			}
			out, _ := host.Command(context.Background(), "ping", args...).CombinedOutput()
			core := map[bool]string{true: "From 203.0.113.9 ", false: "From 2001:db8:0:1::1 "}[is4]
			if !strings.Contains(string(out), core) || !strings.Contains(strings.ToLower(string(out)), "exceeded") {
				t.Errorf("ping with TTL 2: want time exceeded from the core:\n%s", out)
			}
		})
	}
}

func setTTL(tb testing.TB, c *net.UDPConn, is4 bool, ttl int) {
	tb.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		if is4 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
		}
	})
	if serr != nil {
		tb.Fatal(serr)
	}
}

// TestHairpin checks that a hairpinning NAT loops a datagram to its own
// public address back to the LAN host that owns the mapping, and that a
// NAT without hairpinning does not. (Between two sockets of one host the
// lab does not hairpin: Linux does not forward a packet whose source and
// destination addresses are equal after translation.)
func TestHairpin(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{
		{Name: "natA", NAT: natlab.FullCone, Hairpin: true, Hosts: []string{"a", "a2"}},
		{Name: "natB", NAT: natlab.FullCone, Hosts: []string{"b", "b2"}},
	}})
	server := labtest.Node(t, lab, "server")
	for _, is4 := range []bool{true, false} {
		obs := newObserver(t, server, is4)
		for _, tc := range []struct {
			from, to string
			want     bool
		}{{"a", "a2", true}, {"a2", "a", true}, {"b", "b2", false}} {
			t.Run(network(is4)+"/"+tc.from+"-"+tc.to, func(t *testing.T) {
				src := listenUDP(t, labtest.Node(t, lab, tc.from), netip.AddrPortFrom(labtest.Node(t, lab, tc.from).Addr(is4), 0))
				dst := listenUDP(t, labtest.Node(t, lab, tc.to), netip.AddrPortFrom(labtest.Node(t, lab, tc.to).Addr(is4), 0))
				srcPublic := obs.probe(t, src, 0, 0)
				dstPublic := obs.probe(t, dst, 0, 0)
				src.WriteToUDPAddrPort([]byte("hairpin"), dstPublic)
				got := received(dst, 300*time.Millisecond)
				if got[srcPublic] != tc.want {
					t.Errorf("hairpinned datagram from %v arrived = %v, want %v (got %v)", srcPublic, got[srcPublic], tc.want, got)
				}
			})
		}
	}
}

// TestNoPortPreservation checks that an endpoint-independent NAT without
// port preservation keeps one public port for every destination, and that
// it differs from the local port.
func TestNoPortPreservation(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{{Name: "natA", NAT: natlab.PortRestricted, NoPortPreservation: true}}})
	host, server := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "server")
	for _, is4 := range []bool{true, false} {
		obs := newObserver(t, server, is4)
		t.Run(network(is4), func(t *testing.T) {
			c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(is4), 0))
			local := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			m0, m1 := obs.probe(t, c, 0, 0), obs.probe(t, c, 1, 1)
			if m0 != m1 {
				t.Errorf("mapping differs by destination: %v, %v", m0, m1)
			}
			if m0.Port() == local {
				t.Errorf("public port %d equals the local port", local)
			}
		})
	}
}

// TestRate checks that --rate limits a site's link: TCP from the host to
// the server moves at about the rate set.
func TestRate(t *testing.T) {
	const mbit = 40
	site := natlab.Site{Name: "natA"}
	if err := site.Link.SetSpec("rate=40mbit"); err != nil {
		t.Fatal(err)
	}
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{site}})
	host, server := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "server")
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp4", server.Addr(true).String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	var conn net.Conn
	if err := host.Do(func() (err error) { conn, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		if _, err := conn.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	n := <-done
	got := float64(n) * 8 / time.Since(start).Seconds() / 1e6
	t.Logf("%.1f Mbit/s through a %d Mbit/s link", got, mbit)
	if got < mbit*0.8 || got > mbit*1.1 {
		t.Errorf("throughput %.1f Mbit/s, want about %d", got, mbit)
	}
}

// TestCloseLeavesNothing checks that tearing a lab down removes its
// namespaces, its processes and its record, and that a lab name is unique.
func TestCloseLeavesNothing(t *testing.T) {
	if err := natlab.CheckSupported(); err != nil && !labtest.Required() {
		t.Skipf("skipping lab test: %v", err)
	}
	lab := labtest.New(t, natlab.Config{})
	if _, err := natlab.New(context.Background(), lab.Config, nil); err == nil {
		t.Fatal("a second lab with the same name was built")
	}
	host := labtest.Node(t, lab, "a")
	sleep := host.Command(context.Background(), "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleep.Wait() }()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Error("a process in the lab survived Close")
	}
	out, _ := host.Command(context.Background(), "true").CombinedOutput()
	if !strings.Contains(string(out), "Cannot open network namespace") {
		t.Errorf("the host's namespace survived Close: %q", out)
	}
	if _, err := os.Stat(natlab.StateDir + "/" + lab.Config.Name + ".json"); !os.IsNotExist(err) {
		t.Errorf("the lab's record survived Close: %v", err)
	}
	if _, err := natlab.Open(lab.Config.Name); err == nil {
		t.Error("Open found a closed lab")
	}
}

// TestCoalescing checks that a burst of datagrams of one flow reaches a
// host's socket that asks for it (UDP_GRO) merged, as from a network card
// with GRO: the core writes what leaves a link together to the site's TUN
// device in one batch, coalesced. The server sends 50 datagrams of 1200
// bytes at once (one GSO send) over a 1 Gbit/s link, and host a, behind
// its NAT, reads some of them together in one message that carries their
// segment size. punch's QUIC tunnel reads so (third_party/quic-go).
func TestCoalescing(t *testing.T) {
	lab := labtest.New(t, natlab.Config{Sites: []natlab.Site{{Name: "natA", NAT: natlab.PortRestricted,
		Link: natlab.LinkParams{Down: core.Params{Rate: 1e9}}}}})
	host, server := labtest.Node(t, lab, "a"), labtest.Node(t, lab, "server")
	srv := listenUDP(t, server, netip.AddrPortFrom(server.Addr(true), 0))
	c := listenUDP(t, host, netip.AddrPortFrom(host.Addr(true), 0))
	setsockopt(t, c, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	// Open the NAT's mapping and learn it.
	if _, err := c.WriteToUDPAddrPort([]byte("hello"), srv.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, public, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}

	const segSize, segs = 1200, 50
	burst := make([]byte, segSize*segs)
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], segSize)
	if _, _, err := srv.WriteMsgUDPAddrPort(burst, oob, public); err != nil {
		t.Fatal(err)
	}

	got, most := 0, 0
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for got < len(burst) {
		ctl := make([]byte, 64)
		n, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, ctl)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, len(burst), err)
		}
		got += n
		msgs, err := unix.ParseSocketControlMessage(ctl[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_GRO {
				if seg := int(binary.NativeEndian.Uint32(m.Data)); seg != segSize {
					t.Fatalf("segment size %d, want %d", seg, segSize)
				}
			}
		}
		most = max(most, n/segSize)
	}
	if most < 2 {
		t.Fatalf("every datagram of the burst arrived on its own: the lab does not coalesce")
	}
	t.Logf("up to %d datagrams in one message", most)
}

// setsockopt sets an integer socket option on c.
func setsockopt(tb testing.TB, c *net.UDPConn, level, opt, value int) {
	tb.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) })
	if serr != nil {
		tb.Fatal(serr)
	}
}
