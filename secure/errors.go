package secure

import "errors"

var (
	// ErrAuth reports that key confirmation failed: the peer does not know
	// the key, or a man in the middle tried to join. Both sides of a failed
	// handshake report it; user data never flows.
	ErrAuth = errors.New("the peer does not know the key (or a man in the middle tried to join): " +
		"check that both sides use the same key")
	// ErrInvalidKey reports a key that [ValidateKey] rejects (empty, longer
	// than [MaxKeyLen] bytes, not UTF-8, or with control characters).
	ErrInvalidKey = errors.New("invalid key")
	// ErrRole reports that both peers took the same role (both initiators
	// or both responders); exactly one side must set [Config.Initiator].
	ErrRole = errors.New("both peers took the same role: exactly one side must be the initiator")
	// ErrProtocol reports a handshake message that is malformed, oversized,
	// or not the one expected at that point: the peer does not speak this
	// protocol, or the stream was corrupted.
	ErrProtocol = errors.New("malformed handshake message: the peer does not speak the punch secure protocol")
	// ErrVersion reports a peer that speaks another version of the
	// handshake; upgrade the older side.
	ErrVersion = errors.New("the peer speaks another version of the punch secure protocol: upgrade the older side")
	// ErrTimeout reports that the handshake did not finish within
	// [Config.Timeout]: the peer is silent, gone, or too slow.
	ErrTimeout = errors.New("secure handshake timed out: the peer did not answer")
)
