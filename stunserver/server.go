package stunserver

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/netaddr"
)

// Server answers STUN Binding requests on the sockets it is given. It is
// safe for concurrent use; one Server can serve any number of UDP groups
// and TCP listeners at once.
type Server struct {
	cfg      Config
	log      *slog.Logger
	software stun.Software // nil when omitted
	workers  sync.Pool     // *worker

	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed by Close
	closers map[io.Closer]struct{}
	nconns  int            // TCP connections being served
	wg      sync.WaitGroup // every goroutine the server started
}

// New returns a Server configured by cfg, which may be nil. It opens
// nothing; hand it sockets with ServeUDP, ServeTCP or Serve.
func New(cfg *Config) *Server {
	s := &Server{
		cfg:     cfg.withDefaults(),
		done:    make(chan struct{}),
		closers: make(map[io.Closer]struct{}),
	}
	s.log = s.cfg.Logger
	if !s.cfg.OmitSoftware {
		s.software = stun.NewSoftware(s.cfg.Software)
	}
	s.workers.New = func() any { return s.newWorker() }
	return s
}

// Close stops the server: it closes every socket, listener and connection
// it is serving, waits for its goroutines to exit and makes the Serve calls
// return ErrServerClosed. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for c := range s.closers {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// track registers closers for Close and adds goroutines to the server's
// wait group. It reports false, registering nothing, once the server is
// closed.
func (s *Server) track(goroutines int, cs ...io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for _, c := range cs {
		s.closers[c] = struct{}{}
	}
	s.wg.Add(goroutines)
	return true
}

func (s *Server) untrack(cs ...io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		delete(s.closers, c)
	}
}

// trackConn registers a TCP connection and its goroutine, unless the server
// is closed or serves MaxTCPConns connections already.
func (s *Server) trackConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.nconns >= s.cfg.MaxTCPConns {
		return false
	}
	s.nconns++
	s.closers[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nconns--
	delete(s.closers, c)
}

func (s *Server) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sleep waits for d, or less if the server closes or done is closed.
func (s *Server) sleep(d time.Duration, done <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	case <-done:
	}
}

// nextBackoff is the pause after a temporary socket error: 5 ms doubling
// to 1 s, as net/http does for Accept.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// isTemporary reports whether a socket error is worth retrying (such as
// EMFILE on accept, or ENOBUFS).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// originOf is the RESPONSE-ORIGIN for a socket bound to a: a itself, or the
// zero AddrPort when a is unspecified and so does not say which of the
// host's addresses the client reached.
func originOf(a net.Addr) netip.AddrPort {
	ap, ok := netaddr.AddrPort(a)
	if !ok || ap.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	return ap
}
