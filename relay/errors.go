package relay

import "errors"

// Errors a client gets from Allocate and Conn.WriteTo. Each is wrapped with
// the relay's address and, where the relay sent one, its error code.
var (
	// ErrBadCredentials means the relay refused the credentials (TURN
	// error 401): they are forged, expired, or issued for another relay
	// (another secret or realm). Get new ones from the rendezvous server.
	ErrBadCredentials = errors.New("relay: credentials refused: they are expired or not issued for this relay; get new ones from the rendezvous server")

	// ErrQuota means the username already holds as many allocations as the
	// relay allows (TURN error 486). Close an allocation, or get new
	// credentials.
	ErrQuota = errors.New("relay: allocation quota reached for these credentials: close another allocation first")

	// ErrAllocationRefused means the relay refused to allocate for another
	// reason: it is full (TURN error 508), does not relay this address
	// family (440), or another allocation holds this socket (437). Try
	// again later, from another socket or on another relay.
	ErrAllocationRefused = errors.New("relay: allocation refused")

	// ErrNoAnswer means the relay did not answer within
	// ClientConfig.Timeout: check the address and port, and that UDP to
	// it is not blocked.
	ErrNoAnswer = errors.New("relay: no answer from the relay server")

	// ErrPeerForbidden means the relay refuses to relay to that peer
	// address (TURN error 403): it relays only to public addresses unless
	// its ServerConfig.AllowPrivatePeers is set.
	ErrPeerForbidden = errors.New("relay: the relay refuses to relay to this peer address")
)

// ErrBadConfig means a ServerConfig or an argument of NewServer or
// Allocate asks for something impossible: a socket bound to an
// unspecified address without a RelayIP, a relay IP of the other family, a
// port range upside down.
var ErrBadConfig = errors.New("relay: bad configuration")

// Reasons the server refuses an allocation internally; pion answers them
// with TURN error 508 (Insufficient Capacity).
var (
	errFull      = errors.New("relay: allocation limit reached")
	errUserQuota = errors.New("relay: per-username allocation limit reached")
	errFamily    = errors.New("relay: address family not relayed here")
	errNoTCP     = errors.New("relay: TCP allocations are not supported")
)
