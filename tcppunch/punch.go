package tcppunch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Role is a peer's part in a punch.
type Role int

// The roles.
const (
	// Both connects and listens at once: classic simultaneous open, for
	// manual mode and for peers that simply connect (ncat, socat).
	Both Role = iota
	// Leader opens its NAT with a low-TTL SYN and accepts the follower's
	// connection.
	Leader
	// Follower connects to the leader, retrying on RST.
	Follower
)

func (r Role) String() string {
	return [...]string{"both", "leader", "follower"}[r]
}

// Config tunes a punch; the zero value works.
type Config struct {
	// Role is this side's part. Default: Both.
	Role Role
	// TTL is the TTL (hop limit) of the leader's hole-opening SYN: enough
	// to pass this side's NATs, too little to reach the peer's. Default 2
	// (one NAT, then the first router beyond it); [ProbeHops] measures it.
	TTL int
	// FollowerDelay is how long the follower waits before its first
	// connect, so that the leader's SYN has opened the leader's NAT.
	// Default 15 ms.
	FollowerDelay time.Duration
	// Retry is the wait before a new attempt after one ended in RST.
	// Default 200 ms.
	Retry time.Duration
	// Timeout bounds the whole punch. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 10 * time.Second

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.TTL <= 0 {
		out.TTL = 2
	}
	if out.FollowerDelay <= 0 {
		out.FollowerDelay = 15 * time.Millisecond
	}
	if out.Retry <= 0 {
		out.Retry = 200 * time.Millisecond
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultTimeout
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// puncher holds the state of one Punch call.
type puncher struct {
	cfg      Config
	local    netip.AddrPort
	peers    []netip.AddrPort
	listener *Listener
	attempts []*Attempt
	nextTry  map[netip.AddrPort]time.Time
	refused  int
	lastErr  error
}

// Punch connects from local to one of peers (the peer's public address
// first, then any others such as its LAN addresses) and returns the
// connection. local must name the port the peer was told about; it is
// bound with SO_REUSEADDR and SO_REUSEPORT, so the socket that talked to
// the rendezvous server may stay open. All sockets are created on the
// calling goroutine's thread (so a caller inside a network namespace gets
// them there) and polled without goroutines.
func Punch(ctx context.Context, local netip.AddrPort, peers []netip.AddrPort, cfg *Config) (*net.TCPConn, error) {
	c := cfg.withDefaults()
	if !local.IsValid() || local.Port() == 0 || len(peers) == 0 {
		return nil, fmt.Errorf("%w: need a local address with a port and at least one peer address", ErrConfig)
	}
	var usable []netip.AddrPort
	for _, p := range peers {
		if p.Addr().Is4() == local.Addr().Is4() && p.Port() != 0 {
			usable = append(usable, netip.AddrPortFrom(p.Addr().Unmap(), p.Port()))
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: no peer address of the local address's family (%v)", ErrConfig, peers)
	}
	p := &puncher{cfg: c, local: local, peers: usable, nextTry: map[netip.AddrPort]time.Time{}}
	defer p.closeAll()
	if c.Role != Follower {
		if err := p.listen(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if c.Role == Follower {
		for _, peer := range p.peers {
			p.nextTry[peer] = start.Add(c.FollowerDelay)
		}
	}
	deadline := start.Add(c.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, p.failure(now.Sub(start))
		}
		p.startAttempts(now)
		if conn, err := p.poll(min(10*time.Millisecond, deadline.Sub(now))); conn != nil || err != nil {
			if conn != nil {
				c.Logger.Debug("tcppunch: connected", "local", conn.LocalAddr(), "peer", conn.RemoteAddr(), "after", time.Since(start))
			}
			return conn, err
		}
	}
}

func (p *puncher) failure(waited time.Duration) error {
	if p.refused > 0 && p.lastErr != nil && errors.Is(p.lastErr, unix.ECONNREFUSED) {
		return fmt.Errorf("%w by %v (%d times in %v): the peer's NAT or firewall answers unsolicited SYNs with RST, or the peer is not punching", ErrRefused, p.peers, p.refused, waited.Round(time.Millisecond))
	}
	if p.lastErr != nil {
		return fmt.Errorf("%w (%v, to %v; last error: %v)", ErrTimeout, waited.Round(time.Millisecond), p.peers, p.lastErr)
	}
	return fmt.Errorf("%w (%v, to %v)", ErrTimeout, waited.Round(time.Millisecond), p.peers)
}

// listen opens the listening socket on the local port.
func (p *puncher) listen() (err error) {
	p.listener, err = Listen(p.local)
	return err
}

// startAttempts starts the connects that are due.
func (p *puncher) startAttempts(now time.Time) {
	for _, peer := range p.peers {
		if now.Before(p.nextTry[peer]) || p.connecting(peer) {
			continue
		}
		if err := p.connect(peer); err != nil {
			p.lastErr = err
			p.nextTry[peer] = now.Add(p.cfg.Retry)
		}
	}
}

func (p *puncher) connecting(peer netip.AddrPort) bool {
	return slices.ContainsFunc(p.attempts, func(a *Attempt) bool { return a.peer == peer })
}

// connect starts a non-blocking connect to peer, with the role's TTLs.
func (p *puncher) connect(peer netip.AddrPort) error {
	a, err := Dial(p.local, peer, p.cfg.Role, p.cfg.TTL)
	p.cfg.Logger.Debug("tcppunch: connect", "to", peer, "role", p.cfg.Role, "err", err)
	if err != nil {
		return err
	}
	p.attempts = append(p.attempts, a)
	return nil
}

// poll waits up to d for the listener or an attempt and returns a
// connection if one came up.
func (p *puncher) poll(d time.Duration) (*net.TCPConn, error) {
	fds := make([]unix.PollFd, 0, len(p.attempts)+1)
	if p.listener != nil {
		fds = append(fds, unix.PollFd{Fd: int32(p.listener.Fd()), Events: unix.POLLIN})
	}
	for _, a := range p.attempts {
		fds = append(fds, unix.PollFd{Fd: int32(a.fd), Events: unix.POLLOUT})
	}
	n, err := unix.Poll(fds, int(max(d.Milliseconds(), 1)))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	if p.listener != nil {
		if fds[0].Revents != 0 {
			if conn := p.accept(); conn != nil {
				return conn, nil
			}
		}
		fds = fds[1:]
	}
	for i := len(p.attempts) - 1; i >= 0; i-- {
		if fds[i].Revents == 0 {
			continue
		}
		if conn := p.check(i); conn != nil {
			return conn, nil
		}
	}
	return nil, nil
}

// accept takes a connection from the listener if it comes from the peer.
func (p *puncher) accept() *net.TCPConn {
	a, err := p.listener.Accept(p.peers)
	if err != nil {
		if errors.Is(err, ErrStranger) {
			p.cfg.Logger.Debug("tcppunch: refusing a connection", "err", err)
		}
		return nil
	}
	p.cfg.Logger.Debug("tcppunch: accepted", "from", a.peer)
	return p.adopt(a)
}

// check looks at attempt i after poll flagged it.
func (p *puncher) check(i int) *net.TCPConn {
	a := p.attempts[i]
	switch st, err := a.Check(); st {
	case Connected:
		p.attempts = slices.Delete(p.attempts, i, i+1)
		return p.adopt(a)
	case Connecting:
		if err != nil {
			p.cfg.Logger.Debug("tcppunch: soft error", "to", a.peer, "err", err)
		}
	case Failed:
		p.cfg.Logger.Debug("tcppunch: attempt failed", "to", a.peer, "err", err)
		if errors.Is(err, unix.ECONNREFUSED) {
			p.refused++
		}
		p.lastErr = err
		a.Close()
		p.attempts = slices.Delete(p.attempts, i, i+1)
		p.nextTry[a.peer] = time.Now().Add(p.cfg.Retry)
	}
	return nil
}

// adopt turns a connected attempt into a *net.TCPConn.
func (p *puncher) adopt(a *Attempt) *net.TCPConn {
	c, err := a.Conn()
	if err != nil {
		p.lastErr = err
		return nil
	}
	return c
}

// closeAll closes every socket still open: the listener and the attempts
// in SYN-SENT, which close without sending anything.
func (p *puncher) closeAll() {
	if p.listener != nil {
		p.listener.Close()
	}
	for _, a := range p.attempts {
		a.Close()
	}
}
