package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The pair relay: a relay for the two peers of one rendezvous pairing that
// forwards their datagrams as they are, with no TURN framing, between the
// two addresses that joined the pair. It serves one UDP socket for every
// pair (PairServer); a peer joins from the socket its tunnel runs on
// (JoinPair), with the TURN credentials the rendezvous gave both peers of
// the pair, after which the relay is, to each peer, the other peer's
// address. docs/relay.md specifies the messages; here is their layout.
//
// A control message starts with the five bytes 00 'P' 'R' 'L' 'Y', a
// version (1) and a type; a QUIC packet can never start so (its first byte
// has the fixed bit, 0x40, set), so the relay tells control messages from
// data by their first bytes. All integers are big-endian; a mac is the
// first 16 bytes of HMAC-SHA-256 keyed with the credentials' password over
// every byte of the message before it.
//
//	hello   (peer to relay): header, side (1: 0 leader, 1 follower),
//	        seq (8), cookie (16), username length (2), username, mac
//	cookie  (relay to peer): header, seq (8), cookie (16)
//	bound   (relay to peer): header, seq (8), peer joined (1: 0 or 1), mac
//	refused (relay to peer): header, seq (8), reason (1), mac
//
// The cookie proves that a hello comes from the address it claims: the
// relay answers a hello without the right cookie with one, which only the
// holder of that address receives, and binds an address only on a hello
// that returns it. A relay answer is never larger than the hello it
// answers, so the relay cannot be used to amplify a flood.

// pairMagic starts every control message of the pair relay.
var pairMagic = [...]byte{0, 'P', 'R', 'L', 'Y', pairVersion}

const (
	pairVersion = 1
	pairHeader  = len(pairMagic) + 1 // magic, version and type

	typeHello   = 1
	typeCookie  = 2
	typeBound   = 3
	typeRefused = 4

	cookieSize = 16
	macSize    = 16

	// helloFixed is the size of a hello without its username.
	helloFixed = pairHeader + 1 + 8 + cookieSize + 2 + macSize
)

// Reasons a relay gives in a refused message.
const (
	refusedCredentials = 1 // the mac does not check with the username's password
	refusedExpired     = 2 // the credentials expired before the pair was opened
	refusedStale       = 3 // another address holds the side with a newer hello
	refusedFull        = 4 // the relay holds as many pairs as it may
)

// Errors of JoinPair, each wrapped with the relay's address.
var (
	// ErrPairTaken means another address holds this side of the pair,
	// with a newer hello: another process joined with the same
	// credentials.
	ErrPairTaken = errors.New("relay: another address holds this side of the pair")

	// ErrRelayFull means the pair relay holds as many pairs as it may;
	// try again later.
	ErrRelayFull = errors.New("relay: the pair relay is full")
)

// refusal returns the error a refused message with reason r stands for.
func refusal(r byte) error {
	switch r {
	case refusedCredentials, refusedExpired:
		return ErrBadCredentials
	case refusedStale:
		return ErrPairTaken
	case refusedFull:
		return ErrRelayFull
	}
	return fmt.Errorf("%w: reason %d", ErrAllocationRefused, r)
}

// hello is a peer's request to join its side of a pair.
type hello struct {
	side     byte
	seq      uint64
	cookie   [cookieSize]byte
	username string
}

// isControl reports whether b is a control message of the pair relay and
// returns its type.
func isControl(b []byte) (byte, bool) {
	if len(b) < pairHeader || [len(pairMagic)]byte(b[:len(pairMagic)]) != pairMagic {
		return 0, false
	}
	return b[len(pairMagic)], true
}

// appendHello appends h, signed with password, to b.
func appendHello(b []byte, h *hello, password string) []byte {
	start := len(b)
	b = append(b, pairMagic[:]...)
	b = append(b, typeHello, h.side)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = append(b, h.cookie[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.username)))
	b = append(b, h.username...)
	return appendMAC(b, b[start:], password)
}

// parseHello decodes a hello; it returns the bytes its mac covers and the
// mac, for the caller to check once it knows the password.
func parseHello(b []byte) (h hello, signed, mac []byte, ok bool) {
	if t, ctl := isControl(b); !ctl || t != typeHello || len(b) < helloFixed {
		return h, nil, nil, false
	}
	p := b[pairHeader:]
	h.side = p[0]
	h.seq = binary.BigEndian.Uint64(p[1:9])
	copy(h.cookie[:], p[9:9+cookieSize])
	p = p[9+cookieSize:]
	n := int(binary.BigEndian.Uint16(p))
	if h.side > 1 || len(p) != 2+n+macSize || n == 0 || n > maxUsername {
		return h, nil, nil, false
	}
	h.username = string(p[2 : 2+n])
	return h, b[:len(b)-macSize], b[len(b)-macSize:], true
}

// maxUsername bounds a username in a hello: a number of up to 20 digits,
// a colon and an id of up to maxIDLen bytes.
const maxUsername = 21 + maxIDLen

// appendAnswer appends a relay answer of type t to seq: a cookie message
// carries cookie, the others one byte (peer joined, or the reason) and a
// mac with password.
func appendAnswer(b []byte, t byte, seq uint64, cookie *[cookieSize]byte, v byte, password string) []byte {
	start := len(b)
	b = append(b, pairMagic[:]...)
	b = append(b, t)
	b = binary.BigEndian.AppendUint64(b, seq)
	if t == typeCookie {
		return append(b, cookie[:]...)
	}
	b = append(b, v)
	return appendMAC(b, b[start:], password)
}

// answer is a relay's answer to a hello, decoded.
type answer struct {
	t      byte
	seq    uint64
	cookie [cookieSize]byte
	v      byte // peer joined (bound) or reason (refused)
	signed bool // the mac checked with the password
}

// parseAnswer decodes a relay answer and checks its mac with password.
func parseAnswer(b []byte, password string) (a answer, ok bool) {
	t, ctl := isControl(b)
	if !ctl || len(b) < pairHeader+8 {
		return a, false
	}
	a.t = t
	a.seq = binary.BigEndian.Uint64(b[pairHeader:])
	p := b[pairHeader+8:]
	switch t {
	case typeCookie:
		if len(p) != cookieSize {
			return a, false
		}
		copy(a.cookie[:], p)
		return a, true
	case typeBound, typeRefused:
		if len(p) != 1+macSize {
			return a, false
		}
		a.v = p[0]
		signed := b[:len(b)-macSize]
		a.signed = hmac.Equal(b[len(b)-macSize:], appendMAC(nil, signed, password))
		return a, true
	}
	return a, false
}

// appendMAC appends the mac of msg with password to b.
func appendMAC(b, msg []byte, password string) []byte {
	m := hmac.New(sha256.New, []byte(password))
	m.Write(msg)
	var sum [sha256.Size]byte
	return append(b, m.Sum(sum[:0])[:macSize]...)
}
