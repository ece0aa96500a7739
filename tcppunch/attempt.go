package tcppunch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// State is what [Attempt.Check] found.
type State int

// The states of an attempt.
const (
	// Connecting: the SYN is out (or a simultaneous open is under way).
	Connecting State = iota
	// Connected: the connection is up; take it with [Attempt.Conn].
	Connected
	// Failed: the attempt is over (RST, timeout); close it and make a new
	// one to try again.
	Failed
)

// Attempt is one non-blocking connect from a socket bound with
// SO_REUSEADDR and SO_REUSEPORT to a port that other sockets share. Punch
// keeps one per peer address; punchers that keep many ports at once
// (package detpunch) poll their own. Poll [Attempt.Fd] for POLLOUT and
// call [Attempt.Check] when it fires.
//
// Closing an attempt that has not connected sends nothing (a socket in
// SYN-SENT has no peer state to reset), so attempts that lose may be
// closed at any time.
type Attempt struct {
	fd    int
	local netip.AddrPort
	peer  netip.AddrPort
}

// Special TTLs of the roles; see the package documentation.
const (
	minTTL      = 128 // the leader ignores packets below it while punching
	followerTTL = 255 // the follower's packets pass the leader's minimum
	normalTTL   = 64  // the leader's TTL once its SYN is out
)

// Dial starts a non-blocking connect from local to peer with the TTLs of
// role: [Leader] sends its SYN with ttl and ignores ICMP errors while
// connecting, [Follower] sends with TTL 255, [Both] leaves the TTLs alone
// (ttl is then unused). The socket is created on the calling goroutine's
// thread. An error wrapping [ErrBind] means the local port cannot be
// bound (another program holds it without SO_REUSEPORT); any other error
// is worth another try later.
func Dial(local, peer netip.AddrPort, role Role, ttl int) (*Attempt, error) {
	fd, err := newSocket(local)
	if err != nil {
		return nil, fmt.Errorf("%w %v: %w", ErrBind, local, err)
	}
	is6 := peer.Addr().Is6()
	switch role {
	case Leader:
		err = setMinTTL(fd, is6, minTTL)
		if err == nil {
			err = setTTL(fd, is6, ttl)
		}
	case Follower:
		err = setTTL(fd, is6, followerTTL)
	}
	if err == nil {
		err = unix.Connect(fd, sockaddr(peer))
	}
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return nil, err
	}
	if role == Leader {
		// The SYN is out; retransmissions and the SYN-ACK go out normally.
		setTTL(fd, is6, normalTTL)
	}
	return &Attempt{fd: fd, local: local, peer: peer}, nil
}

// Bind returns a socket bound to local with SO_REUSEADDR and
// SO_REUSEPORT, not connected yet: it is created on the calling
// goroutine's thread, and [Attempt.Connect] may start its connect later
// from any goroutine. Closing it before that sends nothing.
func Bind(local netip.AddrPort) (*Attempt, error) {
	fd, err := newSocket(local)
	if err != nil {
		return nil, fmt.Errorf("%w %v: %w", ErrBind, local, err)
	}
	return &Attempt{fd: fd, local: local}, nil
}

// Connect starts the non-blocking connect of a socket from [Bind] to peer,
// with the TTLs left alone (as [Dial] with [Both]).
func (a *Attempt) Connect(peer netip.AddrPort) error {
	a.peer = peer
	if err := unix.Connect(a.fd, sockaddr(peer)); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return err
	}
	return nil
}

// Fd returns the socket, for poll(2).
func (a *Attempt) Fd() int { return a.fd }

// Peer returns the address the attempt connects to.
func (a *Attempt) Peer() netip.AddrPort { return a.peer }

// Local returns the address the attempt is bound to.
func (a *Attempt) Local() netip.AddrPort { return a.local }

// Check reports the attempt's state. For [Failed] the error says why; for
// [Connecting] it may carry a soft error: an ICMP error (such as the time
// exceeded that a leader's low-TTL SYN draws) is reported once and the
// socket, still in SYN-SENT, goes on.
func (a *Attempt) Check() (State, error) {
	serr, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && serr == 0 {
		// The peer may already have sent its data and FIN (CLOSE-WAIT).
		if st, err := tcpState(a.fd); err == nil && (st == stateEstablished || st == stateCloseWait) {
			return Connected, nil
		}
		return Connecting, nil
	}
	if err == nil {
		err = unix.Errno(serr)
	}
	if st, serr := tcpState(a.fd); serr == nil && (st == stateSynSent || st == stateSynRecv) {
		return Connecting, err
	}
	return Failed, err
}

// Conn turns the connected attempt into a *net.TCPConn; the attempt is
// spent. A leader's minimum TTL is lifted; a follower keeps sending with
// TTL 255, because its first packets after the handshake may reach the
// leader before the leader has lifted its minimum.
func (a *Attempt) Conn() (*net.TCPConn, error) {
	fd := a.fd
	a.fd = -1
	return fileConn(fd, a.local.Addr().Is6())
}

// Close closes the socket (see [Attempt] for what that sends).
func (a *Attempt) Close() error {
	if a.fd < 0 {
		return nil
	}
	fd := a.fd
	a.fd = -1
	return unix.Close(fd)
}

// fileConn turns a connected socket into a *net.TCPConn with the minimum
// TTL off.
func fileConn(fd int, is6 bool) (*net.TCPConn, error) {
	setMinTTL(fd, is6, 0)
	f := os.NewFile(uintptr(fd), "tcppunch")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// Listener is a listening socket on a shared port: it catches a peer's
// SYN that arrives while no attempt of ours is in flight, and hands the
// connection over as a connected [Attempt]. (A SYN that matches an
// attempt in SYN-SENT goes to that attempt: a simultaneous open.)
type Listener struct {
	fd    int
	local netip.AddrPort
}

// Listen opens a listener on local, bound with SO_REUSEADDR and
// SO_REUSEPORT, on the calling goroutine's thread. An error wraps
// [ErrBind] when the port cannot be bound.
func Listen(local netip.AddrPort) (*Listener, error) {
	fd, err := newSocket(local)
	if err != nil {
		return nil, fmt.Errorf("%w %v: %w", ErrBind, local, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tcppunch: listening on %v: %w", local, err)
	}
	return &Listener{fd: fd, local: local}, nil
}

// Fd returns the socket, for poll(2) (POLLIN).
func (l *Listener) Fd() int { return l.fd }

// Accept takes one pending connection. It returns it as a connected
// attempt if it comes from the address of one of peers; a connection from
// any other address is closed and reported as an error wrapping
// [ErrStranger]. With nothing pending the error is EAGAIN.
func (l *Listener) Accept(peers []netip.AddrPort) (*Attempt, error) {
	fd, sa, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, err
	}
	from := addrPort(sa)
	i := slices.IndexFunc(peers, func(p netip.AddrPort) bool { return p.Addr() == from.Addr() })
	if i < 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %v", ErrStranger, from)
	}
	return &Attempt{fd: fd, local: l.local, peer: from}, nil
}

// Close closes the listener; connections not yet accepted are reset.
func (l *Listener) Close() error { return unix.Close(l.fd) }
