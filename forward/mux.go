package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Mux opens and accepts streams to and from the peer.
type Mux interface {
	// Open opens a stream to the peer.
	Open(ctx context.Context) (net.Conn, error)
	// Accept waits for a stream the peer opened.
	Accept(ctx context.Context) (net.Conn, error)
	// Close ends the session and every stream.
	Close() error
	// Done is closed when the session has ended.
	Done() <-chan struct{}
}

// Yamux runs a yamux session over conn; exactly one side of a connection
// is the client.
func Yamux(conn net.Conn, client bool, log *slog.Logger) (Mux, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.Logger = nil
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = 15 * time.Second
	cfg.MaxStreamWindowSize = 16 << 20
	cfg.StreamOpenTimeout = 30 * time.Second
	var s *yamux.Session
	var err error
	if client {
		s, err = yamux.Client(conn, cfg)
	} else {
		s, err = yamux.Server(conn, cfg)
	}
	if err != nil {
		return nil, err
	}
	return &yamuxMux{s}, nil
}

type yamuxMux struct{ s *yamux.Session }

func (m *yamuxMux) Open(ctx context.Context) (net.Conn, error) { return m.s.OpenStream() }

func (m *yamuxMux) Accept(ctx context.Context) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { m.s.Close() })
	defer stop()
	return m.s.AcceptStream()
}

func (m *yamuxMux) Close() error { return m.s.Close() }

func (m *yamuxMux) Done() <-chan struct{} { return m.s.CloseChan() }

// Serve accepts streams from the peer and connects each to target (the
// side that has the service: `-c HOST:PORT`), until ctx ends or the
// session does.
func Serve(ctx context.Context, m Mux, target string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := m.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("the session with the peer ended: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				log.Warn("forward: cannot connect to the service", "target", target, "err", err)
				st.Close()
				return
			}
			log.Debug("forward: stream connected", "target", target)
			Join(st, c)
		}()
	}
}

// Listen forwards every connection accepted on ln to the peer over a new
// stream (the client side: `-l [BIND:]PORT`), until ctx ends or the
// session does.
func Listen(ctx context.Context, m Mux, ln net.Listener, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	go func() {
		select {
		case <-m.Done():
			ln.Close()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-m.Done():
				return errors.New("the session with the peer ended")
			default:
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return ctx.Err()
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := m.Open(ctx)
			if err != nil {
				log.Warn("forward: cannot open a stream to the peer", "err", err)
				c.Close()
				return
			}
			log.Debug("forward: forwarding", "from", c.RemoteAddr())
			Join(c, st)
		}()
	}
}

// PipeMux runs Pipe over a stream of the session (the initiator opens it,
// the other side accepts it) and then makes sure the peer has everything
// before it returns: each side, once its pipe is done (all its data sent,
// all the peer's data read), opens a stream to say so, and returns when
// the peer has said the same, or has ended the session after hearing it.
// Transports that drop data in flight when the session closes (QUIC) need
// this; for TCP, Pipe alone suffices. grace bounds the wait for the peer's
// word.
func PipeMux(ctx context.Context, m Mux, initiator bool, in io.Reader, out io.Writer, dir Direction, grace time.Duration) error {
	var st net.Conn
	var err error
	if initiator {
		st, err = m.Open(ctx)
	} else {
		st, err = m.Accept(ctx)
	}
	if err != nil {
		return err
	}
	if err := Pipe(ctx, st, in, out, dir); err != nil {
		st.Close()
		return err
	}
	st.Close()
	go func() {
		if bye, err := m.Open(ctx); err == nil {
			bye.Write([]byte{'.'})
			bye.Close()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	bye, err := m.Accept(wctx)
	if err != nil {
		// The peer heard us and ended the session: Accept may fail with
		// its close a moment before the session says it is done.
		select {
		case <-m.Done():
			return nil
		case <-wctx.Done():
			select {
			case <-m.Done():
				return nil
			default:
			}
		}
		return fmt.Errorf("the peer did not confirm the end of the transfer within %v: %w", grace, err)
	}
	io.Copy(io.Discard, bye)
	bye.Close()
	return nil
}
