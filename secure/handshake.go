package secure

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Handshake secures and authenticates conn, a stream the caller connected
// to the peer (typically a punched TCP connection), with the shared key.
// Both peers call it with the same key and opposite [Config.Initiator]:
//
//  1. each sends a HELLO with its protocol version and role, in the clear,
//     so that a role or version mismatch fails at once rather than hangs;
//  2. TLS 1.3 with [TLSConfig], the initiator as client, encrypts the
//     stream with forward secrecy;
//  3. [Confirm] runs the PAKE over TLS and checks that the peer knows the
//     key and sees the same TLS session.
//
// It returns a [Conn] only when all three succeeded, before any user data
// has been read or written. A peer that does not know the key, or a man in
// the middle, makes both sides fail with an error wrapping [ErrAuth].
//
// Handshake owns conn from the start: on error it closes it. It returns
// when ctx is done (the error wraps context.Cause(ctx)) or after
// [Config.Timeout] ([ErrTimeout]), whichever comes first, by setting
// deadlines on conn; on success the deadlines are cleared. cfg may be nil.
func Handshake(ctx context.Context, conn net.Conn, key string, cfg *Config) (*Conn, error) {
	c := cfg.withDefaults()
	start := time.Now()
	sc, err := handshake(ctx, conn, key, &c)
	peer := conn.RemoteAddr()
	if err != nil {
		conn.Close()
		c.Logger.Debug("secure handshake failed", "peer", peer, "initiator", c.Initiator, "err", err)
		return nil, fmt.Errorf("secure handshake with %v as %s: %w", peer, roleName(c.Initiator), err)
	}
	c.Logger.Debug("secure handshake done", "peer", peer, "initiator", c.Initiator,
		"elapsed", time.Since(start))
	return sc, nil
}

// handshake is Handshake without closing and logging.
func handshake(ctx context.Context, conn net.Conn, key string, c *Config) (*Conn, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.Timeout)
	d, byCtx := ctx.Deadline()
	if byCtx = byCtx && d.Before(deadline); byCtx {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("setting the handshake deadline: %w", err)
	}
	interrupted := interruptOn(ctx, conn)
	tc, err := steps(conn, key, c.Initiator)
	if interrupted() {
		return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if byCtx { // conn's deadline came just before ctx's AfterFunc
			return nil, fmt.Errorf("interrupted: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%w after %v: %w", ErrTimeout, c.Timeout, err)
	}
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing the handshake deadline: %w", err)
	}
	return &Conn{tls: tc, raw: conn, initiator: c.Initiator}, nil
}

// steps runs the three steps of the handshake on conn.
func steps(conn net.Conn, key string, initiator bool) (*tls.Conn, error) {
	role := byte(roleResponder)
	if initiator {
		role = roleInitiator
	}
	cfg, err := TLSConfig(initiator)
	if err != nil {
		return nil, err
	}
	var tc *tls.Conn
	var hc *helloConn
	_, buffered := conn.(*net.TCPConn)
	switch {
	case initiator && buffered:
		// Over TCP, whose send buffer takes both at once, HELLO and the
		// ClientHello leave together: the responder reads HELLO before
		// TLS, and TLS's first read here takes the responder's HELLO
		// first. Half a round trip less than waiting for it.
		if _, err := conn.Write(appendFrame(nil, hello(role))); err != nil {
			return nil, fmt.Errorf("sending HELLO: %w", err)
		}
		hc = &helloConn{Conn: conn, role: role}
		tc = tls.Client(hc, cfg)
	case initiator:
		if err := exchangeHello(conn, role, make([]byte, 16)); err != nil {
			return nil, err
		}
		tc = tls.Client(conn, cfg)
	default:
		if err := exchangeHello(conn, role, make([]byte, 16)); err != nil {
			return nil, err
		}
		tc = tls.Server(conn, cfg)
	}
	if err := tc.Handshake(); err != nil {
		if hc != nil && hc.err != nil {
			return nil, hc.err
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			return nil, fmt.Errorf("TLS: %w: %w", ErrProtocol, err)
		}
		return nil, fmt.Errorf("TLS: %w", err)
	}
	exporter, err := Exporter(tc.ConnectionState())
	if err != nil {
		return nil, fmt.Errorf("TLS exporter: %w", err)
	}
	if err := confirm(tc, key, exporter, initiator, false); err != nil {
		return nil, fmt.Errorf("key confirmation: %w", err)
	}
	return tc, nil
}

// helloConn reads and checks the peer's HELLO before anything else is
// read from Conn.
type helloConn struct {
	net.Conn
	role byte
	read bool
	err  error // what was wrong with the HELLO
}

func (c *helloConn) Read(b []byte) (int, error) {
	if !c.read {
		c.read = true
		if c.err = readHello(c.Conn, c.role, make([]byte, 16)); c.err != nil {
			return 0, c.err
		}
	}
	return c.Conn.Read(b)
}

// roleName names a role in errors and logs.
func roleName(initiator bool) string {
	if initiator {
		return "initiator"
	}
	return "responder"
}

// aLongTimeAgo is a deadline in the past, which unblocks pending I/O.
var aLongTimeAgo = time.Unix(1, 0)

// interruptOn arranges for ctx being done to interrupt I/O on rw: by a
// deadline in the past if rw has SetDeadline, else by closing it if it is
// an io.Closer. The returned function undoes the arrangement and reports
// whether ctx interrupted rw; it must be called exactly once.
func interruptOn(ctx context.Context, rw any) (interrupted func() bool) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		switch c := rw.(type) {
		case interface{ SetDeadline(time.Time) error }:
			c.SetDeadline(aLongTimeAgo)
		case io.Closer:
			c.Close()
		}
	})
	return func() bool {
		if stop() {
			return false
		}
		<-fired
		return true
	}
}
