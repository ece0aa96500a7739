package secure

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Relayed is a handshake whose first flights travel another way than the
// connection: through the rendezvous server, while the peers punch the
// connection. Each side makes the first flight it would send as the
// initiator (HELLO, PAKE1 and its TLS ClientHello) before it knows its
// role, and sends it with its rendezvous request. Once the server has
// paired the two, the responder takes the initiator's flight and answers
// it (HELLO, PAKE2 and its TLS server flight), and the server passes that
// answer to the initiator. By the time the punched connection is up, the
// initiator holds the answer: its TLS Finished, its CONFIRM and its first
// data then leave on the connection at once and reach the responder half
// a round trip later, one round trip sooner than with [Handshake].
//
// The messages are those of [Handshake] (wire.go), in the same order;
// only their path differs, so the security properties are the same: the
// server that relays the flights sees what an eavesdropper on the
// connection would. One difference: the initiator offers X25519 alone for
// the key exchange, so that its flight fits in the rendezvous request that
// TCP Fast Open carries in its SYN; [Handshake] also offers the hybrid
// X25519MLKEM768, whose key share alone is 1,216 bytes.
//
// Use: [Initiate] on both sides before the rendezvous, [Relayed.Flight]
// for the request; then, on the initiator, [Relayed.Feed] with the answer
// the server relays, and on the responder [Respond] with the initiator's
// flight, whose [Relayed.Flight] is the answer. Both [Relayed.Attach] the
// punched connection and [Relayed.Wait]. A side whose role turned out to
// be the responder calls [Relayed.Abort] on its initiator.
type Relayed struct {
	sp        *splice
	initiator bool
	start     time.Time
	log       func(msg string, args ...any)
	done      chan struct{} // closed when the handshake ended
	conn      *Conn
	err       error
}

// Initiate starts the initiator's side of a relayed handshake with key.
// cfg.Initiator is ignored; cfg.Timeout bounds the handshake from now on.
func Initiate(key string, cfg *Config) (*Relayed, error) {
	pw, tc, err := prepareRelayed(key, true)
	if err != nil {
		return nil, err
	}
	tc.CurvePreferences = []tls.CurveID{tls.X25519}
	return start(cfg, true, nil, func(sp *splice) (*tls.Conn, error) { return initiate(sp, pw, tc) }), nil
}

// Respond starts the responder's side of a relayed handshake with key, on
// the initiator's first flight. cfg.Initiator is ignored; cfg.Timeout
// bounds the handshake from now on.
func Respond(key string, flight []byte, cfg *Config) (*Relayed, error) {
	pw, tc, err := prepareRelayed(key, false)
	if err != nil {
		return nil, err
	}
	return start(cfg, false, flight, func(sp *splice) (*tls.Conn, error) { return respond(sp, pw, tc) }), nil
}

// prepareRelayed checks key and prepares one side's handshake.
func prepareRelayed(key string, initiator bool) ([]byte, *tls.Config, error) {
	if err := ValidateKey(key); err != nil {
		return nil, nil, err
	}
	return prepare(key, initiator)
}

// start runs steps on a new splice that reads pre first.
func start(cfg *Config, initiator bool, pre []byte, steps func(*splice) (*tls.Conn, error)) *Relayed {
	c := cfg.withDefaults()
	r := &Relayed{
		sp:        newSplice(pre, time.Now().Add(c.Timeout)),
		initiator: initiator,
		start:     time.Now(),
		log:       c.Logger.Debug,
		done:      make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		tc, err := steps(r.sp)
		if err == nil {
			var conn net.Conn
			if conn, err = r.sp.finish(); err == nil {
				r.conn = &Conn{tls: tc, raw: conn, initiator: initiator}
				return
			}
		}
		if reason := r.sp.abortReason(); reason != nil {
			err = reason // the handshake failed because it was aborted
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w after %v: %w", ErrTimeout, c.Timeout, err)
		}
		r.err = err
		r.sp.abort(err)
	}()
	return r
}

// Flight returns this side's first flight, once the handshake has made it:
// the initiator's HELLO, PAKE1 and ClientHello, or the responder's answer
// to the flight it was given. It fails if the handshake failed first (the
// initiator's flight was not a valid one) or ctx is done.
func (r *Relayed) Flight(ctx context.Context) ([]byte, error) {
	select {
	case <-r.sp.flightDone:
		return r.sp.out, nil
	case <-r.done:
		return nil, r.fail(r.err)
	case <-ctx.Done():
		r.Abort(context.Cause(ctx))
		return nil, r.fail(context.Cause(ctx))
	}
}

// Feed gives the initiator the responder's answer, as the server relayed
// it.
func (r *Relayed) Feed(answer []byte) { r.sp.feed(answer) }

// Attach gives the handshake the punched connection to the peer, which it
// owns from now on: Wait's Conn runs on it, and a failed handshake closes
// it.
func (r *Relayed) Attach(conn net.Conn) { r.sp.attach(conn) }

// Abort ends the handshake with err (a side that turned out to be the
// responder ends its initiator so), closing the attached connection. Once
// the handshake has succeeded it does nothing: the connection is Wait's.
func (r *Relayed) Abort(err error) {
	if err == nil {
		err = net.ErrClosed
	}
	r.sp.abort(err)
	<-r.done
}

// Wait returns the secured connection once the handshake has succeeded on
// the attached connection, or its error; cancelling ctx aborts it.
func (r *Relayed) Wait(ctx context.Context) (*Conn, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		r.Abort(fmt.Errorf("interrupted: %w", context.Cause(ctx)))
	}
	if r.err != nil {
		return nil, r.fail(r.err)
	}
	r.log("secure handshake done", "peer", r.conn.RemoteAddr(), "initiator", r.initiator,
		"relayed", true, "elapsed", time.Since(r.start))
	return r.conn, nil
}

// fail wraps an error of the handshake as Handshake does.
func (r *Relayed) fail(err error) error {
	r.log("secure handshake failed", "initiator", r.initiator, "relayed", true, "err", err)
	return fmt.Errorf("secure handshake (relayed) as %s: %w", roleName(r.initiator), err)
}
