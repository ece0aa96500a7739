package punch

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/internal/udpbatch"
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
	pc *net.UDPConn
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
func (c *pathConn) setDirect(pc *net.UDPConn, peer netip.AddrPort) {
	// The relay's reader from now on reads one datagram at a time.
	udpbatch.StopGRO(c.relay)
	c.direct.Store(&directPath{pc: pc, to: net.UDPAddrFromAddrPort(peer)})
	go c.read(pc, peer)
	c.relay.SetReadDeadline(aLongTimeAgo) // wakes a read of the relay
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
		n, from, err := c.relay.ReadFrom(p)
		switch a, _ := netaddr.AddrPort(from); {
		case err == nil && a == c.peer:
			return n, from, nil
		case err == nil:
			continue
		}
		if err := c.relayFailed(err); err != nil {
			return 0, nil, err
		}
	}
	c.readRelay()
	d, err := c.next()
	if err != nil {
		return 0, nil, err
	}
	n := copy(p, d.b[:d.n])
	datagrams.Put(d.b)
	return n, net.UDPAddrFromAddrPort(c.peer), nil
}

// relayFailed tells what a read of the relay that failed with err means,
// before the move: nil to read again (the deadline moved meanwhile, or
// setDirect interrupted the read and the caller goes on with both paths),
// or the error to return.
func (c *pathConn) relayFailed(err error) error {
	c.mu.Lock()
	deadline := c.deadline
	c.mu.Unlock()
	switch {
	case c.closed():
		return net.ErrClosed
	case c.moved():
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && (deadline.IsZero() || time.Now().Before(deadline)):
		// The deadline moved meanwhile (SetReadDeadline sets the relay's
		// own deadline too): read again.
		return nil
	}
	return err
}

// next returns the next datagram from the input queue, once the traffic
// has moved, waiting until the read deadline.
func (c *pathConn) next() (datagram, error) {
	for {
		c.mu.Lock()
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return datagram{}, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var (
			d   datagram
			err error
			got bool
		)
		select {
		case d = <-c.in:
			got = true
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
			return d, nil
		case err != nil:
			return datagram{}, err
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

// packetConn returns what a tunnel runs on: c, or, where the relay is a
// UDP socket of this host (the pair relay's), c with the fast paths of
// that socket, which quic-go uses: batched reads (recvmmsg) and writes
// with segmentation offload (GSO, one system call for many packets). In
// the lab, where every packet crosses two NATs and a router, GSO cuts
// the kernel's cost per packet several times.
func (c *pathConn) packetConn() net.PacketConn {
	u, ok := c.relay.(*net.UDPConn)
	if !ok {
		return c
	}
	return &udpPathConn{pathConn: c, sock: u, batch: ipv4.NewPacketConn(u)}
}

// udpPathConn is a pathConn over a UDP socket, with the methods by which
// quic-go takes a connection for a UDP socket of its own: before the move
// it reads the socket in batches and writes it with the control messages
// quic-go gives (GSO, ECN, the source address); after the move it writes
// the direct socket so and reads the input queue.
type udpPathConn struct {
	*pathConn
	sock  *net.UDPConn
	batch *ipv4.PacketConn
}

// ReadBatch reads up to len(ms) datagrams. Before the move, datagrams
// from anyone but the peer come back empty, for QUIC to drop.
func (c *udpPathConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	for !c.moved() {
		n, err := c.batch.ReadBatch(ms, flags)
		if err == nil {
			for i := range ms[:n] {
				if a, _ := netaddr.AddrPort(ms[i].Addr); a != c.peer {
					ms[i].N, ms[i].NN = 0, 0
				}
			}
			return n, nil
		}
		if err := c.relayFailed(err); err != nil {
			return 0, err
		}
	}
	c.readRelay()
	peer := net.UDPAddrFromAddrPort(c.peer)
	n := 0
	for n < len(ms) {
		var d datagram
		if n == 0 {
			var err error
			if d, err = c.next(); err != nil {
				return 0, err
			}
		} else {
			select {
			case d = <-c.in:
			default:
				return n, nil
			}
		}
		m := &ms[n]
		m.N, m.NN, m.Flags, m.Addr = copy(m.Buffers[0], d.b[:d.n]), 0, 0, peer
		datagrams.Put(d.b)
		n++
	}
	return n, nil
}

// ReadMsgUDP reads one datagram, without control messages.
func (c *udpPathConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, from, err := c.ReadFrom(b)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return n, 0, 0, from.(*net.UDPAddr), nil
}

// WriteMsgUDP sends b, with the control messages oob, to the peer: to the
// relay before the move, on the direct path after it.
func (c *udpPathConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	select {
	case <-c.done:
		return 0, 0, net.ErrClosed
	default:
	}
	if d := c.direct.Load(); d != nil {
		return d.pc.WriteMsgUDP(b, oob, d.to)
	}
	return c.sock.WriteMsgUDP(b, oob, addr)
}

// SyscallConn returns the relay socket's, for quic-go to read its options.
func (c *udpPathConn) SyscallConn() (syscall.RawConn, error) { return c.sock.SyscallConn() }

// SetReadBuffer sets the relay socket's receive buffer.
func (c *udpPathConn) SetReadBuffer(n int) error { return c.sock.SetReadBuffer(n) }

func (c *pathConn) SetWriteDeadline(time.Time) error { return nil }
