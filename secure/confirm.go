package secure

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/schollz/pake/v3"
)

// pakeCurve is the curve of the PAKE. P-256 rather than siec: its
// arithmetic is the standard library's constant-time, audited nistec
// implementation behind crypto/elliptic, whose IsOnCurve rejects invalid
// points and the point at infinity, and it is many times faster; siec is a
// bespoke curve computed with math/big, which is not constant time.
const pakeCurve = "p256"

// Key confirmation constants; see the wire format in wire.go.
const (
	// ExporterLabel is the TLS exporter label whose output [Confirm]
	// binds the PAKE to; see [Exporter].
	ExporterLabel = "EXPORTER-punch-v1"
	// exporterLen is the length of the exporter output.
	exporterLen = 32
	// minExporterLen is the shortest exporter Confirm accepts.
	minExporterLen = 16
	// confirmLabel starts every key confirmation MAC over an exporter.
	confirmLabel = "punch confirm v1"
	// certLabel starts the responder's MAC over its TLS certificate in
	// [Handshake].
	certLabel = "punch certificate v2"
)

// Exporter returns the bytes of a TLS 1.3 session that [Confirm] binds the
// key to: cs.ExportKeyingMaterial([ExporterLabel], nil, 32). Both ends of
// one TLS session get the same bytes; two different sessions (as a man in
// the middle who terminates TLS has) get different ones. With quic-go, pass
// conn.ConnectionState().TLS.
func Exporter(cs tls.ConnectionState) ([]byte, error) {
	return cs.ExportKeyingMaterial(ExporterLabel, nil, exporterLen)
}

// Confirm authenticates the peer at the other end of rw, a stream inside
// an encrypted channel whose [Exporter] bytes are exporter: both sides run
// a PAKE keyed with key and prove to each other, with MACs over the PAKE
// session key, their role and exporter, that they know the key and see the
// same channel. It returns nil only if the peer knows key; otherwise an
// error wrapping [ErrAuth] (or, for a peer that does not speak the
// protocol, [ErrProtocol], [ErrVersion] or [ErrRole]). A peer without the
// key learns nothing to test guesses against offline: it gets one guess
// per run.
//
// Exactly one side must be the initiator; a QUIC tunnel makes the QUIC
// client the initiator and runs Confirm on the first stream. [Handshake]
// is TLS plus Confirm on a net.Conn.
//
// rw must carry nothing else while Confirm runs. Confirm reads exactly its
// own messages, so data the peer sends after them stays in rw. If ctx is
// done, Confirm interrupts its I/O by setting a deadline in the past when
// rw has SetDeadline (net.Conn, *tls.Conn, quic-go streams), or by closing
// rw when it is an io.Closer; an rw with neither cannot be interrupted.
// After an error the caller should close rw.
func Confirm(ctx context.Context, rw io.ReadWriter, key string, exporter []byte, initiator bool) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if len(exporter) < minExporterLen {
		return fmt.Errorf("key confirmation needs the channel's exporter, at least %d bytes (got %d)",
			minExporterLen, len(exporter))
	}
	interrupted := interruptOn(ctx, rw)
	err := confirm(rw, key, exporter, initiator)
	if interrupted() {
		return fmt.Errorf("key confirmation: %w", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("key confirmation: %w", err)
	}
	return nil
}

// confirm runs Confirm without ctx handling.
func confirm(rw io.ReadWriter, key string, exporter []byte, initiator bool) error {
	pw, err := pakePassword(key)
	if err != nil {
		return err
	}
	buf := make([]byte, 128)
	role := byte(roleResponder)
	if initiator {
		role = roleInitiator
	}
	if err := exchangeHello(rw, role, buf); err != nil {
		return err
	}
	if initiator {
		return confirmInitiator(rw, pw, exporter, buf)
	}
	return confirmResponder(rw, pw, exporter, buf)
}

// confirmInitiator is the initiator's side: PAKE1 out, PAKE2 in, CONFIRM
// (or ABORT) out.
func confirmInitiator(rw io.ReadWriter, pw, exporter, buf []byte) error {
	p, err := initiatorPake(pw)
	if err != nil {
		return err
	}
	if _, err := rw.Write(pake1Frame(p)); err != nil {
		return fmt.Errorf("sending PAKE1: %w", err)
	}
	k, macR, err := readPake2(rw, p, buf)
	if err != nil {
		return err
	}
	if !hmac.Equal(macR, mac(k, roleResponder, exporter)) {
		// Tell the responder, which waits for CONFIRM; best effort.
		rw.Write(appendFrame(nil, []byte{msgAbort, abortAuth}))
		return ErrAuth
	}
	if _, err := rw.Write(confirmFrame(k, exporter)); err != nil {
		return fmt.Errorf("sending CONFIRM: %w", err)
	}
	return nil
}

// confirmResponder is the responder's side: PAKE1 in, PAKE2 out, CONFIRM
// in.
func confirmResponder(rw io.ReadWriter, pw, exporter, buf []byte) error {
	p, k, err := readPake1(rw, pw, buf)
	if err != nil {
		return err
	}
	if _, err := rw.Write(pake2Frame(p, mac(k, roleResponder, exporter))); err != nil {
		return fmt.Errorf("sending PAKE2: %w", err)
	}
	return readConfirm(rw, k, exporter, buf)
}

// The PAKE's messages, for Confirm and Handshake.

// initiatorPake starts the initiator's PAKE with password pw.
func initiatorPake(pw []byte) (*pake.Pake, error) {
	p, err := pake.InitCurve(pw, 0, pakeCurve)
	if err != nil {
		return nil, fmt.Errorf("PAKE: %w", err)
	}
	return p, nil
}

// pake1Frame is the initiator's PAKE1, framed.
func pake1Frame(p *pake.Pake) []byte {
	return appendFrame(nil, appendPoint([]byte{msgPake1}, p.Xᵤ, p.Xᵥ))
}

// pake2Frame is the responder's PAKE2 with macR, framed.
func pake2Frame(p *pake.Pake, macR []byte) []byte {
	return appendFrame(nil, append(appendPoint([]byte{msgPake2}, p.Yᵤ, p.Yᵥ), macR...))
}

// confirmFrame is the initiator's CONFIRM over exporter, framed.
func confirmFrame(k, exporter []byte) []byte {
	return appendFrame(nil, append([]byte{msgConfirm}, mac(k, roleInitiator, exporter)...))
}

// readPake1 reads the initiator's PAKE1 from r and returns the
// responder's PAKE with password pw and the session key.
func readPake1(r io.Reader, pw, buf []byte) (*pake.Pake, []byte, error) {
	f, err := readFrame(r, buf)
	if err != nil {
		return nil, nil, fmt.Errorf("reading PAKE1: %w", err)
	}
	b, err := body(f, msgPake1)
	if err != nil {
		return nil, nil, err
	}
	p, err := pake.InitCurve(pw, 1, pakeCurve)
	if err != nil {
		return nil, nil, fmt.Errorf("PAKE: %w", err)
	}
	k, err := sessionKey(p, roleInitiator, b)
	if err != nil {
		return nil, nil, err
	}
	return p, k, nil
}

// readPake2 reads the responder's PAKE2 from r into the initiator's PAKE
// p and returns the session key and the responder's MAC, not yet checked.
func readPake2(r io.Reader, p *pake.Pake, buf []byte) (k, macR []byte, err error) {
	f, err := readFrame(r, buf)
	if err != nil {
		return nil, nil, fmt.Errorf("reading PAKE2: %w", err)
	}
	b, err := body(f, msgPake2)
	if err != nil {
		return nil, nil, err
	}
	if k, err = sessionKey(p, roleResponder, b[:pointLen]); err != nil {
		return nil, nil, err
	}
	return k, append([]byte(nil), b[pointLen:]...), nil
}

// readConfirm reads the initiator's CONFIRM from r and checks it against
// the session key k and exporter.
func readConfirm(r io.Reader, k, exporter, buf []byte) error {
	f, err := readFrame(r, buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w (the peer hung up instead of confirming the key)", ErrAuth)
		}
		return fmt.Errorf("reading CONFIRM: %w", err)
	}
	b, err := body(f, msgConfirm)
	if err != nil {
		return err
	}
	if !hmac.Equal(b, mac(k, roleInitiator, exporter)) {
		return ErrAuth
	}
	return nil
}

// pakePublic is the part of a pake.Pake that pake.Update reads from the
// other party, in the library's JSON encoding.
type pakePublic struct {
	Role int
	Xu   *big.Int `json:"Xᵤ,omitempty"` // the initiator's point X
	Xv   *big.Int `json:"Xᵥ,omitempty"`
	Yu   *big.Int `json:"Yᵤ,omitempty"` // the responder's point Y
	Yv   *big.Int `json:"Yᵥ,omitempty"`
}

// sessionKey feeds the peer's PAKE point (from the wire, not yet checked)
// to p and returns the session key. peer is the peer's role.
func sessionKey(p *pake.Pake, peer byte, point []byte) ([]byte, error) {
	x, y, err := parsePoint(point)
	if err != nil {
		return nil, err
	}
	pub := pakePublic{Role: 0, Xu: x, Xv: y}
	if peer == roleResponder {
		pub = pakePublic{Role: 1, Yu: x, Yv: y}
	}
	j, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("PAKE: %w", err)
	}
	if err := p.Update(j); err != nil {
		return nil, fmt.Errorf("%w: PAKE: %w", ErrProtocol, err)
	}
	return p.SessionKey()
}

// certMAC returns the responder's MAC in the PAKE2 of [Handshake], which
// vouches for its TLS certificate (DER):
// HMAC-SHA256(k, certLabel || 'R' || SHA-256(cert)).
func certMAC(k, cert []byte) []byte {
	sum := sha256.Sum256(cert)
	h := hmac.New(sha256.New, k)
	h.Write([]byte(certLabel))
	h.Write([]byte{roleResponder})
	h.Write(sum[:])
	return h.Sum(nil)
}

// mac returns HMAC-SHA256(k, confirmLabel || role || exporter).
func mac(k []byte, role byte, exporter []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write([]byte(confirmLabel))
	h.Write([]byte{role})
	h.Write(exporter)
	return h.Sum(nil)
}

// exchangeHello sends our HELLO while reading the peer's, so that it works
// on unbuffered streams such as net.Pipe where both sides write first, and
// checks the peer's version and role. If the read fails it returns at once
// and the writer may stay blocked until the caller closes rw; otherwise it
// waits for the write, so that the peer gets our HELLO (and reports the
// same role mismatch) even if we close rw right after.
func exchangeHello(rw io.ReadWriter, role byte, buf []byte) error {
	werr := make(chan error, 1)
	go func() {
		_, err := rw.Write(appendFrame(make([]byte, 0, frameHeaderLen+msgLen[msgHello]), hello(role)))
		werr <- err
	}()
	err := readHello(rw, role, buf)
	if werr := <-werr; err == nil && werr != nil {
		return fmt.Errorf("sending HELLO: %w", werr)
	}
	return err
}

// readHello reads the peer's HELLO and checks it against this side's
// role.
func readHello(r io.Reader, role byte, buf []byte) error {
	f, err := readFrame(r, buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("reading HELLO: the peer closed the connection: %w", err)
		}
		return fmt.Errorf("reading HELLO: %w", err)
	}
	return checkHello(f, role)
}
