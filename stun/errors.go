package stun

import "errors"

var (
	// ErrNoResponse reports that a STUN server sent no answer at all
	// within the configured timeout: UDP may be blocked on this network,
	// the address may be wrong, or the server may be down.
	ErrNoResponse = errors.New("no STUN server reachable")
	// ErrNoRFC5780 reports that the server does not support NAT behaviour
	// discovery: its first answer had no OTHER-ADDRESS (RFC 5780), or an
	// unusable one, so the mapping and filtering tests could not run.
	ErrNoRFC5780 = errors.New("STUN server does not support NAT behaviour discovery (RFC 5780)")
	// ErrIncomplete reports that Discover returned a report in which some
	// tests could not run; [Report.Skipped] names them.
	ErrIncomplete = errors.New("some NAT behaviour tests could not run")
	// ErrErrorResponse reports that the server answered with a STUN error
	// response (the error code and reason follow in the wrapped message).
	ErrErrorResponse = errors.New("STUN server answered with an error")
	// ErrMalformed reports a packet or stream that is not a well-formed
	// STUN message, or a binding response without a mapped address.
	ErrMalformed = errors.New("malformed STUN message")
	// ErrResolve reports that a STUN server's name could not be resolved
	// to an address of the wanted family.
	ErrResolve = errors.New("cannot resolve STUN server")
)
