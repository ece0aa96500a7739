package punch

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/punchkit/punch/forward"
)

// Session is an authenticated connection to the peer over the path that
// won the race. It carries any number of streams, each a [net.Conn], in
// both directions, and implements forward.Mux. Methods may be called
// concurrently.
type Session struct {
	mux      forward.Mux
	path     Path
	peer     netip.AddrPort
	leader   bool
	took     time.Duration
	attempts []Attempt
	nats     NATs
	closers  []func() error // after mux, in order

	relayed  *pathConn // a relayed session's packet connection
	mu       sync.Mutex
	closed   bool
	closeErr error
}

// keep adds f to what Close closes, or reports false when the session is
// closed already.
func (s *Session) keep(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closers = append(s.closers, func() error { f(); return nil })
	return true
}

// Open opens a stream to the peer, whose Accept returns it.
func (s *Session) Open(ctx context.Context) (net.Conn, error) { return s.mux.Open(ctx) }

// Accept waits for a stream that the peer opened.
func (s *Session) Accept(ctx context.Context) (net.Conn, error) { return s.mux.Accept(ctx) }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.mux.Done() }

// Close ends the session and every stream.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	s.closeErr = s.mux.Close()
	for _, c := range s.closers {
		c()
	}
	return s.closeErr
}

// Path is the path the session uses now: the path that won, or PathUDP
// once a relayed session has moved to a direct path.
func (s *Session) Path() Path {
	if s.relayed != nil && s.relayed.moved() {
		return PathUDP
	}
	return s.path
}

// Peer is the peer's address on the path: where its packets come from
// (the relay's address for the peer, on PathRelay).
func (s *Session) Peer() netip.AddrPort { return s.peer }

// Leader is true on exactly one side: the one that chose the path.
func (s *Session) Leader() bool { return s.leader }

// Took is how long Connect took, from its call to the chosen path.
func (s *Session) Took() time.Duration { return s.took }

// NATs says how the NATs of the two sides map their sockets, as the punch
// server saw them.
func (s *Session) NATs() NATs { return s.nats }

// Attempts says what became of each path tried.
func (s *Session) Attempts() []Attempt { return append([]Attempt(nil), s.attempts...) }
