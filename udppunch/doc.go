// Package udppunch punches a UDP path through NATs from one socket (seed
// 002 without its limits): both peers send authenticated probes to each
// other's candidate addresses until each has heard the other and seen its
// own probe acknowledged, learning on the way the address the peer's
// packets really come from (its NAT may not keep the port the peer was
// told about).
//
// # Wire format
//
// Every punch packet is 40 bytes:
//
//	0   4  magic 0x2a "PNC" (the first byte below 0x40, so a QUIC
//	       transport on the same socket passes it on as non-QUIC)
//	4   1  version (1)
//	5   1  type: 1 probe, 2 acknowledgement
//	6   2  reserved, zero
//	8   8  the sender's nonce, random for each punch
//	16  8  the nonce being acknowledged (zero in a probe)
//	24 16  HMAC-SHA256 of bytes 0-23 under a key derived from the shared
//	       key (HKDF-SHA256, info "punch udp punch v1"), truncated
//
// A packet with a bad MAC is ignored, so a stray or spoofed packet cannot
// steer the punch; an acknowledgement counts only if it echoes this
// punch's own nonce, so replayed packets cannot complete it. The side with
// the greater nonce is the initiator of what follows (the QUIC
// handshake).
//
// # Timing and the low-TTL first packet
//
// A NAT that accepts unsolicited packets into its own stack keeps a
// conntrack entry for the peer's first packet, and that entry takes the
// public port our own first packet would have been mapped to: "both send
// to port X" then never meets. So each side first sends one probe with a
// TTL that passes its own NATs but dies before the peer's (opening its own
// mapping), and only after FirstDelay starts probing for real, by which
// time both sides' mappings exist. Probes are then sent every Interval
// (growing to 500 ms) to every candidate until the deadline.
package udppunch
