// Package stunserver is a STUN server: it answers Binding requests so that a
// client learns the public address and port a NAT gave it, and, when the
// server has two IP addresses, lets the client discover how that NAT maps
// and filters (RFC 5780).
//
// # RFC coverage
//
//   - RFC 8489 (and RFC 5389): Binding requests over UDP and TCP. Success
//     responses carry XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, SOFTWARE (unless
//     disabled) and FINGERPRINT. A request that carries a FINGERPRINT must
//     carry a valid one as its last attribute. Authentication is not used:
//     USERNAME and MESSAGE-INTEGRITY in a request are accepted and ignored,
//     so ICE connectivity checks (RFC 8445: PRIORITY, USE-CANDIDATE,
//     ICE-CONTROLLED, ICE-CONTROLLING) are answered like plain requests.
//   - RFC 5780: every success response carries RESPONSE-ORIGIN, the address
//     it is sent from (when that address is known, see below). A server with
//     two IP addresses and two ports adds OTHER-ADDRESS and honours the
//     change-IP and change-port flags of CHANGE-REQUEST by sending the
//     response from the matching other socket (RFC 5780 table 1). A
//     CHANGE-REQUEST the server cannot honour (a single address, or TCP)
//     gets the 420 (Unknown Attribute) error RFC 5780 section 6 demands; one
//     with no flag set needs no change and is answered normally, because
//     classic clients send it in their first test. PADDING and RESPONSE-PORT
//     are not implemented (they make responses larger or send them
//     elsewhere) and get a 420 as RFC 5780 allows.
//   - RFC 3489 ("classic STUN"): a request without the magic cookie is
//     answered with MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS (RFC 5780
//     mode only) and SOFTWARE, without XOR-MAPPED-ADDRESS or FINGERPRINT, and
//     with the client's 128-bit transaction ID echoed unchanged.
//     RESPONSE-ADDRESS is not honoured (it would make the server a
//     reflector) and gets a 420.
//   - Any other comprehension-required attribute gets a 420 listing it in
//     UNKNOWN-ATTRIBUTES.
//
// Anything else gets no reply at all: malformed packets, messages with a bad
// FINGERPRINT, responses, indications and methods other than Binding. Over
// TCP such a message closes that connection (a Binding indication, a
// keepalive, is ignored). The server does not amplify: a response holds
// only the attributes listed above, never echoes request data and never
// pads, so it is at most [Server.MaxGrowth] bytes (116 with the default
// SOFTWARE) larger than the request it answers.
//
// # Socket model
//
// The server opens no socket itself unless asked to: the caller hands it
// sockets, so tests run it over loopback.
//
//   - [Server.ServeUDP] serves a group of UDP sockets, each with its [Role]
//     in the RFC 5780 grid of two IPs (A1, A2) by two ports (P1, P2). A
//     group of all four roles, bound to specific addresses, enables RFC
//     5780; a group of one socket is a plain STUN server. One goroutine reads
//     each socket; a response is written by that goroutine, to the client,
//     through whichever socket of the group CHANGE-REQUEST selects. On
//     Linux a *net.UDPConn is read and written in batches of up to 32
//     datagrams per system call (recvmmsg and sendmmsg).
//   - [Server.ServeTCP] serves a listener: one goroutine per connection,
//     STUN messages back to back (RFC 8489 section 6.2.2), a read deadline
//     that drops idle and slow clients, a cap on message size and on the
//     number of connections.
//   - [Listen] opens the sockets for a set of IPs and ports, and
//     [Server.Serve] serves them; [Server.ListenAndServe] does both.
//
// Serve calls block until their context is cancelled or [Server.Close] is
// called, and close the sockets they were given when they return. A socket
// bound to an unspecified address (0.0.0.0, ::) does not know which of the
// host's addresses a request was sent to, so its responses carry no
// RESPONSE-ORIGIN; bind specific addresses to get one.
//
// The request path allocates almost nothing: each reader goroutine (and
// each TCP connection) owns its buffers and decoded messages, allocated
// once or taken from a pool. The one exception is the batched read on
// Linux, where golang.org/x/net allocates the source address of each
// datagram (a *net.UDPAddr and its IP).
// Messages are encoded and decoded with github.com/pion/stun/v4.
package stunserver
