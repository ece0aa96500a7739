// Package detpunch connects two hosts by TCP hole punching with no server
// of any kind (seed 001): each side knows only the other's public IP, and
// both derive everything else from their clocks.
//
// # Buckets and ports
//
// Time is cut into buckets of [Window] = 2·MaxClockError + 2 s; a side's
// bucket is ⌊(t − MaxClockError) / Window⌋ of its clock time t. Two sides
// can fall into adjacent buckets and then never meet, so each also tries
// the neighbouring bucket nearer to its clock time ([Buckets]): any two
// starts at most RunWindow apart, with clocks at most MaxClockError
// apart, share a bucket (RunWindow ≤ MaxClockError + 2 s). Each bucket
// seeds a PRNG with (bucket × 2654435761) mod 0xFFFFFFFF and yields
// Config.Ports ports ([Ports]; the generator is specified in docs/det.md
// so that other implementations derive the same list).
//
// # Sockets
//
// On every port of both buckets a side listens and connects from that
// port to the peer's IP and the same port, relying on both NATs to keep
// the local port as the public one ("equal-delta" mapping, port
// preservation). Every socket is bound with SO_REUSEADDR and
// SO_REUSEPORT and non-blocking (package tcppunch); a connect that fails
// (RST) is repeated from a fresh socket on the same port after 10 ms
// ([Retry]), until the deadline, long enough for a peer that starts a
// whole run window later. The outgoing SYNs open this side's NAT, so the
// peer's SYN passes it and meets our socket in SYN-SENT (a simultaneous
// open) or the listener. No socket that may complete is closed before the
// winner is chosen: a close would answer the peer's late SYN-ACK with
// RST, which kills the peer's attempt and its NAT mapping.
//
// # Choosing one connection
//
// Several ports may connect. The side with the greater IP leads: it
// writes the single byte '$' on the first connection that comes up. The
// follower keeps punching until '$' arrives on one of its connections
// and keeps that one. The choice names the bucket on both sides: buckets
// up to two apart never share a port, so [Key] can derive a key from it
// when the peers share none.
//
// # Settling
//
// The same peers may run again in the same bucket while their NATs still
// hold this run's half-open entries for the same port pairs, which can
// then drop every SYN on them for two minutes. So after the choice the
// two sides trade plans on the connections that lost, dial each other's
// bucket that they do not share so that every attempt either made comes
// up, and close what lost gracefully; [Run.Close] waits for it. See the
// comment on sprayer.finish and docs/det.md.
package detpunch
