package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a T-STUN rendezvous server: it pairs the clients that send the
// same key and tells each the other's address. It is safe for concurrent
// use; one Server can serve any number of listeners at once, and its
// clients pair across them.
type Server struct {
	cfg     Config
	log     *slog.Logger
	matcher Matcher
	relays  bool            // matcher is a *MemoryMatcher: relay the flights
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	bufs    sync.Pool // *helloBuf

	mu     sync.Mutex
	closed bool
	perIP  map[netip.Addr]int32 // waiting sessions (and reservations) by source
	wg     sync.WaitGroup       // Serve calls and their connections

	conns     atomic.Int64
	waiting   atomic.Int64
	pairings  atomic.Uint64
	timeouts  atomic.Uint64
	refused   atomic.Uint64
	malformed atomic.Uint64
	relayed   atomic.Uint64
}

// Stats are the server's counters, for tests and metrics.
type Stats struct {
	// Conns is the number of connections open now: in the handshake,
	// waiting or being answered.
	Conns int64
	// Waiting is the number of sessions waiting for a peer now.
	Waiting int64
	// Pairings is the number of pairs made since New.
	Pairings uint64
	// Timeouts counts sessions that waited WaitTimeout in vain.
	Timeouts uint64
	// Refused counts sessions refused with key-in-use, too-many or
	// kind-mismatch (each side of a mismatch counts).
	Refused uint64
	// Malformed counts connections dropped in the handshake: bad
	// requests, slow or silent clients, connections over MaxConns; and
	// leaders' malformed replies.
	Malformed uint64
	// Relayed counts leaders' replies passed on to the follower's
	// session (docs/rendezvous.md, "Relaying the first flights").
	Relayed uint64
}

// New returns a Server configured by cfg, which may be nil. It opens
// nothing; hand it listeners with Serve.
func New(cfg *Config) *Server {
	s := &Server{cfg: cfg.withDefaults(), perIP: make(map[netip.Addr]int32)}
	s.log = s.cfg.Logger
	s.matcher = s.cfg.Matcher
	_, s.relays = s.matcher.(*MemoryMatcher)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.bufs.New = func() any { return new(helloBuf) }
	return s
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Conns:     s.conns.Load(),
		Waiting:   s.waiting.Load(),
		Pairings:  s.pairings.Load(),
		Timeouts:  s.timeouts.Load(),
		Refused:   s.refused.Load(),
		Malformed: s.malformed.Load(),
		Relayed:   s.relayed.Load(),
	}
}

// Serve accepts connections on ln and serves each in its own goroutine.
// It blocks until ctx is cancelled, Close is called or Accept fails for
// good; it then closes ln and the connections it accepted (waiting clients
// are disconnected without an answer), waits for their goroutines, and
// returns ctx.Err(), ErrServerClosed or the Accept error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopClose := context.AfterFunc(s.ctx, cancel)
	defer stopClose()
	stopLn := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopLn()

	var conns sync.WaitGroup
	defer conns.Wait()
	defer cancel() // runs before conns.Wait: disconnects every client
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			switch {
			case s.ctx.Err() != nil:
				return ErrServerClosed
			case ctx.Err() != nil:
				return ctx.Err()
			case isTemporary(err):
				backoff = nextBackoff(backoff)
				s.log.Warn("rendezvous: accept error, retrying", "addr", ln.Addr(), "err", err, "in", backoff)
				sleep(ctx, backoff)
				continue
			}
			ln.Close()
			return fmt.Errorf("rendezvous: accept %v: %w", ln.Addr(), err)
		}
		backoff = 0
		if s.conns.Add(1) > int64(s.cfg.MaxConns) {
			s.conns.Add(-1)
			s.malformed.Add(1)
			s.log.Debug("rendezvous: connection refused: MaxConns reached", "from", c.RemoteAddr())
			c.Close()
			continue
		}
		conns.Add(1)
		s.wg.Add(1)
		go s.serveConn(ctx, c, &conns) // which ends the three counts

	}
}

// Close stops the server: every Serve call closes its listener and
// connections and returns ErrServerClosed. Close waits for that and is safe
// to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// sourceOf is the source a waiting session counts against for
// MaxWaitingPerIP: the IPv4 address, or the IPv6 /64.
func sourceOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return a
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.Addr()
}

// reserve takes a waiting slot for src, or reports false when src has
// MaxWaitingPerIP already.
func (s *Server) reserve(src netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.perIP[src]
	if int(n) >= s.cfg.MaxWaitingPerIP {
		return false
	}
	s.perIP[src] = n + 1
	return true
}

// release gives back a slot reserve took.
func (s *Server) release(src netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.perIP[src]; n > 1 {
		s.perIP[src] = n - 1
	} else {
		delete(s.perIP, src)
	}
}

// isTemporary reports whether an Accept error may go away by itself: out
// of file descriptors, a connection aborted before it was accepted.
func isTemporary(err error) bool {
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// nextBackoff is the pause after a temporary Accept error: 5 ms doubling
// to 1 s, as net/http does.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
