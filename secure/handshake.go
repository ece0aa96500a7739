package secure

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/schollz/pake/v3"
)

// Handshake secures and authenticates conn, a stream the caller connected
// to the peer (typically a punched TCP connection), with the shared key.
// Both peers call it with the same key and opposite [Config.Initiator]:
//
//  1. each sends a HELLO with its protocol version and role, in the clear,
//     so that a role or version mismatch fails at once rather than hangs;
//     the initiator sends the first PAKE message with it;
//  2. the responder answers with the second, and a MAC with the PAKE's
//     session key over the TLS certificate it is about to present;
//  3. TLS 1.3 with [TLSConfig], the initiator as client, encrypts the
//     stream with forward secrecy; the initiator takes only the
//     certificate the responder's MAC vouched for;
//  4. the initiator's first message inside TLS, which leaves with its TLS
//     Finished, proves with a MAC over the TLS exporter that it knows the
//     key and sees the same TLS session.
//
// So the initiator may send data one round trip after it starts, and the
// responder reads it half a round trip later (wire.go has the messages).
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

// steps runs the handshake on conn: HELLOs and the PAKE in the clear, the
// responder's PAKE2 binding its TLS certificate, TLS, and the initiator's
// CONFIRM inside TLS (the flow is in wire.go). The initiator has
// authenticated the responder when its TLS handshake ends, one round trip
// after it started; the responder, when CONFIRM arrives with the
// initiator's TLS Finished, half a round trip later.
func steps(conn net.Conn, key string, initiator bool) (*tls.Conn, error) {
	pw, cfg, err := prepare(key, initiator)
	if err != nil {
		return nil, err
	}
	if initiator {
		return initiate(conn, pw, cfg)
	}
	return respond(conn, pw, cfg)
}

// prepare derives the PAKE's password from key and makes the TLS
// configuration of one side.
func prepare(key string, initiator bool) (pw []byte, cfg *tls.Config, err error) {
	if pw, err = pakePassword(key); err != nil {
		return nil, nil, err
	}
	if cfg, err = TLSConfig(initiator); err != nil {
		return nil, nil, err
	}
	return pw, cfg, nil
}

// initiate is the initiator's side of steps.
func initiate(conn net.Conn, pw []byte, cfg *tls.Config) (*tls.Conn, error) {
	p, err := initiatorPake(pw)
	if err != nil {
		return nil, err
	}
	helloFrame, pake1 := appendFrame(nil, hello(roleInitiator)), pake1Frame(p)
	hc := &helloConn{Conn: conn, p: p}
	if buffered(conn) {
		// Over TCP, whose send buffer takes it all at once, HELLO, PAKE1
		// and the ClientHello leave together (in a relayed handshake, in
		// one flight); TLS's first read here takes the responder's HELLO
		// and PAKE2 first.
		if _, err := conn.Write(append(helloFrame, pake1...)); err != nil {
			return nil, fmt.Errorf("sending HELLO: %w", err)
		}
	} else {
		// A stream without a buffer (net.Pipe) takes a write only when
		// the peer reads: the HELLOs cross as in Confirm, and PAKE2 is
		// read while PAKE1 is written.
		buf := make([]byte, 128)
		if err := exchangeHello(conn, roleInitiator, buf); err != nil {
			return nil, err
		}
		werr := make(chan error, 1)
		go func() { _, err := conn.Write(pake1); werr <- err }()
		err := hc.readPake2(buf)
		if werr := <-werr; err == nil && werr != nil {
			return nil, fmt.Errorf("sending PAKE1: %w", werr)
		}
		if err != nil {
			return nil, err
		}
	}
	cfg = cfg.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verifyConnection(cs); err != nil {
			return err
		}
		// The responder's certificate must be the one its PAKE2 vouched
		// for: a man in the middle who ends TLS here has another.
		if len(cs.PeerCertificates) == 0 || !hmac.Equal(hc.macR, certMAC(hc.k, cs.PeerCertificates[0].Raw)) {
			return ErrAuth
		}
		return nil
	}
	tc := tls.Client(hc, cfg)
	if err := tc.Handshake(); err != nil {
		if !hc.read {
			// TLS failed to write before it read anything: a peer
			// that found our HELLO wrong (a role mismatch) may have
			// hung up already. Its HELLO says why.
			hc.readPeer()
		}
		if hc.err != nil {
			return nil, hc.err
		}
		return nil, tlsError(err)
	}
	exporter, err := Exporter(tc.ConnectionState())
	if err != nil {
		return nil, fmt.Errorf("TLS exporter: %w", err)
	}
	if _, err := tc.Write(confirmFrame(hc.k, exporter)); err != nil {
		return nil, fmt.Errorf("sending CONFIRM: %w", err)
	}
	return tc, nil
}

// buffered reports whether writes to conn return without the peer
// reading: a TCP connection's send buffer, or a relayed handshake's
// splice, which captures the first flight.
func buffered(conn net.Conn) bool {
	switch conn.(type) {
	case *net.TCPConn, *splice:
		return true
	}
	return false
}

// respond is the responder's side of steps.
func respond(conn net.Conn, pw []byte, cfg *tls.Config) (*tls.Conn, error) {
	buf := make([]byte, 128)
	if err := exchangeHello(conn, roleResponder, buf); err != nil {
		return nil, err
	}
	p, k, err := readPake1(conn, pw, buf)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(pake2Frame(p, certMAC(k, cfg.Certificates[0].Certificate[0]))); err != nil {
		return nil, fmt.Errorf("sending PAKE2: %w", err)
	}
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "remote error" && strings.HasSuffix(oe.Err.Error(), "bad certificate") {
			// The initiator found our certificate not vouched for by
			// the PAKE: its key is not ours.
			return nil, fmt.Errorf("%w (the peer's check of our key confirmation failed)", ErrAuth)
		}
		return nil, tlsError(err)
	}
	exporter, err := Exporter(tc.ConnectionState())
	if err != nil {
		return nil, fmt.Errorf("TLS exporter: %w", err)
	}
	if err := readConfirm(tc, k, exporter, buf); err != nil {
		return nil, err
	}
	return tc, nil
}

// tlsError wraps an error of the TLS handshake.
func tlsError(err error) error {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return fmt.Errorf("TLS: %w: %w", ErrProtocol, err)
	}
	if errors.Is(err, ErrAuth) {
		return fmt.Errorf("%w (the peer's PAKE2 does not vouch for its TLS certificate)", ErrAuth)
	}
	return fmt.Errorf("TLS: %w", err)
}

// helloConn reads the responder's HELLO and PAKE2, and computes the PAKE
// session key, before anything else is read from Conn.
type helloConn struct {
	net.Conn
	p    *pake.Pake
	read bool
	k    []byte // the PAKE session key
	macR []byte // the responder's MAC over its certificate
	err  error  // what was wrong with the HELLO or PAKE2
}

func (c *helloConn) Read(b []byte) (int, error) {
	if !c.read {
		if err := c.readPeer(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

// readPeer reads the responder's HELLO and PAKE2.
func (c *helloConn) readPeer() error {
	c.read = true
	buf := make([]byte, 128)
	if c.err = readHello(c.Conn, roleInitiator, buf); c.err != nil {
		return c.err
	}
	return c.readPake2(buf)
}

// readPake2 reads the responder's PAKE2 and computes the session key.
func (c *helloConn) readPake2(buf []byte) error {
	c.read = true
	c.k, c.macR, c.err = readPake2(c.Conn, c.p, buf)
	return c.err
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
