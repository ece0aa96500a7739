package secure

import (
	"crypto/elliptic"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
)

// Wire format, version 2.
//
// Every handshake message travels in a frame: a 2-byte big-endian length
// followed by that many bytes of payload, 1 to maxFrameLen (4096). The
// first payload byte is the message type; each type has a fixed length,
// and anything else (an empty or oversized frame, an unknown type, a wrong
// length, a point not on the curve) is a protocol error:
//
//	HELLO    0x01 | version (0x02) | role ('I' or 'R')             3 bytes
//	PAKE1    0x02 | X, SEC1 uncompressed P-256 point (65 bytes)    66 bytes
//	PAKE2    0x03 | Y, SEC1 uncompressed P-256 point | MAC_R (32)  98 bytes
//	CONFIRM  0x04 | MAC_I (32 bytes)                               33 bytes
//	ABORT    0x05 | reason (0x01: key confirmation failed)         2 bytes
//
// Flow of [Handshake] on the caller's stream (I: initiator, R: responder;
// the two HELLOs are sent at once, without waiting for each other; over
// TCP the initiator's PAKE1 and ClientHello follow its HELLO at once):
//
//	I -> R  HELLO(I) PAKE1      in the clear
//	R -> I  HELLO(R)            in the clear, at once
//	R -> I  PAKE2               in the clear, once R has PAKE1; MAC_R over
//	                            the certificate R presents in TLS
//	        TLS 1.3 handshake, I as client, ALPN "punch/1"; I takes only
//	        the certificate that MAC_R vouches for (else TLS alert 42,
//	        bad certificate)
//	I -> R  CONFIRM             inside TLS, with I's Finished
//
// I's user data may follow CONFIRM at once; R returns once CONFIRM
// checks. The PAKE in the clear gives an eavesdropper nothing to test
// guesses against (it would need the discrete logarithms of X and Y).
//
// [Confirm] on its own (on a QUIC stream, say) runs inside the channel:
// both HELLOs, then PAKE1, PAKE2 (MAC_R over the exporter) and CONFIRM, or
// ABORT in its place when MAC_R is wrong. After CONFIRM the stream carries
// user data.
//
// X and Y are the messages of the PAKE (github.com/schollz/pake/v3 on
// curve P-256, password HKDF-SHA256(key, info "punch pake password v1")).
// With K the PAKE session key, E the 32-byte TLS exporter (label
// "EXPORTER-punch-v1", no context), C the DER of R's TLS certificate and
// role the byte 'I' or 'R':
//
//	MAC_role = HMAC-SHA256(K, "punch confirm v1" || role || E)
//	MAC_R in Handshake's PAKE2 = HMAC-SHA256(K, "punch certificate v2" || 'R' || SHA-256(C))
//
// Version 1 ran the PAKE inside TLS, after the TLS handshake: one round
// trip more before the initiator could send.
const (
	frameHeaderLen = 2
	maxFrameLen    = 4096

	protocolVersion = 2

	msgHello   = 0x01
	msgPake1   = 0x02
	msgPake2   = 0x03
	msgConfirm = 0x04
	msgAbort   = 0x05

	roleInitiator = 'I'
	roleResponder = 'R'

	abortAuth = 0x01

	pointLen = 65 // SEC1 uncompressed P-256 point: 0x04 | x | y
	macLen   = 32 // HMAC-SHA256
)

// msgLen is the payload length of each message type, type byte included.
var msgLen = [...]int{
	msgHello:   3,
	msgPake1:   1 + pointLen,
	msgPake2:   1 + pointLen + macLen,
	msgConfirm: 1 + macLen,
	msgAbort:   2,
}

// msgName names message types in errors.
var msgName = [...]string{
	msgHello:   "HELLO",
	msgPake1:   "PAKE1",
	msgPake2:   "PAKE2",
	msgConfirm: "CONFIRM",
	msgAbort:   "ABORT",
}

// appendFrame appends payload to dst as one frame. payload must be 1 to
// maxFrameLen bytes; this package only frames its own fixed-size messages.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...)
}

// readFrame reads one frame from r and returns its payload, which lives in
// buf if buf is large enough, else in a new slice. It reads exactly the
// frame and nothing after it, so a TLS stream or user data that follows
// stays in r. A frame that is empty or longer than maxFrameLen is an error
// wrapping ErrProtocol; a stream that ends before the first byte gives
// io.EOF, one that ends inside a frame io.ErrUnexpectedEOF.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < frameHeaderLen {
		buf = make([]byte, frameHeaderLen)
	}
	if _, err := io.ReadFull(r, buf[:frameHeaderLen]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(buf))
	if n == 0 || n > maxFrameLen {
		return nil, fmt.Errorf("%w: frame of %d bytes (1 to %d allowed)", ErrProtocol, n, maxFrameLen)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// body checks that payload is a well-formed message of type want and
// returns what follows the type byte. An ABORT in place of CONFIRM
// (the initiator found our MAC wrong) gives ErrAuth.
func body(payload []byte, want byte) ([]byte, error) {
	got := payload[0] // readFrame never returns an empty payload
	if got == msgAbort && want == msgConfirm {
		if len(payload) == msgLen[msgAbort] && payload[1] == abortAuth {
			return nil, fmt.Errorf("%w (the peer's check of our key confirmation failed)", ErrAuth)
		}
		return nil, fmt.Errorf("%w: ABORT with reason % x", ErrProtocol, payload[1:])
	}
	if got != want {
		return nil, fmt.Errorf("%w: got %s, want %s", ErrProtocol, typeName(got), msgName[want])
	}
	if len(payload) != msgLen[want] {
		return nil, fmt.Errorf("%w: %s of %d bytes, want %d", ErrProtocol, msgName[want], len(payload), msgLen[want])
	}
	return payload[1:], nil
}

// typeName names a message type byte from the wire.
func typeName(t byte) string {
	if int(t) < len(msgName) && msgName[t] != "" {
		return msgName[t]
	}
	return fmt.Sprintf("unknown message type 0x%02x", t)
}

// hello returns the HELLO payload for role.
func hello(role byte) []byte {
	return []byte{msgHello, protocolVersion, role}
}

// checkHello checks the peer's HELLO against our own role.
func checkHello(payload []byte, ours byte) error {
	if payload[0] == msgHello && len(payload) >= 2 && payload[1] != protocolVersion {
		return fmt.Errorf("%w (version %d, we speak %d)", ErrVersion, payload[1], protocolVersion)
	}
	b, err := body(payload, msgHello)
	if err != nil {
		return err
	}
	switch theirs := b[1]; {
	case theirs == ours && ours == roleInitiator:
		return fmt.Errorf("%w (both are initiators)", ErrRole)
	case theirs == ours:
		return fmt.Errorf("%w (both are responders)", ErrRole)
	case theirs != roleInitiator && theirs != roleResponder:
		return fmt.Errorf("%w: HELLO with unknown role 0x%02x", ErrProtocol, theirs)
	}
	return nil
}

// appendPoint appends the SEC1 uncompressed encoding of the P-256 point
// (x, y), which must be on the curve.
func appendPoint(dst []byte, x, y *big.Int) []byte {
	var b [pointLen]byte
	b[0] = 4
	x.FillBytes(b[1:33])
	y.FillBytes(b[33:])
	return append(dst, b[:]...)
}

// parsePoint decodes a SEC1 uncompressed P-256 point and checks that it is
// on the curve and not the point at infinity.
func parsePoint(b []byte) (x, y *big.Int, err error) {
	if len(b) != pointLen || b[0] != 4 {
		return nil, nil, fmt.Errorf("%w: PAKE point is not an uncompressed P-256 point", ErrProtocol)
	}
	x = new(big.Int).SetBytes(b[1:33])
	y = new(big.Int).SetBytes(b[33:])
	if !elliptic.P256().IsOnCurve(x, y) {
		return nil, nil, fmt.Errorf("%w: PAKE point is not on the curve", ErrProtocol)
	}
	return x, y, nil
}
