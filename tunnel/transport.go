package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/internal/sockbuf"
	"github.com/quic-go/quic-go"
)

// A Transport runs QUIC tunnels on one UDP socket that the caller also
// uses for other protocols: the socket that STUN and hole punching used,
// so that the NAT mappings they opened are the ones the tunnel uses.
// Datagrams that are not QUIC (STUN messages, punching probes and
// keepalives) are set aside for [Transport.ReadNonQUIC].
//
// A datagram counts as QUIC when the second most significant bit of its
// first byte (0x40, QUIC's fixed bit) is set or it has a long header
// (0x80); everything else is passed to ReadNonQUIC. STUN messages start
// with 0x00 or 0x01; the caller's own packets must start with a byte
// below 0x40 too.
//
// One Transport can dial and accept any number of tunnels; most callers
// use one tunnel per socket through the package-level [Dial] and
// [Accept]. Methods may be called concurrently.
type Transport struct {
	cfg Config
	pc  net.PacketConn
	qt  *quic.Transport
	// redir is the socket as quic-go sees it, if pc is a *net.UDPConn:
	// what lets [Conn.Move] redirect an initiator's packets.
	redir *redirConn

	// nonQUIC serialises ReadNonQUIC (quic-go's reader must not be
	// started twice at once) and holds a datagram caught while arming it.
	nonQUIC chan *pending

	mu       sync.Mutex
	ln       *quic.Listener
	conns    map[*Conn]struct{}
	closed   bool
	closeErr error
}

// pending is a datagram that arrived while ReadNonQUIC was being armed.
type pending struct {
	b    []byte
	from netip.AddrPort
}

// NewTransport takes over pc, a UDP socket (a *net.UDPConn for the best
// throughput: batched reads, GSO, ECN and path MTU discovery), for QUIC
// tunnels. pc may be bound to one address family or be dual-stack.
//
// From now on the caller must not read from pc: the Transport reads every
// datagram and hands those that are not QUIC to [Transport.ReadNonQUIC].
// The caller may still write to pc (STUN requests, punching keepalives),
// or use [Transport.WriteTo]. NewTransport sets pc's socket buffers (see
// [Config.SocketBuffer]) and socket options for QUIC (don't-fragment,
// ECN). After [Transport.Close] the caller may read from pc again; the
// Transport never closes pc.
func NewTransport(pc net.PacketConn, cfg *Config) (*Transport, error) {
	if pc == nil {
		return nil, errors.New("tunnel: NewTransport needs a UDP socket")
	}
	c := cfg.withDefaults()
	sockbuf.Set(pc, c.SocketBuffer, c.Logger)
	qconn := pc
	var redir *redirConn
	if u, ok := pc.(*net.UDPConn); ok {
		redir = &redirConn{UDPConn: u}
		qconn = redir
	}
	t := &Transport{
		cfg:     c,
		pc:      pc,
		qt:      &quic.Transport{Conn: qconn},
		redir:   redir,
		nonQUIC: make(chan *pending, 1),
		conns:   make(map[*Conn]struct{}),
	}
	// Arm quic-go's non-QUIC queue now, so that datagrams that arrive
	// before the first ReadNonQUIC are kept (up to 32) rather than dropped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	buf := make([]byte, 2048)
	var p *pending
	n, from, err := t.qt.ReadNonQUICPacket(ctx, buf)
	switch {
	case err == nil:
		ap, _ := netaddr.AddrPort(from)
		p = &pending{b: buf[:n], from: ap}
	case !errors.Is(err, context.Canceled):
		t.qt.Close()
		return nil, fmt.Errorf("tunnel: starting QUIC on %v: %w", pc.LocalAddr(), err)
	}
	t.nonQUIC <- p
	return t, nil
}

// LocalAddr returns the socket's local address.
func (t *Transport) LocalAddr() netip.AddrPort {
	ap, _ := netaddr.AddrPort(t.pc.LocalAddr())
	return ap
}

// ReadNonQUIC waits for a datagram that is not QUIC (see [Transport]),
// copies it into b (truncating it if b is too short) and returns its
// length and sender. It fails with [ErrClosed] once the Transport is
// closed, or with ctx's error. Up to 32 datagrams wait for a reader; more
// are dropped, as a full socket buffer would drop them.
func (t *Transport) ReadNonQUIC(ctx context.Context, b []byte) (int, netip.AddrPort, error) {
	var p *pending
	select {
	case p = <-t.nonQUIC:
	case <-ctx.Done():
		return 0, netip.AddrPort{}, ctx.Err()
	}
	if p != nil {
		t.nonQUIC <- nil
		return copy(b, p.b), p.from, nil
	}
	defer func() { t.nonQUIC <- nil }()
	n, from, err := t.qt.ReadNonQUICPacket(ctx, b)
	if err != nil {
		if ctx.Err() != nil {
			return 0, netip.AddrPort{}, ctx.Err()
		}
		return 0, netip.AddrPort{}, fmt.Errorf("tunnel: reading non-QUIC datagrams: %w", ErrClosed)
	}
	ap, _ := netaddr.AddrPort(from)
	return n, ap, nil
}

// WriteTo sends the datagram b to addr on the socket, for protocols that
// share it with QUIC; writing to the socket directly is equally fine.
func (t *Transport) WriteTo(b []byte, addr netip.AddrPort) (int, error) {
	return t.qt.WriteTo(b, udpAddr(addr))
}

// Close closes every tunnel of the Transport (telling each peer, and
// reading the socket for a moment longer as [Conn.Close] does) and stops
// reading the socket, which the caller may then use again. It is safe to
// call more than once.
func (t *Transport) Close() error { return t.shutdown(0) }

// shutdown closes the tunnels and the Transport, reading the socket for
// at least linger after closing the tunnels.
func (t *Transport) shutdown(linger time.Duration) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return t.closeErr
	}
	t.closed = true
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.closeOnce.Do(func() { linger = max(linger, c.end(closeCodeNormal, "closed")) })
	}
	if linger > 0 {
		time.Sleep(linger)
	}
	err := t.qt.Close()
	t.mu.Lock()
	t.closeErr = err
	t.mu.Unlock()
	return err
}

// listener returns the QUIC listener, starting it on first use.
func (t *Transport) listener() (*quic.Listener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if t.ln == nil {
		tlsConf, err := tlsConfig(false)
		if err != nil {
			return nil, err
		}
		ln, err := t.qt.Listen(tlsConf, t.cfg.quicConfig())
		if err != nil {
			return nil, fmt.Errorf("tunnel: listening on %v: %w", t.pc.LocalAddr(), err)
		}
		t.ln = ln
	}
	return t.ln, nil
}

// stopListening closes the QUIC listener, if any: handshakes in progress
// are refused, established tunnels stay up.
func (t *Transport) stopListening() {
	t.mu.Lock()
	ln := t.ln
	t.ln = nil
	t.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// add registers an authenticated tunnel, or reports false if the
// Transport has been closed meanwhile.
func (t *Transport) add(c *Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// remove forgets a tunnel.
func (t *Transport) remove(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// udpAddr converts an address for quic-go and the socket.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}
