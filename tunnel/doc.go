// Package tunnel carries many TCP forwards between two peers over one
// QUIC connection (quic-go) on the UDP socket that the peers punched
// through their NATs, authenticated with the key they share.
//
// # One socket
//
// The caller hands over the very socket that STUN and hole punching used
// (so the NAT mappings they opened are the ones the tunnel uses), to
// [NewTransport] or to the one-tunnel shortcuts [Dial] and [Accept]. From
// then on the caller must not read from it: the [Transport] reads every
// datagram, keeps QUIC for itself and hands the rest (STUN, punching
// keepalives: anything whose first byte is below 0x40) to
// [Transport.ReadNonQUIC]. The caller may keep writing to the socket.
// After Close the socket is the caller's again; the package never closes
// it.
//
// # Roles and authentication
//
// Exactly one peer dials (the initiator, QUIC client) and the other
// accepts (the responder, QUIC server); the punching layer decides, for
// example from the rendezvous server's leader flag. QUIC's TLS 1.3
// handshake uses secure.TLSConfig (an ephemeral certificate nobody
// verifies); then the initiator opens a control stream on which both run
// secure.Confirm, a PAKE keyed with the shared key and bound to the QUIC
// connection's TLS exporter. Only when it succeeds do Dial and Accept
// return a [Conn]; otherwise they close the connection and return an error
// wrapping secure.ErrAuth on both sides. A peer without the key never gets
// a Conn, and streams it opened never reach [Conn.Accept]. The wire format
// is in wire.go.
//
// # Streams
//
// A [Conn] implements forward.Mux: [Conn.Open] and [Conn.Accept] give one
// QUIC stream per forwarded connection as a net.Conn with deadlines,
// CloseWrite as a half-close (so forward.Join passes a TCP FIN on) and
// Close ending both directions. Streams are independent: a lost packet
// stalls only the streams whose data it carried.
//
// # Keepalive, idle timeout, migration
//
// Each side sends a PING after [Config.KeepAlivePeriod] (15 s) of silence,
// which keeps both NAT mappings open; after [Config.MaxIdleTimeout] (60 s)
// without hearing from the peer the tunnel ends, [Conn.Done] is closed
// and [Conn.Err] wraps [ErrIdle]. What survives an address change:
//
//   - The initiator's public address changing (its NAT rebinding to a new
//     port, or to a new address) survives: QUIC identifies the connection
//     by connection ID, not by address, so the responder keeps receiving,
//     validates the new path (PATH_CHALLENGE) and switches to it; streams
//     carry on intact after a short stall, with the congestion window
//     reset. [Conn.RemoteAddr] shows the new address.
//   - The responder's public address changing is not survived by QUIC
//     alone: QUIC clients do not follow a server to a new address, so the
//     initiator keeps sending to the old mapping. Once the caller has
//     punched a path to the new address, [Conn.Move] sends the
//     initiator's packets there (session.UDP does this by itself).
//   - Nor is a NAT that drops the mapping and then filters the peer's
//     packets to the new one: punch again ([Conn.NonQUICConn] gives the
//     socket to a puncher while the tunnel runs) and Move.
//   - A change of local interface or socket ends the tunnel: open a new
//     one.
//
// # Throughput
//
// Receive windows grow up to [Config.StreamWindow] (64 MiB) per stream
// and [Config.ConnectionWindow] (128 MiB) for all, enough for a gigabit
// across a continent; the socket buffers are raised to 8 MiB. On Linux
// with a *net.UDPConn quic-go batches reads (recvmmsg) and sends with
// GSO, which cuts the cost per packet several times, and punch's copy of
// quic-go also receives with UDP GRO (bursts of datagrams in one message;
// third_party/quic-go/PATCHES.md).
package tunnel
