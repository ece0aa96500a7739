// Package rendezvous is the T-STUN matchmaking server and its client: two
// hosts that want to connect send the same key to the server over TCP, and
// each learns the other's public address and port, as the server saw them,
// to start a TCP simultaneous open (or UDP hole punching) from the port
// they reached the server from.
//
// # Protocol
//
// One TCP port (3477 by default) speaks two protocols; the client speaks
// first, the server answers once and closes. docs/rendezvous.md has the
// full description for people writing other clients.
//
//   - Legacy T-STUN, the punchhole tstun protocol: the client sends its
//     32-byte session key. The first client of a key waits; when a second
//     sends the same key, the server sends each the other's address as
//     one line "IP PORT\n" (IPv6 without brackets) and closes. Errors
//     close the connection without a line.
//   - Version 1, punch's own: the client sends "PUNCH/1\n" and one JSON
//     request line (at most 4096 bytes) with a 32-byte token in hex
//     derived from the key (the key never reaches the server), the kind of
//     session (tcp or udp), its local addresses, UDP candidates and a
//     free-form info object of at most 1 KiB. The server answers one JSON
//     line with the peer's public address, candidates and info, the
//     client's own public address and its role (the one that waited
//     leads), or an error with a code: key-in-use, timeout, bad-request,
//     too-many, kind-mismatch. A legacy key that starts with "PUNCH/1\n"
//     is read as version 1.
//   - Relaying the first flights, in version 1: a request may carry the
//     first flight of the client's secure handshake ("hs", at most 2 KiB,
//     opaque to the server). When both clients of a pair send one and the
//     server pairs in its own memory (a MemoryMatcher), each answer carries
//     the peer's, and the connections stay open for one more line: the
//     leader's reply, which the server passes on to the follower before it
//     closes both. The handshake then spends no round trip of its own on
//     the punched path. Exchange returns such an answer at once; SendReply
//     and ReadReply carry the reply.
//
// Legacy keys and version 1 tokens live in separate namespaces and never
// pair; a version 1 session pairs only with one of the same kind.
//
// # Server rules
//
//   - A client must send its key or request within Config.HandshakeTimeout
//     (10 s); anything malformed (bad JSON, a wrong size, a line over 4096
//     bytes, data after the request) is dropped, with a bad-request answer
//     for version 1, without affecting other clients.
//   - A client waits at most Config.WaitTimeout (60 s) for its peer, then
//     gets a timeout error.
//   - At most Config.MaxWaitingPerIP (64) sessions wait at once from one
//     IPv4 address or IPv6 /64; more get too-many.
//   - Once a key has paired, it is in use for Config.InUseFor (30 s): a
//     third client gets key-in-use and learns nothing about the pair.
//   - A waiting client that disconnects (or sends anything) frees its key
//     and its slot at once.
//   - When the server relays, the leader's reply must arrive within
//     Config.HandshakeTimeout of the pairing; the follower's connection is
//     closed without it otherwise.
//
// # Design
//
// The server runs one goroutine per connection, and keeps a waiting
// session small (about 4 KB of Go memory, measured by BenchmarkWaiting): a
// client that must wait is handed to a fresh goroutine, whose 2 KiB stack
// spends the whole wait in a one-byte Read that returns when the client
// leaves, when the read deadline (the wait timeout) passes, or when the
// peer's arrival sets the deadline to the past. Nothing polls, and the
// handshake buffer is pooled and returned before the wait. Pairing state lives
// behind the Matcher interface: MemoryMatcher keeps it in the process (the
// default), and a shared store can implement it for several server nodes
// (which then relay no flights: the two sessions of a pair may live on
// different nodes).
//
// The client functions, Legacy, Exchange, SendReply and ReadReply, take a
// connection the caller dialled, because the caller must reach the server from the very socket
// (address and port) it will punch from.
package rendezvous
