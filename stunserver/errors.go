package stunserver

import "errors"

var (
	// ErrServerClosed is returned by the Serve methods after Close.
	ErrServerClosed = errors.New("stunserver: server closed")

	// ErrBadGroup means the sockets given to ServeUDP do not form a valid
	// group: a role given twice, or a four-socket RFC 5780 group whose
	// addresses are not two IPs by two ports.
	ErrBadGroup = errors.New("stunserver: bad UDP socket group")

	// ErrBadConfig means a ListenConfig asks for something impossible: a
	// port out of range, an alternate IP without a matching primary IP.
	ErrBadConfig = errors.New("stunserver: bad listen configuration")
)

// Reasons a TCP connection is closed, for the debug log.
var (
	errNotSTUN  = errors.New("not a STUN message")
	errTooLarge = errors.New("message larger than MaxMessageSize")
	errBadMsg   = errors.New("malformed or unexpected message")
)
