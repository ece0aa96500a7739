// Package core is the NAT lab's internet: a user-space IP router that moves
// packets between TUN devices, one per site, and gives every link the
// delay, jitter, loss, duplication, reordering and rate of a real path,
// in each direction. The kernel here has no netem, so the impairments
// live in this package.
//
// # Model
//
// Every link has two directions, up (from the site into the core) and down
// (from the core to the site). A packet read from site A's device for site
// B crosses A's up direction and then B's down direction, each a queue
// that applies, in order: loss (drop with a probability), the rate
// (serialisation at the link's bit rate, tail drop when the queue holds
// more than QueueLimit of transmission time), the propagation delay with
// jitter (uniform in ±Jitter, never reordering packets by itself),
// reordering (with a probability a packet is held back by ReorderDelay so
// that later ones overtake it) and duplication (with a probability a copy
// follows the packet). Packets leave a queue within [SleepSlop] of their
// due time: the queues sleep with clock_nanosleep, not Go timers, whose
// millisecond granularity would show in round-trip times. A busy
// rate-limited queue hands its packets on at most every [BatchInterval],
// as a network card that moderates its interrupts does, so that the core
// writes them to the site's device in few system calls.
//
// The router decrements the TTL (IPv4) or hop limit (IPv6) of every packet
// it forwards and answers an expiring one with ICMP time exceeded from its
// own address on the incoming link, as a real router does, so a packet
// sent with TTL 2 from behind a NAT opens the NAT's mapping and dies here.
//
// Faults: a link can be blackholed for a while (everything to and from it
// dropped). With a capture directory set, every link's packets (as they
// enter the core and as they leave it) are written to LINK.pcap.
//
// Devices come from the caller ([Link.Dev]): the lab creates TUN devices
// inside the sites' network namespaces; tests can use in-memory devices.
package core
