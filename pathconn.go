package punch

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
)

// pathConn is the packet connection under a relayed QUIC tunnel that can
// move to a direct path without the tunnel noticing: QUIC sees the peer at
// one address (its relayed address) throughout, while pathConn sends to
// the peer through the relay or, once a direct path has been punched
// (setDirect), straight to the peer's address on the punched socket, and
// delivers the peer's packets from either as coming from that one address.
// QUIC takes the change of path for a change of round-trip time; the
// streams of the session carry on. The relay stays up, and packets that
// still come through it are delivered, so the peer may move a moment
// later than this side. Until the move, ReadFrom reads the relay itself;
// after it, a reader goroutine per path feeds a queue.
type pathConn struct {
	relay net.PacketConn // the relay allocation
	peer  netip.AddrPort // the peer's relayed address: the only one QUIC sees
	in    chan datagram
	done  chan struct{}
	once  sync.Once

	direct    atomic.Pointer[directPath]
	relayOnce sync.Once

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

// directPath is a punched path to the peer.
type directPath struct {
	pc net.PacketConn
	to *net.UDPAddr // the peer's address on pc
}

type datagram struct {
	b []byte
	n int
}

var datagrams = sync.Pool{New: func() any { return make([]byte, 2048) }}

func newPathConn(relay net.PacketConn, peer netip.AddrPort) *pathConn {
	return &pathConn{relay: relay, peer: peer, in: make(chan datagram, 256), done: make(chan struct{}), wake: make(chan struct{})}
}

// setDirect moves the traffic to the peer to pc, punched to the peer at
// peer, and delivers the packets from peer on pc. pathConn reads pc from
// now on; until then ReadFrom reads the relay itself, and from now on
// two readers feed it.
func (c *pathConn) setDirect(pc net.PacketConn, peer netip.AddrPort) {
	c.direct.Store(&directPath{pc: pc, to: net.UDPAddrFromAddrPort(peer)})
	go c.read(pc, peer)
	c.relay.SetReadDeadline(aLongTimeAgo) // wakes a ReadFrom on the relay
}

// readRelay hands the relay's reads to a reader goroutine, once the
// traffic has moved; ReadFrom calls it, so that its own read of the relay,
// which setDirect interrupted, has ended.
func (c *pathConn) readRelay() {
	c.relayOnce.Do(func() {
		c.relay.SetReadDeadline(time.Time{})
		go c.read(c.relay, c.peer)
	})
}

// moved reports whether the traffic goes on a direct path.
func (c *pathConn) moved() bool { return c.direct.Load() != nil }

// read moves the packets that come from peer on pc to the input queue
// until pc or c is closed.
func (c *pathConn) read(pc net.PacketConn, peer netip.AddrPort) {
	for {
		b := datagrams.Get().([]byte)
		n, from, err := pc.ReadFrom(b)
		if err != nil {
			datagrams.Put(b)
			if ne, isNet := err.(net.Error); isNet && ne.Timeout() && !c.closed() {
				continue
			}
			return
		}
		if a, valid := netaddr.AddrPort(from); !valid || a != peer {
			datagrams.Put(b)
			continue
		}
		select {
		case c.in <- datagram{b, n}:
		case <-c.done:
			return
		default:
			datagrams.Put(b) // the reader is behind: drop, as a socket would
		}
	}
}

func (c *pathConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *pathConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for !c.moved() {
		c.mu.Lock()
		deadline := c.deadline
		c.mu.Unlock()
		c.relay.SetReadDeadline(deadline)
		n, from, err := c.relay.ReadFrom(p)
		switch a, _ := netaddr.AddrPort(from); {
		case err == nil && a == c.peer:
			return n, from, nil
		case err == nil:
			continue
		case c.closed():
			return 0, nil, net.ErrClosed
		case c.moved():
			// setDirect interrupted the read: go on with both paths,
			// below.
		case errors.Is(err, os.ErrDeadlineExceeded) && !deadline.IsZero() && time.Now().Before(deadline):
			// The deadline moved meanwhile: read again.
		default:
			return n, from, err
		}
	}
	c.readRelay()
	for {
		c.mu.Lock()
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var (
			n   int
			err error
			got bool
		)
		select {
		case d := <-c.in:
			n, got = copy(p, d.b[:d.n]), true
			datagrams.Put(d.b)
		case <-c.done:
			err = net.ErrClosed
		case <-timeout:
			err = os.ErrDeadlineExceeded
		case <-wake:
		}
		if t != nil {
			t.Stop()
		}
		switch {
		case got:
			return n, net.UDPAddrFromAddrPort(c.peer), nil
		case err != nil:
			return 0, nil, err
		}
	}
}

func (c *pathConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	if d := c.direct.Load(); d != nil {
		return d.pc.WriteTo(p, d.to)
	}
	return c.relay.WriteTo(p, addr)
}

// Close stops the readers; it closes neither the relay nor the direct
// socket, which their owners close.
func (c *pathConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.relay.SetReadDeadline(aLongTimeAgo)
		if d := c.direct.Load(); d != nil {
			d.pc.SetReadDeadline(aLongTimeAgo)
		}
	})
	return nil
}

func (c *pathConn) LocalAddr() net.Addr { return c.relay.LocalAddr() }

func (c *pathConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *pathConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	if !c.moved() {
		c.relay.SetReadDeadline(t)
	}
	return nil
}

func (c *pathConn) SetWriteDeadline(time.Time) error { return nil }
