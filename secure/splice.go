package secure

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// splice is the stream under a [Relayed] handshake: it reads first the
// bytes the peer sent another way (pre), and captures what the handshake
// writes until its first read that finds nothing left of them (its first
// flight, out); from then on it writes to, and once pre is read, reads
// from, the connection attached later. After the handshake it passes
// everything straight through to the connection.
type splice struct {
	flightDone chan struct{} // closed when out is complete
	direct     atomic.Pointer[net.Conn]

	mu       sync.Mutex
	pre      []byte
	fed      bool // pre holds all the peer sends another way
	out      []byte
	flight   bool // flightDone is closed
	conn     net.Conn
	err      error         // the handshake ended with it
	wake     chan struct{} // closed and replaced on every change
	deadline time.Time
}

func newSplice(pre []byte, deadline time.Time) *splice {
	return &splice{
		flightDone: make(chan struct{}),
		pre:        pre,
		fed:        pre != nil,
		wake:       make(chan struct{}),
		deadline:   deadline,
	}
}

// changed wakes the waiters; s.mu is held.
func (s *splice) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// wait waits for a change with s.mu held, which it releases meanwhile,
// until the deadline.
func (s *splice) wait() error {
	wake := s.wake
	s.mu.Unlock()
	defer s.mu.Lock()
	t := time.NewTimer(time.Until(s.deadline))
	defer t.Stop()
	select {
	case <-wake:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

func (s *splice) feed(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pre = append(s.pre, b...)
	s.fed = true
	s.changed()
}

func (s *splice) attach(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		c.Close()
		return
	}
	c.SetDeadline(s.deadline)
	s.conn = c
	s.changed()
}

// abort ends the handshake with err and closes the connection, unless the
// handshake has succeeded: then the connection is the caller's.
func (s *splice) abort(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.direct.Load() != nil {
		return
	}
	if s.err == nil {
		s.err = err
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.changed()
}

// abortReason returns what the handshake was aborted with, or nil.
func (s *splice) abortReason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// finish switches to passing everything through, once the handshake has
// succeeded, and returns the connection.
func (s *splice) finish() (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return nil, s.err
	case s.conn == nil:
		return nil, fmt.Errorf("%w: the handshake ended before the connection came", ErrProtocol)
	case len(s.pre) > 0:
		return nil, fmt.Errorf("%w: %d bytes relayed after the handshake", ErrProtocol, len(s.pre))
	}
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing the handshake deadline: %w", err)
	}
	s.direct.Store(&s.conn)
	return s.conn, nil
}

func (s *splice) Read(b []byte) (int, error) {
	if c := s.direct.Load(); c != nil {
		return (*c).Read(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.err != nil:
			return 0, s.err
		case len(s.pre) > 0:
			n := copy(b, s.pre)
			s.pre = s.pre[n:]
			return n, nil
		}
		if !s.flight {
			s.flight = true
			close(s.flightDone)
		}
		if s.fed && s.conn != nil {
			c := s.conn
			s.mu.Unlock()
			n, err := c.Read(b)
			s.mu.Lock()
			return n, err
		}
		if err := s.wait(); err != nil {
			return 0, err
		}
	}
}

func (s *splice) Write(b []byte) (int, error) {
	if c := s.direct.Load(); c != nil {
		return (*c).Write(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.err != nil:
			return 0, s.err
		case !s.flight:
			s.out = append(s.out, b...)
			return len(b), nil
		case s.conn != nil:
			c := s.conn
			s.mu.Unlock()
			n, err := c.Write(b)
			s.mu.Lock()
			return n, err
		}
		if err := s.wait(); err != nil {
			return 0, err
		}
	}
}

func (s *splice) Close() error {
	if c := s.direct.Load(); c != nil {
		return (*c).Close()
	}
	s.abort(net.ErrClosed)
	return nil
}

// The addresses and deadlines are the connection's once the handshake is
// done; before, the handshake keeps its own deadline.

func (s *splice) LocalAddr() net.Addr {
	if c := s.direct.Load(); c != nil {
		return (*c).LocalAddr()
	}
	return nil
}

func (s *splice) RemoteAddr() net.Addr {
	if c := s.direct.Load(); c != nil {
		return (*c).RemoteAddr()
	}
	return nil
}

func (s *splice) SetDeadline(t time.Time) error {
	if c := s.direct.Load(); c != nil {
		return (*c).SetDeadline(t)
	}
	return nil
}

func (s *splice) SetReadDeadline(t time.Time) error {
	if c := s.direct.Load(); c != nil {
		return (*c).SetReadDeadline(t)
	}
	return nil
}

func (s *splice) SetWriteDeadline(t time.Time) error {
	if c := s.direct.Load(); c != nil {
		return (*c).SetWriteDeadline(t)
	}
	return nil
}
