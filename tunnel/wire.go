package tunnel

import "github.com/quic-go/quic-go"

// The tunnel wire format, version 1.
//
// QUIC version 1 (RFC 9000) with TLS 1.3 as configured by
// secure.TLSConfig (ALPN "punch/1"), on the UDP socket the peers punched.
// The initiator is the QUIC client, the responder the QUIC server.
// Datagrams (RFC 9221) and unidirectional streams are not used; a peer
// that opens a unidirectional stream breaks the connection limit of zero
// and quic-go closes the connection.
//
// Stream 0, the first bidirectional stream, opened by the client, is the
// control stream. It carries secure.Confirm (HELLO, PAKE1, PAKE2, CONFIRM
// or ABORT; the byte layout is in secure/wire.go) keyed with the shared
// key and bound to the QUIC connection's TLS exporter
// (secure.Exporter). Then both sides close it (FIN). No other stream is
// served, in either direction, before Confirm has succeeded on both
// sides.
//
// Every other bidirectional stream, opened by either side, carries one
// forwarded connection:
//
//	+------+---------------------------------------------+
//	| 0x01 | bytes of the forwarded connection, raw       |
//	+------+---------------------------------------------+
//	 type   (until FIN)
//
// The opener sends the type byte at once, so that the peer learns of the
// stream even if the forwarded protocol lets the server speak first. The
// other direction carries raw bytes without a header. FIN is a half-close
// (a TCP FIN); RESET_STREAM and STOP_SENDING with code [streamCodeClosed]
// end a direction abortively (a TCP RST). A stream whose type byte is
// unknown is reset with [streamCodeUnknownType].
//
// CONNECTION_CLOSE application error codes are [closeCodeNormal],
// [closeCodeAuth] and [closeCodeProtocol].
const (
	// streamTypeForward is the first byte of a forwarding stream.
	streamTypeForward byte = 0x01

	// streamCodeClosed resets a stream direction that was closed before
	// its end: Close with unread data or a write in progress.
	streamCodeClosed quic.StreamErrorCode = 0
	// streamCodeUnknownType resets a stream whose type byte is unknown.
	streamCodeUnknownType quic.StreamErrorCode = 1

	// closeCodeNormal closes a tunnel on purpose (Close).
	closeCodeNormal quic.ApplicationErrorCode = 0
	// closeCodeAuth closes a tunnel whose key confirmation failed.
	closeCodeAuth quic.ApplicationErrorCode = 1
	// closeCodeProtocol closes a tunnel whose peer broke this protocol.
	closeCodeProtocol quic.ApplicationErrorCode = 2
)
