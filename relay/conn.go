package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/punchkit/punch/internal/netaddr"
)

// Conn is an allocation on a relay: a net.PacketConn whose address is the
// relayed transport address, on which any peer the relay allows can reach
// its holder. WriteTo sends a datagram to a peer through the relay and
// ReadFrom returns the peer datagrams the relay passes on, each with the
// peer's address as the relay sees it (its public address, or the peer's
// own relayed address). It works as the socket of a quic.Transport.
//
// The first datagram to a peer's IP waits for the relay to grant a
// permission (one round trip to the relay); later ones are sent at once,
// over a channel (4 bytes of overhead) as soon as pion has bound one,
// through Send indications (36 bytes) before. The Conn refreshes the
// allocation, permissions and channels in the background until Close.
//
// The Conn reads the socket it was allocated on for as long as it is
// open, keeping what the relay sends and dropping datagrams from anyone
// else; the caller must not read the socket meanwhile, but may write to
// it. After Close the socket is the caller's again; Conn never closes it.
//
// Read deadlines work as on a UDP socket; write deadlines are accepted and
// ignored (writes do not block, except the first to a new peer). A
// datagram larger than the buffer given to ReadFrom is dropped. After
// Close, or once the socket fails, reads and writes fail with an error
// wrapping net.ErrClosed.
type Conn struct {
	pc           net.PacketConn
	server       netip.AddrPort
	turn         *turn.Client
	log          *slog.Logger
	closeTimeout time.Duration

	relay   net.PacketConn // pion's allocation, set by start
	relayed netip.AddrPort
	local   *net.UDPAddr // relayed, as LocalAddr returns it

	stopping atomic.Bool   // stopReading is under way
	closing  atomic.Bool   // Close has begun
	released chan struct{} // closed by the reader when the relay answers Close's Refresh
	readDone chan struct{} // closed when the reader returns
	readErr  error         // what stopped the reader, unless stopReading did

	mu       sync.Mutex
	deadline time.Time // read deadline
	failed   bool      // the reader failed
}

// newConn returns a Conn for a pion client and starts reading pc for it.
func newConn(pc net.PacketConn, server netip.AddrPort, tc *turn.Client, cfg *ClientConfig) *Conn {
	c := &Conn{
		pc:           pc,
		server:       server,
		turn:         tc,
		log:          cfg.Logger,
		closeTimeout: cfg.CloseTimeout,
		released:     make(chan struct{}),
		readDone:     make(chan struct{}),
	}
	go c.read()
	return c
}

// start hands the Conn pion's allocation.
func (c *Conn) start(rc net.PacketConn) {
	c.relayed, _ = netaddr.AddrPort(rc.LocalAddr())
	c.local = net.UDPAddrFromAddrPort(c.relayed)
	c.mu.Lock()
	c.relay = rc
	failed := c.failed
	c.mu.Unlock()
	if failed {
		rc.Close()
	}
}

// read passes the datagrams from the relay on to pion until stopReading
// or until the socket fails.
func (c *Conn) read() {
	defer close(c.readDone)
	buf := make([]byte, 64<<10)
	var releasedOnce sync.Once
	for {
		n, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			if !c.stopping.Load() {
				c.fail(err)
			}
			return
		}
		if ap, ok := netaddr.AddrPort(from); !ok || ap != c.server {
			continue
		}
		if c.closing.Load() && isRefreshAnswer(buf[:n]) {
			releasedOnce.Do(func() { close(c.released) })
		}
		if _, err := c.turn.HandleInbound(buf[:n], from); err != nil {
			c.log.Log(context.Background(), levelTrace, "relay: dropped a datagram from the relay", "err", err)
		}
	}
}

// fail ends the Conn after the socket failed: pending transactions and
// readers return.
func (c *Conn) fail(err error) {
	c.log.Debug("relay: reading the socket failed", "relay", c.server, "err", err)
	c.readErr = err
	c.mu.Lock()
	c.failed = true
	rc := c.relay
	c.mu.Unlock()
	c.turn.Close()
	if rc != nil {
		rc.Close()
	}
}

// hasFailed reports whether the socket failed.
func (c *Conn) hasFailed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// stopReading stops the reader and gives pc back, its read deadline
// cleared. It returns what stopped the reader before, if anything did.
func (c *Conn) stopReading() error {
	c.stopping.Store(true)
	c.pc.SetReadDeadline(time.Now())
	<-c.readDone
	c.pc.SetReadDeadline(time.Time{})
	return c.readErr
}

// isRefreshAnswer reports whether b is a response to a Refresh request.
func isRefreshAnswer(b []byte) bool {
	if !stun.IsMessage(b) {
		return false
	}
	var t stun.MessageType
	t.ReadValue(binary.BigEndian.Uint16(b))
	return t.Method == stun.MethodRefresh && (t.Class == stun.ClassSuccessResponse || t.Class == stun.ClassErrorResponse)
}

// ReadFrom reads the next datagram a peer sent through the relay.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if c.deadlinePassed() {
			return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
		}
		n, from, err := c.relay.ReadFrom(p)
		switch {
		case err == nil:
			ap, ok := netaddr.AddrPort(from)
			if !ok {
				continue
			}
			return n, net.UDPAddrFromAddrPort(ap), nil
		case errors.Is(err, io.ErrShortBuffer):
			c.log.Debug("relay: dropped a datagram larger than the read buffer", "buffer", len(p))
		case isTimeout(err):
			// pion's timer fired: the loop checks the deadline, which
			// may have moved since.
		default:
			return 0, nil, c.opErr("read", net.ErrClosed)
		}
	}
}

// deadlinePassed reports whether the read deadline has passed; if so it
// re-arms pion's read timer, which fires once per deadline, so that
// every blocked reader wakes.
func (c *Conn) deadlinePassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deadline.IsZero() || time.Now().Before(c.deadline) {
		return false
	}
	c.relay.SetReadDeadline(c.deadline)
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// WriteTo sends p to addr, a peer's UDP address, through the relay. It
// fails with an error wrapping ErrPeerForbidden if the relay refuses that
// peer.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.closing.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		ap, ok := netaddr.AddrPort(addr)
		if !ok {
			return 0, c.opErr("write", fmt.Errorf("%w: %v is not an IP address and port", ErrBadConfig, addr))
		}
		ua = net.UDPAddrFromAddrPort(ap)
	}
	n, err := c.relay.WriteTo(p, ua)
	if err != nil {
		return n, c.writeErr(ua, err)
	}
	return n, nil
}

// writeErr turns an error from pion's WriteTo into the package's.
func (c *Conn) writeErr(peer *net.UDPAddr, err error) error {
	var te *stun.TurnError
	switch {
	case c.closing.Load():
		err = net.ErrClosed
	case errors.As(err, &te) && te.ErrorCodeAttr.Code == stun.CodeForbidden:
		err = fmt.Errorf("%w: %v (relay %v)", ErrPeerForbidden, peer, c.server)
	case c.hasFailed():
		err = net.ErrClosed
	}
	return c.opErr("write", err)
}

// Close releases the allocation: it asks the relay to delete it, waits
// for the answer for ClientConfig.CloseTimeout at most, stops the
// refreshes and gives the socket back.
func (c *Conn) Close() error {
	if c.closing.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.relay.Close() // sends a Refresh with lifetime 0; wakes blocked readers
	timer := time.NewTimer(c.closeTimeout)
	defer timer.Stop()
	select {
	case <-c.released:
	case <-c.readDone:
	case <-timer.C:
		c.log.Debug("relay: no answer to the release of the allocation", "relay", c.server, "relayed", c.relayed)
	}
	c.stopReading()
	c.turn.Close()
	return nil
}

// LocalAddr returns the relayed transport address, a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RelayedAddr returns the relayed transport address: the address peers
// send to, to reach this Conn.
func (c *Conn) RelayedAddr() netip.AddrPort { return c.relayed }

// SetDeadline sets the read deadline; see SetWriteDeadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets the deadline for ReadFrom calls, pending ones
// included; the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.relay.SetReadDeadline(t)
}

// SetWriteDeadline does nothing: writes do not block.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer sets the receive buffer of the socket the Conn reads, if
// it has one (quic-go raises it).
func (c *Conn) SetReadBuffer(bytes int) error {
	if b, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return b.SetReadBuffer(bytes)
	}
	return errors.ErrUnsupported
}

// SetWriteBuffer sets the send buffer of the socket the Conn writes, if it
// has one (quic-go raises it).
func (c *Conn) SetWriteBuffer(bytes int) error {
	if b, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return b.SetWriteBuffer(bytes)
	}
	return errors.ErrUnsupported
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.local, Err: err}
}
