package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/testkit"
)

const testKey = "7k3q-m9xd-2f8h-tp4w-c6rn"

// families are the address families every loopback test runs over.
var families = []struct {
	name    string
	network string
	addr    string
}{
	{"ipv4", "udp4", "127.0.0.1:0"},
	{"ipv6", "udp6", "[::1]:0"},
}

// size returns n bytes of test data, scaled down under -race or -short.
func size(n int) int { return testkit.Size(n, 64<<10) }

// testConfig is the Config of most tests: defaults with a short
// handshake timeout.
func testConfig() *Config { return &Config{HandshakeTimeout: 5 * time.Second} }

// listenUDP opens a loopback UDP socket, closed at cleanup.
func listenUDP(tb testing.TB, network, addr string) *net.UDPConn {
	tb.Helper()
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := net.ListenUDP(network, ua)
	if err != nil {
		tb.Skipf("no %s loopback here: %v", network, err)
	}
	tb.Cleanup(func() { pc.Close() })
	return pc
}

// addrOf returns a socket's local address.
func addrOf(pc net.PacketConn) netip.AddrPort { return addrPort(pc.LocalAddr()) }

// pairResult is what Dial or Accept returned.
type pairResult struct {
	c   *Conn
	err error
}

// dialAccept runs Dial on pcA (towards to, or pcB's address if to is
// invalid) and Accept on pcB at once, and returns both results; tunnels
// are closed at cleanup.
func dialAccept(tb testing.TB, pcA, pcB net.PacketConn, to netip.AddrPort, keyA, keyB string, cfgA, cfgB *Config) (a, b pairResult) {
	tb.Helper()
	if !to.IsValid() {
		to = addrOf(pcB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan pairResult, 1)
	go func() {
		c, err := Accept(ctx, pcB, keyB, cfgB)
		done <- pairResult{c, err}
	}()
	c, err := Dial(ctx, pcA, to, keyA, cfgA)
	a = pairResult{c, err}
	b = <-done
	for _, r := range []pairResult{a, b} {
		if r.c != nil {
			tb.Cleanup(func() { r.c.Close() })
		}
	}
	return a, b
}

// acceptOn runs srv.Accept with the test key in the background.
func acceptOn(srv *Transport) <-chan pairResult {
	done := make(chan pairResult, 1)
	go func() {
		c, err := srv.Accept(context.Background(), testKey)
		done <- pairResult{c, err}
	}()
	return done
}

// dialTransport opens a tunnel from a new loopback socket to srv and
// returns its dialled and accepted ends, closed at cleanup.
func dialTransport(tb testing.TB, srv *Transport) (client, server *Conn) {
	tb.Helper()
	done := acceptOn(srv)
	c, err := Dial(context.Background(), listenUDP(tb, "udp4", "127.0.0.1:0"), srv.LocalAddr(), testKey, testConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := <-done
	if r.err != nil {
		tb.Fatal(r.err)
	}
	tb.Cleanup(func() { r.c.Close() })
	return c, r.c
}

// tunnelPair returns the two ends of a tunnel over loopback: a dialled, b
// accepted.
func tunnelPair(tb testing.TB, network, addr string, cfg *Config) (a, b *Conn) {
	tb.Helper()
	ra, rb := dialAccept(tb, listenUDP(tb, network, addr), listenUDP(tb, network, addr),
		netip.AddrPort{}, testKey, testKey, cfg, cfg)
	if ra.err != nil || rb.err != nil {
		tb.Fatalf("dial: %v; accept: %v", ra.err, rb.err)
	}
	return ra.c, rb.c
}

// random returns n random bytes.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// echo copies everything c reads back to it, then half-closes and closes
// it.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(interface{ CloseWrite() error }).CloseWrite()
	c.Close()
}

// serveEcho accepts streams on m and echoes each until Accept fails.
func serveEcho(c *Conn) {
	for {
		st, err := c.Accept(context.Background())
		if err != nil {
			return
		}
		go echo(st)
	}
}

// roundTrip sends data on st while reading the echo, half-closes, and
// checks the echo matches.
func roundTrip(tb testing.TB, st net.Conn, data []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(st, bytes.NewReader(data))
		if err == nil {
			err = st.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, st)
	if werr := <-errc; werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if want := sha256.Sum256(data); n != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		return fmt.Errorf("echo differs: got %d bytes, want %d (or the hashes differ)", n, len(data))
	}
	return nil
}

// waitDone waits up to d for c's Done.
func waitDone(tb testing.TB, c *Conn, d time.Duration) {
	tb.Helper()
	select {
	case <-c.Done():
	case <-time.After(d):
		tb.Fatalf("Done did not fire within %v", d)
	}
}

// proxy is a UDP relay between a client and a server that plays a NAT:
// it can move its server-facing side to a new port (NAT rebinding) and
// drop everything (a path that broke).
type proxy struct {
	front  *net.UDPConn // the client talks to this
	target netip.AddrPort
	client atomic.Pointer[netip.AddrPort]
	drop   atomic.Bool

	mu   sync.Mutex
	back *net.UDPConn // the current server-facing socket
	wg   sync.WaitGroup
}

// newProxy starts a proxy to target; it stops at cleanup.
func newProxy(tb testing.TB, network, addr string, target netip.AddrPort) *proxy {
	tb.Helper()
	p := &proxy{front: listenUDP(tb, network, addr), target: target}
	p.back = p.newBack(tb, network, addr)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := p.front.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			p.client.Store(&from)
			if p.drop.Load() {
				continue
			}
			p.mu.Lock()
			back := p.back
			p.mu.Unlock()
			back.WriteToUDPAddrPort(buf[:n], p.target)
		}
	}()
	tb.Cleanup(func() {
		p.front.Close()
		p.mu.Lock()
		p.back.Close()
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// newBack opens a server-facing socket and relays what it receives to the
// client until it is closed.
func (p *proxy) newBack(tb testing.TB, network, addr string) *net.UDPConn {
	tb.Helper()
	ua, _ := net.ResolveUDPAddr(network, addr)
	back, err := net.ListenUDP(network, ua)
	if err != nil {
		tb.Fatal(err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := back.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if c := p.client.Load(); c != nil && !p.drop.Load() {
				p.front.WriteToUDPAddrPort(buf[:n], *c)
			}
		}
	}()
	return back
}

// rebind moves the server-facing side to a new port and forgets the old
// one, as a NAT that rebinds does; it returns the new address.
func (p *proxy) rebind(tb testing.TB, network, addr string) netip.AddrPort {
	tb.Helper()
	back := p.newBack(tb, network, addr)
	p.mu.Lock()
	old := p.back
	p.back = back
	p.mu.Unlock()
	old.Close()
	return addrOf(back)
}

// backAddr returns the current server-facing address.
func (p *proxy) backAddr() netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return addrOf(p.back)
}
