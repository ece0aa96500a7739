// Package stun probes a NAT with STUN (RFC 8489) from a socket its caller
// owns, and discovers the NAT's behaviour with the tests of RFC 5780.
//
// Every probe takes the caller's socket, a net.PacketConn (or a net.Conn
// for [BindTCP]), and never opens one of its own, so the public address
// and mapping it measures are those of the socket the caller goes on to
// use for hole punching or a tunnel. Messages are encoded and decoded with
// github.com/pion/stun/v4.
//
//   - [Bind] sends one binding request and returns the mapped (public)
//     address, retransmitting on an RFC 8489 schedule and ignoring packets
//     that are not its answer.
//   - [BindTCP] does the same over a TCP connection, for TCP punching.
//   - [Discover] runs the RFC 5780 tests against a server with two IP
//     addresses and two ports and returns a [Report]: public address,
//     whether there is a NAT, mapping and filtering behaviour (RFC 4787),
//     port preservation, hairpinning, and the classic NAT1..NAT4 class
//     with advice for users.
//
// While a probe runs it owns the socket's reads and read deadline: run
// probes before handing the socket to other readers, or feed them the
// packets the probe does not want through [Config.Unmatched].
//
// A [Config] whose zero value works tunes the retransmission schedule and
// timeouts; with the defaults a full discovery through a NAT that drops
// probes takes about two seconds, and tests on fast networks can use a
// Timeout of a few hundred milliseconds.
package stun
