package rendezvous

import (
	"errors"
	"fmt"
)

// Errors a client gets from the server, one per version 1 error code.
// Exchange wraps them with the server's own message.
var (
	// ErrKeyInUse means two peers paired with this token a moment ago
	// (less than Config.InUseFor); a third is never let in.
	ErrKeyInUse = errors.New("rendezvous: key in use: two peers have just paired with this key; use a new key (a third party may know it)")

	// ErrTimeout means no peer arrived within the server's wait timeout.
	ErrTimeout = errors.New("rendezvous: no peer arrived in time: start the other side with the same key, then try again")

	// ErrTooMany means too many sessions wait from this client's address.
	ErrTooMany = errors.New("rendezvous: too many sessions wait from this address: finish or cancel some, or try again later")

	// ErrBadRequest means the server found the request malformed, or the
	// client refused to send one that is (a kind or a list it does not
	// support, an info object too large).
	ErrBadRequest = errors.New("rendezvous: bad request: check that client and server speak the same version")

	// ErrKindMismatch means the two peers asked for different kinds of
	// session (tcp and udp).
	ErrKindMismatch = errors.New("rendezvous: the peer asked for another kind of session (tcp or udp): use the same mode on both sides")
)

// Other client errors.
var (
	// ErrNoAnswer means the server closed the connection without an
	// answer. A legacy server does so on every error (no peer in time,
	// key in use, too many waiting); a version 1 server only when it
	// shuts down.
	ErrNoAnswer = errors.New("rendezvous: the server closed the connection without pairing: start the other side with the same key and try again, or try a new key")

	// ErrNoReply means the server closed the connection without passing
	// on the leader's reply to the first flights (ReadReply): the leader
	// sent none in time, sent a malformed one or left.
	ErrNoReply = errors.New("rendezvous: the server did not pass on the peer's handshake reply (the peer left, or sent none in time): try again")

	// ErrProtocol means the server's answer is malformed.
	ErrProtocol = errors.New("rendezvous: malformed answer: is this a punch rendezvous (T-STUN) server?")

	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("rendezvous: server closed")
)

// codeErrors maps version 1 error codes to their sentinel errors.
var codeErrors = map[string]error{
	CodeKeyInUse:     ErrKeyInUse,
	CodeTimeout:      ErrTimeout,
	CodeBadRequest:   ErrBadRequest,
	CodeTooMany:      ErrTooMany,
	CodeKindMismatch: ErrKindMismatch,
}

// codeError is the error a client returns for an error answer.
func codeError(code, msg string) error {
	if err, ok := codeErrors[code]; ok {
		return fmt.Errorf("%w (server: %q)", err, msg)
	}
	return fmt.Errorf("%w: unknown error code %q (server: %q)", ErrProtocol, code, msg)
}

// errorCode is the version 1 code for a Matcher error, "" for none.
func errorCode(err error) string {
	for code, e := range codeErrors {
		if errors.Is(err, e) {
			return code
		}
	}
	return ""
}
