package secure

import (
	"crypto/fips140"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes, that [ValidateKey] accepts.
const MaxKeyLen = 256

// minFIPSKeyLen is the shortest key HKDF accepts in FIPS 140-only mode.
const minFIPSKeyLen = 112 / 8

// Key format of [NewKey]: keyGroups groups of keyGroupLen characters from
// keyAlphabet joined by dashes, 5 bits per character.
const (
	keyGroups   = 5
	keyGroupLen = 4
	// KeyBits is the entropy of a key from NewKey: 20 characters of 5 bits.
	KeyBits = keyGroups * keyGroupLen * 5
)

// keyAlphabet is Crockford's base32 alphabet in lower case: digits and
// letters without i, l, o and u, which are easily confused with 1, 0 and v
// when read aloud or typed.
const keyAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// HKDF-SHA256 info strings: one per derived value, so that no derived
// value says anything about another.
const (
	tokenInfo    = "punch rendezvous token v1"
	passwordInfo = "punch pake password v1"
)

// NewKey returns a fresh random key with [KeyBits] (100) bits of entropy
// from crypto/rand, easy to read aloud and type: 20 characters of
// Crockford's base32 alphabet in lower case ("0123456789abcdefghjkmnpqrstvwxyz",
// no i, l, o or u) in five groups of four joined by dashes, for example
// "7k3q-m9xd-2f8h-tp4w-c6rn" (24 bytes).
//
// Keys are compared byte for byte; NewKey keys are lower case, so a front
// end that lets people type keys may lower-case what they typed.
func NewKey() string {
	var raw [(KeyBits + 7) / 8]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go 1.24+)
	out := make([]byte, 0, keyGroups*(keyGroupLen+1)-1)
	var acc uint32
	var bits uint
	next := 0
	for i := range keyGroups * keyGroupLen {
		if bits < 5 {
			acc = acc<<8 | uint32(raw[next])
			next++
			bits += 8
		}
		bits -= 5
		if i > 0 && i%keyGroupLen == 0 {
			out = append(out, '-')
		}
		out = append(out, keyAlphabet[acc>>bits&31])
	}
	return string(out)
}

// ValidateKey checks that key can be used: it must not be empty, must be
// at most [MaxKeyLen] bytes of valid UTF-8 and must not contain control
// characters (newlines, tabs, NUL, ...). In FIPS 140-only mode
// (GODEBUG=fips140=only), which forbids HKDF secrets under 112 bits, it must
// also be at least 14 bytes. The error wraps [ErrInvalidKey].
//
// ValidateKey does not measure strength: a short key chosen by a person is
// valid, and the PAKE in [Handshake] keeps it safe from offline guessing by
// everyone except the rendezvous server (see [Token]).
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: the key is empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: the key is %d bytes long, at most %d are allowed", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: the key is not valid UTF-8", ErrInvalidKey)
	case fips140.Enforced() && len(key) < minFIPSKeyLen:
		return fmt.Errorf("%w: FIPS 140-only mode needs keys of at least %d bytes", ErrInvalidKey, minFIPSKeyLen)
	}
	for i, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U at byte %d", ErrInvalidKey, r, i)
		}
	}
	return nil
}

// Token derives from key the 32-byte token under which a peer registers at
// the rendezvous server: HKDF-SHA256 with the key as secret, no salt and
// the info string "punch rendezvous token v1". The server sees only the
// token, never the key.
//
// The token only pairs the two peers; authentication does not depend on
// it. Anyone who learns a token (the rendezvous server does) can test key
// guesses against it offline, so a weak key, such as a word a person chose,
// can be recovered from its token by a hostile server, which could then
// join as the peer. A key from [NewKey] (100 bits) makes that infeasible.
// Against everyone else (relays, the network) even a weak key is safe:
// they never see the token, and the PAKE in [Handshake] gives an attacker
// one guess per handshake attempt and nothing to test offline.
//
// Token does not validate key; call [ValidateKey] first. For a key that
// ValidateKey rejects in FIPS 140-only mode it returns the zero token.
func Token(key string) [32]byte { return token(key, tokenInfo) }

// RejoinToken derives the token for the peers' nth meeting after the
// first (n ≥ 1), when the path of their tunnel broke and they meet again
// to punch a new one: as [Token], with the info string "punch rendezvous
// token v1 rejoin N". A key stays in use at the server for a while after
// each meeting, so each meeting needs a token of its own.
func RejoinToken(key string, n int) [32]byte {
	return token(key, tokenInfo+" rejoin "+strconv.Itoa(n))
}

func token(key, info string) [32]byte {
	var t [32]byte
	if out, err := derive(key, info); err == nil {
		copy(t[:], out)
	}
	return t
}

// pakePassword derives the PAKE's password from key, with its own info
// string so that it is independent of the token.
func pakePassword(key string) ([]byte, error) {
	return derive(key, passwordInfo)
}

// derive returns HKDF-SHA256(key, no salt, info), 32 bytes. It fails only
// for keys under 112 bits in FIPS 140-only mode.
func derive(key, info string) ([]byte, error) {
	out, err := hkdf.Key(sha256.New, []byte(key), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return out, nil
}
