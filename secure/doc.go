// Package secure turns a stream between two peers that share a key into an
// encrypted connection whose peer is proved to know the key, so that
// neither the rendezvous server that paired them nor a relay that carries
// their traffic can read or forge it.
//
// # Keys and tokens
//
// [NewKey] makes a key of 100 random bits that is easy to read aloud and
// type ("7k3q-m9xd-2f8h-tp4w-c6rn"); people may also choose their own,
// weak, keys, which [ValidateKey] accepts if they are printable and at
// most 256 bytes. [Token] derives from the key, with HKDF-SHA256, the
// 32-byte token under which both peers register at the rendezvous server.
// The token only pairs the peers: authentication does not depend on it.
//
// # The handshake
//
// [Handshake] runs on a stream the caller connected (a punched TCP
// connection); exactly one side is the initiator ([Config.Initiator]):
//
//  1. Both sides send a tiny HELLO (version, role) in the clear, so that a
//     role or version mismatch fails at once instead of hanging. The
//     initiator sends the first message of the PAKE (SPAKE2 as implemented
//     by github.com/schollz/pake/v3, on curve P-256, keyed with the shared
//     key) with it and, over TCP, its TLS ClientHello right behind.
//  2. The responder answers with the PAKE's second message and
//     HMAC-SHA256(K, "punch certificate v2" || 'R' || SHA-256(C)), where K
//     is the PAKE session key and C the TLS certificate it is about to
//     present: a fresh self-signed Ed25519 one that carries no identity
//     but this MAC.
//  3. TLS 1.3, the initiator as client ([TLSConfig]): ephemeral ECDHE key
//     exchange (X25519 or the hybrid X25519MLKEM768 the standard library
//     prefers) and AEAD records. The initiator takes only the certificate
//     that the MAC vouches for, so when its TLS handshake ends (one round
//     trip after it started) the responder is proved to know the key.
//  4. Inside TLS, with its Finished, the initiator sends
//     HMAC-SHA256(K, "punch confirm v1" || 'I' || E), E being the TLS
//     session's exporter ([Exporter]); the responder checks it.
//
// Only then does Handshake return a [Conn]: the initiator may send data at
// once, the responder has read nothing of it yet.
//
// [Relayed] runs the same messages with steps 1 and 2 carried by another
// channel (the rendezvous server) while the connection is being punched,
// so that the initiator's Finished, CONFIRM and first data leave as soon
// as the connection is up. Its initiator offers X25519 alone, to keep its
// first flight small. A QUIC tunnel uses
// [TLSConfig] for the QUIC handshake, then [Confirm] on the first stream
// with the QUIC connection's exporter: HELLOs, the PAKE and both MACs over
// the exporter, inside the channel. The wire format is documented in
// wire.go.
//
// # Security properties
//
//   - Confidentiality and integrity against everyone on the path, relays
//     included: TLS 1.3 AEAD with keys from an ephemeral key exchange.
//   - Forward secrecy: TLS 1.3 keys come from ephemeral ECDHE, and the PAKE
//     uses fresh randomness each time, so recording the traffic and later
//     learning the key (or stealing a machine) does not decrypt past
//     sessions.
//   - Authentication by the shared key alone: a peer that does not know
//     the key fails key confirmation, on both sides, before any user data.
//   - No man in the middle: someone who terminates TLS with each side (the
//     rendezvous server or a relay could try, since they connect the two)
//     holds two TLS sessions. Forwarding the PAKE verbatim gives both sides
//     the same K, but the responder's MAC binds K to its own certificate,
//     which the initiator then does not see, and the initiator's binds K
//     to its own TLS session's exporter; taking part in the PAKE himself
//     needs the key.
//   - Offline-dictionary resistance: the PAKE's messages and MACs, though
//     the first two travel in the clear, reveal nothing that allows testing
//     guesses of the key offline (that would take the discrete logarithms
//     of the PAKE's points). An active
//     attacker gets exactly one guess per handshake attempt, which the
//     user sees as a failed connection. This is why weak keys chosen by
//     people are still safe against relays and the network.
//   - What the rendezvous server learns: the token, the peers' addresses
//     and the timing, never the key. But the token is a deterministic
//     function of the key, so a hostile server can test key guesses
//     against it offline, recover a weak key and then join as the peer
//     (it can route the connection through itself). Only keys with enough
//     entropy, such as those from NewKey (100 bits), protect against a
//     hostile rendezvous server.
//   - The HELLOs (version and role) are in the clear and unauthenticated;
//     tampering with them can only make the handshake fail, which an
//     attacker on the path can always do. The role is also bound into the
//     MACs.
//
// Only TLS 1.3 is accepted; session tickets and resumption are disabled,
// so every connection runs the full handshake.
package secure
