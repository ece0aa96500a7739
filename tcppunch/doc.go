// Package tcppunch opens TCP connections through NATs and stateful
// firewalls by simultaneous open (RFC 793 figure 8; seed 000): both peers
// connect to each other at the same time from the local port their NAT
// mapping is known for, so that each side's outgoing SYN opens its own NAT
// for the other's.
//
// # Sockets
//
// Every punching socket is bound with SO_REUSEADDR and SO_REUSEPORT to the
// same local port, the one that reached the rendezvous server (whose
// observed address is the peer's target), and a listening socket on that
// port catches a peer's SYN that arrives while no connect is in flight. A
// punching socket is never closed while its SYN may still be answered: a
// late SYN-ACK to a closed port is answered with RST, which kills the
// peer's attempt (seed 001).
//
// # Roles and the low-TTL SYN
//
// A NAT that rejects unsolicited SYNs (TCP RST, OpenWrt's default) or
// accepts them into its own stack kills simultaneous open whenever the
// peer's SYN reaches it before our own SYN has left: naive retrying never
// succeeds when both SYNs cross. So the peers take roles:
//
//   - The leader's SYN goes out with a TTL that lets it through its own
//     NATs but not to the peer's: it opens the leader's NAT mapping and
//     dies in the network, and the socket waits in SYN-SENT.
//   - The follower connects a moment later. Its SYN passes its own NAT,
//     then the leader's now-open NAT, and reaches the leader's socket in
//     SYN-SENT: a simultaneous open, whose SYN-ACKs pass both mappings.
//
// The router where the leader's SYN dies answers with ICMP time exceeded,
// and Linux aborts a socket in SYN-SENT on any ICMP error. The leader
// therefore sets a minimum TTL (IP_MINTTL, IPV6_MINHOPCOUNT) of 128 on its
// socket, which makes the kernel ignore the ICMP error (for IPv4 the check
// is on the quoted header, whose TTL was 1; for IPv6 on the ICMP packet,
// sent with a hop limit of 64 at most), and the follower sends with a TTL
// of 255 so that its packets pass that minimum. The leader lifts its
// minimum once connected; the follower keeps its TTL of 255, because its
// first packets after the handshake may arrive before the leader has. The leader's TTL comes from [ProbeHops]: the smallest
// TTL at which a probe's ICMP time exceeded comes from a public address,
// one hop beyond the last NAT.
//
// Without roles ([Both], for manual mode and interoperation with ncat or
// socat, which simply connect) both sides connect and listen, which works
// through NATs that drop unsolicited SYNs.
//
// Attempts that end in RST are retried with a fresh socket on the same
// port until the deadline; SYN retransmissions are left to the kernel.
package tcppunch
