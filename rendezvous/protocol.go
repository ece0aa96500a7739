package rendezvous

import (
	"encoding/json"
	"net/netip"
)

// The wire protocol, on one TCP port (DefaultPort). A client speaks first;
// the server answers once and closes the connection. Nothing is sent after
// the answer in either direction, except when the server relays the
// peers' handshake flights (below).
//
// Legacy T-STUN (the punchhole tstun protocol):
//
//	client -> server  32 bytes: the session key, any byte values
//	server -> client  "IP PORT\n": the peer's public address as the server
//	                  saw it (IPv4 dotted quad, or IPv6 without brackets
//	                  and without a zone), then the server closes
//
// The first client of a key waits; when a second sends the same key, both
// get the other's address. Errors (timeout, key in use, too many waiting,
// anything but exactly 32 bytes) close the connection without a line.
//
// Version 1, punch's own clients:
//
//	client -> server  "PUNCH/1\n" (8 bytes, Hello)
//	client -> server  one JSON object and "\n", at most 4096 bytes with
//	                  the "\n" (MaxRequestSize):
//	                  {"token": "<64 hex digits>", "kind": "tcp"|"udp",
//	                   "local": ["ip:port", ...], "udp": ["ip:port", ...],
//	                   "info": {...}, "hs": "<base64>"}
//	server -> client  one JSON object and "\n", then the server closes
//	                  (unless it relays, below):
//	                  {"peer": "ip:port", "peer_local": [...],
//	                   "peer_udp": [...], "peer_info": {...},
//	                   "peer_hs": "<base64>", "self": "ip:port",
//	                   "leader": true|false, "v": 1}
//	              or  {"error": "text", "code": "key-in-use"|"timeout"|
//	                   "bad-request"|"too-many"|"kind-mismatch"}
//
// Relaying the first flights: "hs" is the first flight of the client's
// secure handshake, 1 to MaxHandshakeSize bytes in standard base64 with
// padding, opaque to the server. When both clients of a pair sent one and
// the server pairs in its own memory (its Matcher is a *MemoryMatcher),
// each answer carries the peer's as "peer_hs", and the connections stay
// open for one more line:
//
//	leader -> server    {"hs": "<base64>"} and "\n", at most 4096 bytes
//	                    with the "\n", within Config.HandshakeTimeout of
//	                    the pairing: the leader's reply
//	server -> follower  {"hs": "<base64>"} and "\n", the same bytes
//	                    re-encoded; then the server closes both
//
// When the leader closes, sends a malformed line (answered with a
// bad-request error) or nothing in time, the server closes the follower's
// connection without a line. Without "peer_hs" everything is as above.
//
// A legacy key that starts with the 8 bytes of Hello is read as a version
// 1 hello: such keys cannot be used with this server (one random key in
// 2^64 does). Legacy keys and version 1 tokens live in separate
// namespaces, so a legacy client never pairs with a version 1 one.
const (
	// DefaultPort is the T-STUN port, TCP.
	DefaultPort = 3477

	// KeySize is the size of a legacy key and of a version 1 token.
	KeySize = 32

	// Hello starts a version 1 request.
	Hello = "PUNCH/1\n"

	// MaxRequestSize is the largest version 1 request line in bytes, its
	// "\n" included (Hello not included).
	MaxRequestSize = 4096

	// MaxInfoSize is the largest "info" object in bytes, as sent.
	MaxInfoSize = 1024

	// MaxCandidates is the most addresses "local" and "udp" may each list.
	MaxCandidates = 16

	// MaxHandshakeSize is the largest handshake flight ("hs", and the
	// leader's reply) in bytes, decoded.
	MaxHandshakeSize = 2048

	// MaxAnswerSize is the largest answer line a client accepts, in bytes.
	// An answer holds at most two candidate lists, an info object, a
	// handshake flight, a relay grant and three addresses, far less than
	// this.
	MaxAnswerSize = 16384

	// ProtocolVersion is the "v" of version 1 answers.
	ProtocolVersion = 1

	// maxLegacyAnswer is the longest legacy answer line a client accepts:
	// an IPv6 address, a space, a port and "\n" need 46 bytes.
	maxLegacyAnswer = 64
)

// Error codes of version 1 error answers.
const (
	CodeKeyInUse     = "key-in-use"
	CodeTimeout      = "timeout"
	CodeBadRequest   = "bad-request"
	CodeTooMany      = "too-many"
	CodeKindMismatch = "kind-mismatch"
)

// Kind is the kind of session a version 1 client asks for; a session only
// pairs with one of the same kind.
type Kind string

const (
	// KindTCP asks for a TCP session (simultaneous open). The default.
	KindTCP Kind = "tcp"
	// KindUDP asks for a UDP session (hole punching).
	KindUDP Kind = "udp"
	// KindConnect asks for a session that races every path at once (TCP
	// and UDP punching, relay): Local lists TCP candidates, UDP the UDP
	// ones, and the answer may carry a relay Grant.
	KindConnect Kind = "connect"
	// KindRelay exchanges relay addresses: a pair of connect clients that
	// fell back to the relay registers again under a token derived from
	// the first, with its relayed address in UDP.
	KindRelay Kind = "relay"
)

// kinds lists the kinds a server accepts.
var kinds = []Kind{KindTCP, KindUDP, KindConnect, KindRelay}

// Grant lets a paired client use the server's relay (TURN): where it is and
// the credentials, valid for a short time (docs/relay.md).
type Grant struct {
	// Addrs are the relay's addresses (UDP), at most one per family.
	Addrs []netip.AddrPort `json:"addrs"`
	// Username and Password are TURN long-term credentials.
	Username string `json:"username"`
	Password string `json:"password"`
	// Pair are the addresses of the server's pair relay (UDP), at most
	// one per family, which takes the same credentials: both peers of a
	// pair get the same, and the pair relay forwards between the two
	// addresses that join with them (docs/relay.md). Absent when the
	// server runs none.
	Pair []netip.AddrPort `json:"pair,omitempty"`
}

// Request is what a version 1 client tells the server.
type Request struct {
	// Token names the session. Derive it from the key both peers share
	// (package secure does), so that the key never reaches the server.
	Token [KeySize]byte

	// Kind is the kind of session. Default: KindTCP.
	Kind Kind

	// Local lists the client's own addresses (those of the socket it
	// will punch from), for a peer behind the same NAT. At most
	// MaxCandidates. Default: none.
	Local []netip.AddrPort

	// UDP lists UDP candidates, such as a STUN-mapped address, passed to
	// the peer as they are. At most MaxCandidates. Default: none.
	UDP []netip.AddrPort

	// Info is a JSON object of at most MaxInfoSize bytes passed to the
	// peer as it is, a NAT report for example. Default: none.
	Info json.RawMessage

	// Handshake is the first flight of the client's secure handshake, at
	// most MaxHandshakeSize bytes, which the server passes to the peer
	// (Match.PeerHandshake) as opaque bytes when it relays: when both
	// sides send one and the server pairs in its own memory. Default:
	// none (nil or empty).
	Handshake []byte
}

// Match is the server's answer to a paired version 1 client.
type Match struct {
	// Peer is the peer's public address, as the server saw it.
	Peer netip.AddrPort
	// Self is this client's public address, as the server saw it.
	Self netip.AddrPort
	// PeerLocal and PeerUDP are the peer's Request.Local and Request.UDP.
	PeerLocal []netip.AddrPort
	PeerUDP   []netip.AddrPort
	// PeerInfo is the peer's Request.Info, nil when it sent none.
	PeerInfo json.RawMessage
	// Leader is true for exactly one side of the pair: the one that
	// waited for the other.
	Leader bool
	// Relay, if the server runs a relay and grants its use to this kind
	// of session, says how to reach and use it; nil otherwise.
	Relay *Grant
	// PeerHandshake is the peer's Request.Handshake when the server
	// relays the first flights, nil otherwise. When it is set, the
	// connection stays open after the answer for one more message: the
	// leader sends its reply with SendReply (or closes the connection to
	// send none), the follower reads it with ReadReply.
	PeerHandshake []byte
}

// wireRequest is the JSON form of a Request.
type wireRequest struct {
	Token string           `json:"token"`
	Kind  Kind             `json:"kind,omitempty"`
	Local []netip.AddrPort `json:"local,omitempty"`
	UDP   []netip.AddrPort `json:"udp,omitempty"`
	Info  json.RawMessage  `json:"info,omitempty"`
	HS    *string          `json:"hs,omitempty"` // nil when absent
}

// wireMatch is the JSON form of a Match.
type wireMatch struct {
	Peer      netip.AddrPort   `json:"peer"`
	PeerLocal []netip.AddrPort `json:"peer_local"`
	PeerUDP   []netip.AddrPort `json:"peer_udp"`
	PeerInfo  json.RawMessage  `json:"peer_info,omitempty"`
	PeerHS    string           `json:"peer_hs,omitempty"`
	Self      netip.AddrPort   `json:"self"`
	Leader    bool             `json:"leader"`
	Relay     *Grant           `json:"relay,omitempty"`
	V         int              `json:"v"`
}

// wireError is the JSON form of an error answer.
type wireError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// wireAnswer is what a client decodes an answer into: a match or an
// error, with pointers that tell absent fields from zero ones.
type wireAnswer struct {
	Peer      *netip.AddrPort  `json:"peer"`
	PeerLocal []netip.AddrPort `json:"peer_local"`
	PeerUDP   []netip.AddrPort `json:"peer_udp"`
	PeerInfo  json.RawMessage  `json:"peer_info"`
	PeerHS    string           `json:"peer_hs"`
	Self      *netip.AddrPort  `json:"self"`
	Leader    *bool            `json:"leader"`
	Relay     *Grant           `json:"relay"`
	V         int              `json:"v"`
	Error     string           `json:"error"`
	Code      string           `json:"code"`
}

// wireReply is the JSON form of the leader's reply, from the leader to the
// server and from the server to the follower.
type wireReply struct {
	HS string `json:"hs"`
}
