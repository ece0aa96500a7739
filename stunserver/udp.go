package stunserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/punchkit/punch/internal/udpbatch"
)

// UDPSocket is a UDP socket and its role in its group.
type UDPSocket struct {
	// Conn is the socket. A *net.UDPConn is read and written in
	// batches on Linux (recvmmsg and sendmmsg), elsewhere one datagram
	// per system call; any other net.PacketConn works, one datagram per
	// call and a little slower.
	Conn net.PacketConn
	// Role is the socket's place in the RFC 5780 grid.
	Role Role
}

// udpConn is one socket of a group being served.
type udpConn struct {
	pc   net.PacketConn
	io   *udpbatch.Conn // pc, in batches where the platform can
	role Role
}

// respCap is the initial capacity of a queued response; a larger response
// grows its slot once, and the slot keeps the capacity.
const respCap = 256

// udpGroup is a group of sockets being served together.
type udpGroup struct {
	grid   grid
	conns  []*udpConn
	byRole [4]*udpConn
}

// newUDPGroup checks the sockets of a group and computes its grid.
func newUDPGroup(socks []UDPSocket) (*udpGroup, error) {
	if len(socks) == 0 || len(socks) > 4 {
		return nil, fmt.Errorf("%w: %d sockets, want 1 to 4", ErrBadGroup, len(socks))
	}
	g := &udpGroup{}
	for _, sk := range socks {
		if sk.Conn == nil || sk.Role > RoleAltIPPort {
			return nil, fmt.Errorf("%w: nil socket or bad role %v", ErrBadGroup, sk.Role)
		}
		if g.byRole[sk.Role] != nil {
			return nil, fmt.Errorf("%w: role %v given twice", ErrBadGroup, sk.Role)
		}
		c := &udpConn{pc: sk.Conn, io: udpbatch.New(sk.Conn), role: sk.Role}
		g.byRole[sk.Role] = c
		g.conns = append(g.conns, c)
		g.grid.addrs[sk.Role] = originOf(sk.Conn.LocalAddr())
	}
	if len(socks) == 4 {
		if err := checkGrid(&g.grid.addrs); err != nil {
			return nil, err
		}
		g.grid.full = true
	}
	return g, nil
}

// checkGrid checks that four local addresses are two IPs by two ports.
func checkGrid(a *[4]netip.AddrPort) error {
	for r, ap := range a {
		if !ap.IsValid() {
			return fmt.Errorf("%w: socket %v is not bound to a specific IP address", ErrBadGroup, Role(r))
		}
	}
	p, ap, ip, ipp := a[RolePrimary], a[RoleAltPort], a[RoleAltIP], a[RoleAltIPPort]
	switch {
	case p.Addr() != ap.Addr() || ip.Addr() != ipp.Addr():
		return fmt.Errorf("%w: sockets of one IP role have different IPs: %v %v %v %v", ErrBadGroup, p, ap, ip, ipp)
	case p.Port() != ip.Port() || ap.Port() != ipp.Port():
		return fmt.Errorf("%w: sockets of one port role have different ports: %v %v %v %v", ErrBadGroup, p, ap, ip, ipp)
	case p.Addr() == ip.Addr() || p.Port() == ap.Port():
		return fmt.Errorf("%w: the two IPs or the two ports are equal: %v %v %v %v", ErrBadGroup, p, ap, ip, ipp)
	case p.Addr().Is4() != ip.Addr().Is4():
		return fmt.Errorf("%w: the two IPs are of different families: %v %v", ErrBadGroup, p, ip)
	}
	return nil
}

// ServeUDP serves one group of UDP sockets: a single socket (a plain STUN
// server), or the four sockets of two IPs by two ports with their roles
// (RFC 5780: OTHER-ADDRESS, and CHANGE-REQUEST answered from the other
// sockets). The four must be bound to specific addresses; two or three
// sockets are served, but each as a plain server. Groups are independent:
// serve IPv4 and IPv6 with two calls.
//
// ServeUDP blocks until ctx is cancelled, Close is called or a socket
// fails, and closes the sockets when it returns. It returns ctx.Err() after
// cancellation, ErrServerClosed after Close, ErrBadGroup (at once) for
// sockets that do not form a group, or the socket error.
func (s *Server) ServeUDP(ctx context.Context, socks ...UDPSocket) error {
	closers := make([]io.Closer, len(socks))
	for i, sk := range socks {
		closers[i] = sk.Conn
	}
	closeAll := func() {
		for _, c := range closers {
			if c != nil {
				c.Close()
			}
		}
	}
	g, err := newUDPGroup(socks)
	if err != nil {
		closeAll()
		return err
	}
	if !s.track(len(g.conns), closers...) {
		closeAll()
		return ErrServerClosed
	}
	defer s.untrack(closers...)
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()

	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, c := range g.conns {
		wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer wg.Done()
			if err := s.readUDP(ctx, g, c); err != nil {
				once.Do(func() { first = err })
				closeAll()
			}
		}()
	}
	wg.Wait()
	switch {
	case s.isClosed():
		return ErrServerClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return first
}

// readUDP reads and answers requests on one socket until it fails.
func (s *Server) readUDP(ctx context.Context, g *udpGroup, c *udpConn) error {
	w := s.getWorker()
	defer s.putWorker(w)
	b := c.io.NewBatch(s.cfg.MaxMessageSize, respCap)
	var backoff time.Duration
	for {
		n, err := c.io.Read(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() || ctx.Err() != nil || !isTemporary(err) {
				return fmt.Errorf("stunserver: read udp %v: %w", c.pc.LocalAddr(), err)
			}
			backoff = nextBackoff(backoff)
			s.log.Warn("stun: udp read error, retrying", "addr", c.pc.LocalAddr(), "err", err, "in", backoff)
			s.sleep(backoff, ctx.Done())
			continue
		}
		backoff = 0
		s.answer(ctx, w, g, c, b, n)
		c.io.Flush(b, func(to netip.AddrPort, err error) { s.logWriteError(ctx, to, c.role, err) })
	}
}

// answer handles the n datagrams read into b on c. Responses to leave from
// c are queued in b; the others are written at once.
func (s *Server) answer(ctx context.Context, w *worker, g *udpGroup, c *udpConn, b *udpbatch.Batch, n int) {
	for i := range n {
		pkt, from := b.Datagram(i)
		switch {
		case !from.IsValid():
			continue
		case len(pkt) > s.cfg.MaxMessageSize:
			s.drop(pkt, "larger than MaxMessageSize")
			continue
		}
		v, send := s.handle(w, pkt, from, &g.grid, c.role, true)
		switch {
		case v != verdictReply:
		case send == c.role:
			b.Queue(w.resp.Raw, from)
		default:
			if err := g.byRole[send].io.Write(w.resp.Raw, from); err != nil {
				s.logWriteError(ctx, from, send, err)
			}
		}
	}
}

// logWriteError logs, at debug level, a response that could not be sent
// to a client from the socket of role from.
func (s *Server) logWriteError(ctx context.Context, to netip.AddrPort, from Role, err error) {
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("stun: udp write failed", "to", to, "from", from, "err", err)
	}
}
