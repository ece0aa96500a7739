// Package relay is punch's last-resort path: a TURN relay (RFC 8656, UDP
// allocations) that carries datagrams between two peers whose NATs defeat
// every direct technique, built on pion/turn. The Server runs in `punch
// server`; the client, Allocate, gives a peer a [Conn], a net.PacketConn
// on which punch runs its QUIC tunnel as on a punched socket. The relay
// sees only the tunnel's ciphertext: the peers authenticate each other
// end to end with their shared key (package tunnel), so the relay can
// neither read nor forge their traffic.
//
// # Flow
//
//  1. The rendezvous server pairs two peers and gives each credentials
//     from an [Issuer] whose secret the relay shares ([Issuer.Issue]).
//  2. A peer calls [Allocate] on its UDP socket: the relay checks the
//     credentials (TURN long-term credentials, realm "punch") and opens a
//     relayed transport address for it, a UDP port on the relay's IP.
//  3. The peer writes to the other peer through the Conn: the first
//     datagram to an IP creates a permission on the relay, after which
//     the relay passes on datagrams from that IP (and only from
//     permitted IPs) to the peer. The other peer reaches it at
//     [Conn.RelayedAddr], from its own socket or its own allocation.
//  4. [Conn.Close] deletes the allocation; otherwise the Conn refreshes it
//     (and its permissions and channels) until then.
//
// # Credentials
//
// The TURN REST API scheme (draft-uberti-behave-turn-rest-00) with
// HMAC-SHA-256: username "<unix expiry>:<id>", password
// base64(HMAC-SHA-256(secret, username)); see [Credentials]. The relay
// needs no database: it recomputes the password from the username. An
// expired username cannot allocate, but an allocation made in time may be
// refreshed after its credentials expire, so a relayed session lasts as
// long as its peers keep it. Forged, expired or foreign credentials, and
// requests signed for another realm, get TURN error 401 ([ErrBadCredentials]).
//
// # What the relay allows
//
// Only holders of valid credentials allocate: the relay is never open.
// Each allocation costs one socket, so allocations are capped per
// username ([ServerConfig.MaxAllocationsPerUser], 4: error 486,
// [ErrQuota]) and in total ([ServerConfig.MaxAllocations], 10,000: error
// 508, [ErrAllocationRefused]). An allocation relays only UDP, only to
// and from the peers its client created permissions for, and only to
// public addresses unless [ServerConfig.AllowPrivatePeers] is set
// (loopback, private and link-local peers would let a client reach the
// relay's own network; TURN error 403, [ErrPeerForbidden]). TCP
// allocations (RFC 6062) are refused. An allocation nobody refreshes dies
// after its lifetime (10 minutes unless the client asks for less, at most
// one hour).
//
// # Sockets
//
// The caller owns the sockets: [NewServer] serves a socket it is given
// (and closes it at [Server.Close]); [ServerConfig.ListenPacket] opens the
// relayed sockets, so a test can open them in a lab namespace. [Allocate]
// runs pion's client on the caller's socket and reads it until
// [Conn.Close], after which the socket is the caller's again.
package relay
