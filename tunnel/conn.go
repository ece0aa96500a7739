package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/secure"
	"github.com/quic-go/quic-go"
)

// A Conn is an authenticated tunnel to one peer: a QUIC connection whose
// peer has proved to know the key. It carries any number of streams, each
// a [net.Conn] (one forwarded TCP connection), and implements forward.Mux.
// Methods may be called concurrently.
//
// The tunnel ends when either side closes it, when the peer has been
// silent for [Config.MaxIdleTimeout], or when its [Transport] is closed;
// then Done is closed, Err says why, and every stream fails.
type Conn struct {
	t     *Transport
	qc    *quic.Conn
	owned bool // Close also closes t (set by the package-level Dial and Accept)
	// dialed is the address the initiator dialed, which QUIC keeps
	// sending to (see Move); invalid on the responder.
	dialed netip.AddrPort

	closeOnce sync.Once
	sent      atomic.Uint64 // stream payload bytes written
	received  atomic.Uint64 // stream payload bytes read
}

func newConn(t *Transport, qc *quic.Conn) *Conn { return &Conn{t: t, qc: qc} }

// forwardHeader starts every stream this side opens (see wire.go).
var forwardHeader = []byte{streamTypeForward}

// Open opens a stream to the peer, whose Accept returns it. It waits while
// the peer already has [Config.MaxStreams] streams from this side open.
func (c *Conn) Open(ctx context.Context) (net.Conn, error) {
	st, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, c.opErr(ctx, "open", err)
	}
	// Announce the stream at once: the peer learns of it only when data
	// arrives, and the forwarded protocol may wait for its server to
	// speak first.
	if _, err := st.Write(forwardHeader); err != nil {
		st.CancelRead(streamCodeClosed)
		st.CancelWrite(streamCodeClosed)
		return nil, c.opErr(ctx, "open", err)
	}
	return &stream{c: c, st: st}, nil
}

// Accept waits for a stream that the peer opened.
func (c *Conn) Accept(ctx context.Context) (net.Conn, error) {
	st, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, c.opErr(ctx, "accept", err)
	}
	return &stream{c: c, st: st, accepted: true}, nil
}

// opErr explains a failed Open or Accept.
func (c *Conn) opErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("tunnel: %s stream: %w", op, ctx.Err())
	}
	if cerr := c.Err(); cerr != nil {
		return fmt.Errorf("tunnel: %s stream: %w", op, cerr)
	}
	return fmt.Errorf("tunnel: %s stream: %w", op, err)
}

// Close closes the tunnel and all its streams, telling the peer (whose
// Done then fires); data still in flight is lost, so finish streams
// first. A tunnel made by the package-level [Dial] or [Accept] also
// closes its Transport, which stops reading the socket; if the tunnel was
// still up, Close first keeps reading it for a moment (three round trips,
// 50 to 500 ms) to repeat the close to a peer that missed it. Close is
// safe to call more than once, and must be called even after Done.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		linger := c.end(closeCodeNormal, "closed")
		if c.owned {
			c.t.shutdown(linger)
		}
	})
	return nil
}

// Bounds of the time a closing Transport keeps reading its socket.
const (
	minLinger = 50 * time.Millisecond
	maxLinger = 500 * time.Millisecond
)

// end closes the QUIC connection and returns how long its Transport
// should keep reading the socket: quic-go sends CONNECTION_CLOSE once and
// repeats it only in answer to the peer's packets, so a peer that lost it
// (a burst filled its socket buffer) would otherwise wait for its idle
// timeout. It returns 0 if the connection had ended already. The caller
// holds closeOnce.
func (c *Conn) end(code quic.ApplicationErrorCode, msg string) time.Duration {
	wasUp := c.qc.Context().Err() == nil
	c.qc.CloseWithError(code, msg)
	c.t.remove(c)
	if !wasUp {
		return 0
	}
	return min(max(3*c.qc.ConnectionStats().SmoothedRTT, minLinger), maxLinger)
}

// Done is closed when the tunnel has ended, for whatever reason; Err then
// says which.
func (c *Conn) Done() <-chan struct{} { return c.qc.Context().Done() }

// Context returns a context that is cancelled when the tunnel ends; its
// cause is quic-go's reason (see Err for a friendlier one).
func (c *Conn) Context() context.Context { return c.qc.Context() }

// Err returns nil while the tunnel is up, and afterwards why it ended: an
// error wrapping [ErrClosed] (closed by either side), [ErrIdle] (the peer
// went silent), secure.ErrAuth or [ErrProtocol].
func (c *Conn) Err() error {
	cause := context.Cause(c.qc.Context())
	if cause == nil {
		return nil
	}
	var idle *quic.IdleTimeoutError
	var ae *quic.ApplicationError
	switch {
	case errors.As(cause, &idle):
		return fmt.Errorf("%w (nothing from %v for %v)", ErrIdle, c.RemoteAddr(), c.t.cfg.MaxIdleTimeout)
	case errors.As(cause, &ae) && ae.ErrorCode == closeCodeNormal:
		if ae.Remote {
			return fmt.Errorf("%w by the peer %v", ErrClosed, c.RemoteAddr())
		}
		return ErrClosed
	case isPeerClose(cause, closeCodeAuth):
		return fmt.Errorf("%w (the peer rejected the key confirmation)", secure.ErrAuth)
	case isPeerClose(cause, closeCodeProtocol):
		return fmt.Errorf("%w (the peer says: %w)", ErrProtocol, cause)
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}

// LocalAddr returns the local address of the socket.
func (c *Conn) LocalAddr() netip.AddrPort { return addrPort(c.qc.LocalAddr()) }

// RemoteAddr returns the peer's current address. The responder follows
// the initiator when its address changes (NAT rebinding), and [Conn.Move]
// moves the initiator, so this may change over the tunnel's life.
func (c *Conn) RemoteAddr() netip.AddrPort {
	a := c.qc.RemoteAddr()
	if ua, ok := a.(*net.UDPAddr); ok && c.t.redir != nil {
		a = c.t.redir.target(ua)
	}
	return addrPort(a)
}

// Move sends this side's packets for the peer to addr from now on: where
// a new punch found the peer after its public address changed (its NAT
// rebound, or dropped the mapping and made a new one). The initiator
// needs it, since QUIC clients do not follow a server to a new address;
// the responder follows the initiator's packets by itself (see the
// package doc), so on the responder Move does nothing. It fails with
// errors.ErrUnsupported if the socket is not a *net.UDPConn.
func (c *Conn) Move(addr netip.AddrPort) error {
	switch {
	case !c.dialed.IsValid():
		return nil
	case c.t.redir == nil:
		return fmt.Errorf("tunnel: moving to %v: %w on a %T", addr, errors.ErrUnsupported, c.t.pc)
	}
	c.t.redir.redirect(c.dialed, addr)
	return nil
}

// NonQUICConn returns the socket's other protocols as a net.PacketConn;
// see [Transport.NonQUICConn].
func (c *Conn) NonQUICConn() net.PacketConn { return c.t.NonQUICConn() }

// ReadNonQUIC reads a datagram that is not QUIC from the tunnel's socket;
// see [Transport.ReadNonQUIC].
func (c *Conn) ReadNonQUIC(ctx context.Context, b []byte) (int, netip.AddrPort, error) {
	return c.t.ReadNonQUIC(ctx, b)
}

// Stats is a snapshot of a tunnel's counters.
type Stats struct {
	// Sent and Received count the bytes that streams carried: what the
	// forwarded connections wrote and read.
	Sent, Received uint64
	// WireSent and WireReceived count the UDP payload bytes on the
	// socket: streams plus QUIC headers, acknowledgements, keepalives and
	// retransmissions.
	WireSent, WireReceived uint64
	// PacketsSent, PacketsReceived and PacketsLost count UDP datagrams;
	// PacketsLost is quic-go's estimate of those that did not arrive.
	PacketsSent, PacketsReceived, PacketsLost uint64
	// RTT is the smoothed round-trip time, RTTVar its mean deviation, and
	// MinRTT the smallest sample seen.
	RTT, RTTVar, MinRTT time.Duration
	// CongestionWindow is how many bytes this side may have in flight.
	CongestionWindow uint64
	// Remote is the peer's current address.
	Remote netip.AddrPort
	// GSO says whether the kernel segments this side's sends (Linux).
	GSO bool
}

// Stats returns the tunnel's counters.
func (c *Conn) Stats() Stats {
	qs := c.qc.ConnectionStats()
	return Stats{
		Sent:             c.sent.Load(),
		Received:         c.received.Load(),
		WireSent:         qs.BytesSent,
		WireReceived:     qs.BytesReceived,
		PacketsSent:      qs.PacketsSent,
		PacketsReceived:  qs.PacketsReceived,
		PacketsLost:      qs.PacketsLost,
		RTT:              qs.SmoothedRTT,
		RTTVar:           qs.MeanDeviation,
		MinRTT:           qs.MinRTT,
		CongestionWindow: qs.CongestionWindow,
		Remote:           c.RemoteAddr(),
		GSO:              c.qc.ConnectionState().GSO,
	}
}

// addrPort converts a socket address; the zero AddrPort if it cannot.
func addrPort(a net.Addr) netip.AddrPort {
	ap, _ := netaddr.AddrPort(a)
	return ap
}
