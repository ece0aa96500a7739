// Package punch connects two programs behind NATs and firewalls that share
// a key: [Dial] on one side and [Listen] on the other return a [net.Conn]
// to the other side, encrypted and authenticated with the key end to end.
//
// Both sides meet at a punch server (`punch server`: rendezvous, STUN and
// relay), which never sees the key, and then race every path at once, as
// ICE does:
//
//   - a plain TCP connection to a side that has no NAT, from the other
//     (the reverse connection), secured as below;
//   - TCP simultaneous open from the port that reached the server
//     (package tcppunch), secured with TLS 1.3 and a PAKE (package secure),
//     streams multiplexed with yamux;
//   - UDP hole punching from a socket whose public address STUN learned
//     (package udppunch), with a QUIC tunnel over it (package tunnel):
//     with port prediction for NATs that allocate ports in sequence, and
//     the birthday technique for NATs that allocate them at random;
//   - after a grace period with no direct path ([Config.RelayGrace]), the
//     server's TURN relay (package relay), with the same QUIC tunnel, so the
//     relay sees only ciphertext. A relayed session keeps punching and
//     moves its traffic to the direct path when one gets through, without
//     breaking its streams.
//
// Two peers behind the same NAT also try each other's LAN addresses. The
// side that waited at the server (the leader) takes the first path that
// authenticates and tells the other on it; the other paths are closed.
// [Conn.Path] and [Session.Attempts] say which path won and what became
// of the others; [Session.NATs] how the two NATs map. docs/connect.md has
// the details.
//
// [Connect] returns the [Session] itself, which carries any number of
// streams in both directions (port forwarding, as `punch connect -l/-c`
// does).
package punch
