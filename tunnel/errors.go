package tunnel

import "errors"

var (
	// ErrClosed reports that the tunnel is closed, by this side or by the
	// peer; open a new one.
	ErrClosed = errors.New("the tunnel is closed")
	// ErrIdle reports that nothing arrived from the peer for
	// [Config.MaxIdleTimeout]: the peer is gone, or the path between the
	// two broke (for example a NAT dropped its mapping). Punch again.
	ErrIdle = errors.New("the peer stopped answering (idle timeout): it is gone or the path broke; punch again")
	// ErrTimeout reports that the QUIC handshake and key confirmation did
	// not finish within [Config.HandshakeTimeout]: the peer is silent,
	// the hole is not open, or the peer is not a punch tunnel.
	ErrTimeout = errors.New("tunnel handshake timed out: the peer did not answer (is the hole punched, and is the peer running punch?)")
	// ErrProtocol reports a peer that broke the tunnel protocol (see
	// wire.go): it is not punch, or a different version.
	ErrProtocol = errors.New("the peer broke the punch tunnel protocol: it is not punch, or another version")
)
