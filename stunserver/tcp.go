package stunserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
)

// ServeTCP accepts connections on ln and answers the STUN messages each
// sends, back to back as RFC 8489 section 6.2.2 frames them (the length is
// in the header), in one goroutine per connection. A connection is closed
// when its client idles or trickles for longer than Config.TCPIdleTimeout
// before completing a message, sends a message larger than
// Config.MaxMessageSize, or sends anything that is not a well-formed STUN
// Binding request or indication; other connections are not affected.
// Responses over TCP carry no OTHER-ADDRESS, and a CHANGE-REQUEST with a
// flag set gets a 420, since a TCP response cannot come from another
// address.
//
// ServeTCP blocks until ctx is cancelled, Close is called or Accept fails
// for good; it then closes ln and the connections it accepted, waits for
// their goroutines, and returns ctx.Err(), ErrServerClosed or the Accept
// error.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	if !s.track(0, ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var conns sync.WaitGroup
	defer conns.Wait()
	defer cancel() // runs before conns.Wait: closes the connections
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			switch {
			case s.isClosed():
				return ErrServerClosed
			case ctx.Err() != nil:
				return ctx.Err()
			case isTemporary(err):
				backoff = nextBackoff(backoff)
				s.log.Warn("stun: tcp accept error, retrying", "addr", ln.Addr(), "err", err, "in", backoff)
				s.sleep(backoff, ctx.Done())
				continue
			}
			ln.Close()
			return fmt.Errorf("stunserver: accept tcp %v: %w", ln.Addr(), err)
		}
		backoff = 0
		if !s.trackConn(c) {
			s.log.Debug("stun: tcp connection refused: too many or closing", "from", c.RemoteAddr())
			c.Close()
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer s.wg.Done()
			defer s.untrackConn(c)
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn answers the messages of one TCP connection, then closes it.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	client, ok := netaddr.AddrPort(c.RemoteAddr())
	if !ok {
		return
	}
	var g grid
	g.addrs[RolePrimary] = originOf(c.LocalAddr())

	w := s.getWorker()
	defer s.putWorker(w)
	buf, n := w.buf, 0
	for {
		// The deadline covers one whole message, counted from the end
		// of the previous one: idle and slow clients alike run out.
		if err := c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout)); err != nil {
			return
		}
		size, err := readMessage(c, buf, &n)
		if err == nil {
			var v verdict
			v, _ = s.handle(w, buf[:size], client, &g, RolePrimary, false)
			switch v {
			case verdictDrop:
				err = errBadMsg
			case verdictReply:
				_ = c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
				_, err = c.Write(w.resp.Raw)
			}
		}
		if err != nil {
			if s.log.Enabled(ctx, slog.LevelDebug) && !errors.Is(err, io.EOF) {
				s.log.Debug("stun: tcp connection closed", "client", client, "err", err)
			}
			return
		}
		n = copy(buf, buf[size:n])
	}
}

// readMessage reads from r until buf[:*n] starts with a complete STUN
// message, and returns its size. Bytes past it stay in buf[:*n].
func readMessage(r io.Reader, buf []byte, n *int) (int, error) {
	for {
		if *n >= headerSize {
			// Only Binding requests and indications are welcome: say so
			// at once rather than wait for the body of anything else.
			if t := binary.BigEndian.Uint16(buf[0:2]); t != typeBindingRequest && t != typeBindingIndication {
				return 0, errNotSTUN
			}
			size := headerSize + int(binary.BigEndian.Uint16(buf[2:4]))
			if size > len(buf) {
				return 0, errTooLarge
			}
			if *n >= size {
				return size, nil
			}
		}
		m, err := r.Read(buf[*n:])
		*n += m
		if err != nil {
			return 0, err
		}
	}
}
