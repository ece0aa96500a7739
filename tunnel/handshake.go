package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/secure"
	"github.com/quic-go/quic-go"
)

// Dial opens a tunnel to peer on pc as the initiator (the QUIC client),
// authenticated with key; the peer must call [Accept] with the same key.
// Which side initiates is the caller's choice (for example the leader
// that the rendezvous server named); exactly one must. pc is handed over
// as [NewTransport] describes, and the tunnel owns the Transport: closing
// the tunnel stops reading pc, which the caller may then use again.
func Dial(ctx context.Context, pc net.PacketConn, peer netip.AddrPort, key string, cfg *Config) (*Conn, error) {
	t, err := NewTransport(pc, cfg)
	if err != nil {
		return nil, err
	}
	c, err := t.Dial(ctx, peer, key)
	if err != nil {
		t.Close()
		return nil, err
	}
	c.owned = true
	return c, nil
}

// Accept waits for a peer to open a tunnel on pc (it is the responder,
// the QUIC server) and authenticates it with key; see [Dial]. It takes
// the first peer that completes the QUIC handshake and fails if that one
// does not know the key (a stranger who finds the port can do that: punch
// again, or keep a [Transport] and call its Accept again). After success
// it refuses further handshakes on pc.
func Accept(ctx context.Context, pc net.PacketConn, key string, cfg *Config) (*Conn, error) {
	t, err := NewTransport(pc, cfg)
	if err != nil {
		return nil, err
	}
	c, err := t.Accept(ctx, key)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.stopListening()
	c.owned = true
	return c, nil
}

// Dial opens a tunnel to peer as the initiator (QUIC client) and runs the
// key confirmation (see wire.go). It returns only a tunnel whose peer has
// proved to know key; otherwise an error wrapping secure.ErrAuth (wrong
// key), [ErrTimeout], [ErrProtocol], or ctx's error. The handshake takes
// at most [Config.HandshakeTimeout].
func (t *Transport) Dial(ctx context.Context, peer netip.AddrPort, key string) (*Conn, error) {
	if err := secure.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	hctx, cancel := context.WithTimeoutCause(ctx, t.cfg.HandshakeTimeout, ErrTimeout)
	defer cancel()
	tlsConf, err := tlsConfig(true)
	if err != nil {
		return nil, err
	}
	qc, err := t.qt.Dial(hctx, udpAddr(peer), tlsConf, t.cfg.quicConfig())
	if err != nil {
		return nil, t.handshakeErr(ctx, hctx, "dial", peer, err)
	}
	ctrl, err := qc.OpenStreamSync(hctx)
	if err == nil {
		err = confirm(hctx, qc, ctrl, key, true)
	}
	c, err := t.finish(ctx, hctx, qc, peer, "dial", err)
	if err != nil {
		return nil, err
	}
	c.dialed = unmap(peer)
	return c, nil
}

// Accept waits for a peer to open a tunnel (as the responder, the QUIC
// server) and runs the key confirmation. It returns only a tunnel whose
// peer has proved to know key. If the first peer to complete the QUIC
// handshake fails the confirmation, Accept closes that connection and
// returns an error wrapping secure.ErrAuth (or [ErrTimeout],
// [ErrProtocol]); call it again to wait for another. Streams that peer
// opened never reach the caller.
func (t *Transport) Accept(ctx context.Context, key string) (*Conn, error) {
	if err := secure.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	ln, err := t.listener()
	if err != nil {
		return nil, err
	}
	qc, err := ln.Accept(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tunnel: accept: %w", ctx.Err())
		}
		return nil, fmt.Errorf("tunnel: accept: %w (%w)", ErrClosed, err)
	}
	peer := addrPort(qc.RemoteAddr())
	hctx, cancel := context.WithTimeoutCause(ctx, t.cfg.HandshakeTimeout, ErrTimeout)
	defer cancel()
	ctrl, err := qc.AcceptStream(hctx)
	if err == nil && ctrl.StreamID() != 0 {
		err = fmt.Errorf("%w: the first stream is %d, not the control stream 0", ErrProtocol, ctrl.StreamID())
	}
	if err == nil {
		err = confirm(hctx, qc, ctrl, key, false)
	}
	return t.finish(ctx, hctx, qc, peer, "accept", err)
}

// confirm runs secure.Confirm on the control stream and closes it.
func confirm(ctx context.Context, qc *quic.Conn, ctrl *quic.Stream, key string, initiator bool) error {
	exp, err := secure.Exporter(qc.ConnectionState().TLS)
	if err != nil {
		return fmt.Errorf("%w: TLS exporter: %w", ErrProtocol, err)
	}
	if err := secure.Confirm(ctx, ctrl, key, exp, initiator); err != nil {
		if initiator && errors.Is(err, secure.ErrAuth) {
			awaitAbort(ctx, qc, ctrl)
		}
		ctrl.CancelWrite(streamCodeClosed)
		ctrl.CancelRead(streamCodeClosed)
		return err
	}
	// The control stream has done its job; FIN our side, ignore the rest.
	ctrl.Close()
	ctrl.CancelRead(streamCodeClosed)
	return nil
}

// abortWait bounds how long an initiator that found the responder's key
// confirmation wrong waits for the responder to take its ABORT.
const abortWait = 2 * time.Second

// awaitAbort lets the ABORT that Confirm wrote on ctrl reach the responder
// before the stream and the connection go: a reset of the stream, or the
// connection's close, would discard it unsent, and the responder would
// see a reset stream rather than learn that the keys differ. It ends the
// stream (FIN after ABORT) and waits for the responder, which closes the
// connection on reading ABORT, for at most abortWait.
func awaitAbort(ctx context.Context, qc *quic.Conn, ctrl *quic.Stream) {
	ctrl.Close()
	t := time.NewTimer(abortWait)
	defer t.Stop()
	select {
	case <-qc.Context().Done():
	case <-t.C:
	case <-ctx.Done():
	}
}

// finish turns an authenticated QUIC connection into a Conn, or closes it
// and explains why the handshake failed.
func (t *Transport) finish(ctx, hctx context.Context, qc *quic.Conn, peer netip.AddrPort, op string, err error) (*Conn, error) {
	log := t.cfg.Logger
	if err != nil {
		code, msg := closeCodeNormal, "handshake abandoned"
		switch {
		case errors.Is(err, secure.ErrAuth) || isPeerClose(err, closeCodeAuth):
			code, msg = closeCodeAuth, "key confirmation failed"
		case errors.Is(err, ErrProtocol), errors.Is(err, secure.ErrProtocol),
			errors.Is(err, secure.ErrVersion), errors.Is(err, secure.ErrRole):
			code, msg = closeCodeProtocol, "tunnel protocol error"
		}
		qc.CloseWithError(code, msg)
		err = t.handshakeErr(ctx, hctx, op, peer, err)
		log.Debug("tunnel: handshake failed", "op", op, "peer", peer, "err", err)
		return nil, err
	}
	c := newConn(t, qc)
	if !t.add(c) {
		qc.CloseWithError(closeCodeNormal, "closed")
		return nil, fmt.Errorf("tunnel: %s %v: %w", op, peer, ErrClosed)
	}
	go func() {
		<-qc.Context().Done()
		t.remove(c)
	}()
	log.Debug("tunnel: up", "op", op, "peer", peer, "rtt", qc.ConnectionStats().SmoothedRTT)
	return c, nil
}

// handshakeErr wraps a failed handshake's error with the operation and
// peer, mapping timeouts to [ErrTimeout] and a peer that rejected our key
// to secure.ErrAuth.
func (t *Transport) handshakeErr(ctx, hctx context.Context, op string, peer netip.AddrPort, err error) error {
	var idle *quic.IdleTimeoutError
	var hto *quic.HandshakeTimeoutError
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case hctx.Err() != nil, errors.As(err, &idle), errors.As(err, &hto):
		// The inner error only repeats that time ran out.
		err = fmt.Errorf("%w (within %v)", ErrTimeout, t.cfg.HandshakeTimeout)
	case isPeerClose(err, closeCodeAuth):
		err = fmt.Errorf("%w (the peer rejected the key confirmation)", secure.ErrAuth)
	case isPeerClose(err, closeCodeProtocol):
		err = fmt.Errorf("%w (the peer says: %w)", ErrProtocol, err)
	}
	return fmt.Errorf("tunnel: %s %v: %w", op, peer, err)
}

// isPeerClose reports whether err says the peer closed the connection
// with code.
func isPeerClose(err error, code quic.ApplicationErrorCode) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && ae.Remote && ae.ErrorCode == code
}

// tlsConfig returns secure's TLS configuration for one side.
func tlsConfig(initiator bool) (*tls.Config, error) {
	c, err := secure.TLSConfig(initiator)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	return c, nil
}
