// Package forward moves data between a connection to a peer and the
// things a user points punch at: standard input and output (ncat-like,
// with half-close so that `< file` on one side and `> file` on the other
// copies a file byte for byte, in both directions at once), and TCP port
// forwarding of many connections at once over one multiplexed session
// (one stream per forwarded connection).
//
// It is transport-neutral: the peer connection is any net.Conn, and
// sessions are anything that opens and accepts streams ([Mux]), such as
// yamux over a punched TCP connection or QUIC.
package forward
