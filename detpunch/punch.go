package detpunch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/punchkit/punch/tcppunch"
)

// Result is a punched connection.
type Result struct {
	// Conn is the chosen connection; after Punch returns, its first byte
	// (the leader's '$') has been sent or consumed.
	Conn *net.TCPConn
	// Bucket is the bucket whose port the connection came up on: the
	// same on both sides (see [Ports]).
	Bucket int64
	// Port is that port, local and remote alike.
	Port uint16
	// Took is the time from Prepare to the choice.
	Took time.Duration
}

// Punch prepares a run (see [Prepare]) and punches it.
func Punch(ctx context.Context, peer netip.Addr, cfg *Config) (*Run, *Result, error) {
	r, err := Prepare(ctx, peer, cfg)
	if err != nil {
		return nil, nil, err
	}
	res, err := r.Punch(ctx)
	return r, res, err
}

// port is one port of the plan: a listener and at most one connect in
// flight to the peer's same port.
type port struct {
	bucket int64
	local  netip.AddrPort
	peer   netip.AddrPort
	ln     *tcppunch.Listener
	try    *tcppunch.Attempt
	next   time.Time // when the next connect is due
	done   bool      // no more connects: it has a candidate, or its candidate ended
}

// candidate is a connection that came up, not yet chosen.
type candidate struct {
	a   *tcppunch.Attempt
	p   *port
	msg []byte // the peer's plan message, as far as read
}

// sprayer holds the state of one Punch.
type sprayer struct {
	*Run
	ctx        context.Context
	ports      []*port
	candidates []*candidate
	peerPlan   *[2]int64 // the peer's buckets, once its plan message is read
	failures   int
	lastErr    error
}

// Punch sprays connects from every port of the plan to the peer's same
// port until a connection is chosen or the deadline passes; see the
// package documentation. All sockets are created on the calling
// goroutine's thread and polled without goroutines. Punch may be called
// once. After a success the sockets that lost are let go in the
// background (see [Run.Close]) until all the attempts the two sides made
// are answered, or [MinLinger] (or six round trips) has passed, or ctx
// has ended.
func (r *Run) Punch(ctx context.Context) (*Result, error) {
	s := &sprayer{Run: r, ctx: ctx}
	if err := s.open(); err != nil {
		return nil, err
	}
	win, err := s.spray()
	if err != nil {
		s.closeAll()
		return nil, err
	}
	return s.finish(win)
}

// spray connects and polls until a connection is chosen or the deadline.
func (s *sprayer) spray() (*candidate, error) {
	deadline := s.Deadline()
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, s.failure(now)
		}
		s.connect(now)
		win, err := s.poll(min(Retry, deadline.Sub(now)))
		if err != nil || win != nil {
			return win, err
		}
	}
}

// open opens a listener on every port of the plan, skipping the ones that
// cannot be bound.
func (s *sprayer) open() error {
	local := s.local()
	var errs []error
	for i, b := range s.Plan.Buckets {
		for _, n := range s.Plan.Ports[i] {
			p := &port{bucket: b, local: netip.AddrPortFrom(local, n), peer: netip.AddrPortFrom(s.Peer, n)}
			ln, err := tcppunch.Listen(p.local)
			if err != nil {
				s.cfg.Logger.Debug("detpunch: skipping a port", "port", n, "err", err)
				errs = append(errs, err)
				continue
			}
			p.ln = ln
			s.ports = append(s.ports, p)
		}
	}
	if len(s.ports) == 0 {
		return fmt.Errorf("%w: %w", ErrNoPorts, errors.Join(errs...))
	}
	return nil
}

// local returns the address the punching sockets are bound to:
// Config.Bind, or the unspecified address of the peer's family.
func (s *sprayer) local() netip.Addr {
	if local := s.cfg.Bind.Unmap(); local.IsValid() {
		return local
	}
	if s.Peer.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// connect starts the connects that are due.
func (s *sprayer) connect(now time.Time) {
	for _, p := range s.ports {
		if p.done || p.try != nil || now.Before(p.next) {
			continue
		}
		a, err := tcppunch.Dial(p.local, p.peer, tcppunch.Both, 0)
		if err != nil {
			// EADDRNOTAVAIL: the connection of an earlier run on this
			// port is in TIME-WAIT; the listener still answers the peer.
			s.fail(p, err)
			continue
		}
		p.try = a
	}
}

// fail notes a failed connect on p and schedules the next.
func (s *sprayer) fail(p *port, err error) {
	s.failures++
	s.lastErr = err
	p.next = time.Now().Add(Retry)
}

// poll waits up to d for the sockets and returns the chosen connection,
// if one was chosen.
func (s *sprayer) poll(d time.Duration) (*candidate, error) {
	var fds []unix.PollFd
	for _, p := range s.ports {
		fds = append(fds, unix.PollFd{Fd: int32(p.ln.Fd()), Events: unix.POLLIN})
		if p.try != nil {
			fds = append(fds, unix.PollFd{Fd: int32(p.try.Fd()), Events: unix.POLLOUT})
		}
	}
	for _, c := range s.candidates {
		var ev int16
		if len(c.msg) < planLen {
			ev = unix.POLLIN
		}
		fds = append(fds, unix.PollFd{Fd: int32(c.a.Fd()), Events: ev})
	}
	n, err := unix.Poll(fds, int(max(d.Milliseconds(), 1)))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	// Walk the descriptors in the order they were added; the candidates
	// come last, so that one added in this round is not read yet.
	i := 0
	waiting := len(s.candidates)
	for _, p := range s.ports {
		if fds[i].Revents != 0 {
			s.accept(p)
		}
		i++
		if p.try != nil {
			if fds[i].Revents != 0 {
				s.check(p)
			}
			i++
		}
	}
	if s.Leader {
		if len(s.candidates) > 0 {
			return s.choose(), nil
		}
		return nil, nil
	}
	for j, c := range s.candidates[:waiting] {
		if fds[i+j].Revents != 0 {
			if win := s.read(c); win != nil {
				return win, nil
			}
		}
	}
	s.candidates = dropClosed(s.candidates)
	return nil, nil
}

// accept takes a connection from p's listener: the peer's SYN arrived
// while no connect of ours was in flight on p.
func (s *sprayer) accept(p *port) {
	a, err := p.ln.Accept([]netip.AddrPort{p.peer})
	if err != nil {
		if errors.Is(err, tcppunch.ErrStranger) {
			s.cfg.Logger.Debug("detpunch: refused", "port", p.local.Port(), "err", err)
		}
		return
	}
	if p.try != nil {
		// Its 4-tuple is the accepted connection's: it cannot succeed.
		p.try.Close()
		p.try = nil
	}
	s.cfg.Logger.Debug("detpunch: accepted", "port", p.local.Port(), "from", a.Peer())
	s.add(p, a)
}

// check looks at p's connect after poll flagged it.
func (s *sprayer) check(p *port) {
	switch st, err := p.try.Check(); st {
	case tcppunch.Connected:
		s.cfg.Logger.Debug("detpunch: connected", "port", p.local.Port())
		s.add(p, p.try)
		p.try = nil
	case tcppunch.Failed:
		// A socket whose connect failed is closed: nothing is sent.
		p.try.Close()
		p.try = nil
		s.fail(p, err)
	}
}

// add makes a connection on p a candidate.
func (s *sprayer) add(p *port, a *tcppunch.Attempt) {
	p.done = true
	s.candidates = append(s.candidates, &candidate{a: a, p: p})
}

// failure explains a punch that found no connection in time.
func (s *sprayer) failure(now time.Time) error {
	var why string
	if s.lastErr != nil {
		why = fmt.Sprintf(" (%d connects failed, the last with %v)", s.failures, s.lastErr)
	}
	if preserved, known := s.PortsPreserved(); known && !preserved {
		why += fmt.Sprintf(": this side's NAT does not preserve ports (STUN saw local port %d as %d)", s.STUNLocal.Port(), s.STUNMapped.Port())
	}
	return fmt.Errorf("%w to %v on %d ports of buckets %d and %d, after %v%s", ErrTimeout, s.Peer, len(s.ports),
		s.Plan.Buckets[0], s.Plan.Buckets[1], now.Sub(s.Start).Round(time.Millisecond), why)
}
