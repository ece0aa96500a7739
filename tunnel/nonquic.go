package tunnel

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// NonQUICConn returns the socket's other protocols as a net.PacketConn,
// for code written for one (a STUN probe, a new punch) while tunnels run
// on the socket: ReadFrom reads what [Transport.ReadNonQUIC] does, with
// read deadlines; WriteTo writes to the socket as it is, with no redirect
// that [Conn.Move] set; Close does nothing (the socket is the caller's).
// Only one goroutine at a time may read it.
func (t *Transport) NonQUICConn() net.PacketConn { return &nonQUICConn{t: t} }

type nonQUICConn struct {
	t *Transport

	mu       sync.Mutex
	deadline time.Time
	stop     context.CancelFunc // ends the read in progress, if any
}

func (c *nonQUICConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline := c.deadline
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			c.mu.Unlock()
			return 0, nil, os.ErrDeadlineExceeded
		}
		ctx, cancel := context.WithCancel(context.Background())
		if !deadline.IsZero() {
			ctx, cancel = context.WithDeadline(context.Background(), deadline)
		}
		c.stop = cancel
		c.mu.Unlock()
		n, from, err := c.t.ReadNonQUIC(ctx, b)
		cancel()
		switch {
		case err == nil:
			return n, net.UDPAddrFromAddrPort(from), nil
		case ctx.Err() == nil:
			return 0, nil, err // the Transport is closed
		}
		// The deadline passed or moved: look again.
	}
}

func (c *nonQUICConn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.t.pc.WriteTo(b, addr) }

func (c *nonQUICConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	if c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
	return nil
}

func (c *nonQUICConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *nonQUICConn) SetWriteDeadline(time.Time) error { return nil }
func (c *nonQUICConn) LocalAddr() net.Addr              { return c.t.pc.LocalAddr() }
func (c *nonQUICConn) Close() error                     { return nil }
