// Package natlab builds a network lab of real kernel NATs in Linux network
// namespaces, for tests, benchmarks and the `punch lab` command.
//
// # Topology
//
// The lab's "internet" is routed, never a flat bridge: every site hangs off
// a core router on a link of its own, so any two sites are at least one
// router hop apart and a packet sent with a low TTL can open its sender's
// NAT mapping and expire in the core before it reaches the peer's NAT, as on
// the real internet. The core is a user-space router (package
// [github.com/punchkit/punch/natlab/core]) reading each site's TUN device,
// which gives every link delay, jitter, loss, duplication, reordering and
// a rate in each direction; it runs in the process that built the lab (a
// daemon for `punch lab up`).
//
//	 host a ── router natA ──┐             ┌── router natB ── host b
//	10.0.1.2   203.0.113.10  │             │  203.0.113.18   10.0.2.2
//	                         └── core ─────┘
//	                               │
//	                        server 198.51.100.2
//	                               198.51.100.3
//
// The server host has two public IPv4 addresses and two IPv6 addresses on
// its link, as RFC 5780 needs. Every site is a router namespace with one or
// more host namespaces behind it on a LAN. The router implements the site's
// [NATType] with nftables; [Input] says what it does with unsolicited
// packets addressed to itself. Addresses come from the documentation
// ranges: 203.0.113.0/24 for the routers' WAN links, 198.51.100.0/24 for
// the server and for public LANs, 2001:db8::/32 for IPv6. NATed LANs use
// 10.0.N.0/24 and fd00:0:0:N::/64 (IPv6 is translated the same way as IPv4,
// so every NAT type exists for both families).
//
// # NAT types
//
// Mapping and filtering (RFC 4787) are set separately for each type:
//
//   - none: a public host, the router only forwards;
//   - fullcone: endpoint-independent mapping and filtering (NAT1);
//   - restricted: endpoint-independent mapping, address-dependent
//     filtering (NAT2);
//   - portrestricted: endpoint-independent mapping, address-and-port-
//     dependent filtering (NAT3, Linux's plain masquerade);
//   - symmetric: a random public port for every new destination (NAT4);
//   - symmetric-seq: a new public port for every new destination, taken
//     sequentially from a counter, so the next one can be predicted;
//   - firewall: no translation, a stateful firewall that lets only replies
//     in.
//
// Endpoint-independent mapping without port preservation hashes the
// internal address and port to a public port, so the mapping stays the
// same for every destination but differs from the local port.
//
// # Lifetime
//
// [New] builds a lab and records it under [StateDir]; [Open] finds one a
// previous process built; [Lab.Close] removes every namespace, interface and
// process the lab made. A failed [New] cleans up after itself. Everything
// needs root, iproute2 and nftables.
package natlab
