package stunserver

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"

	"github.com/pion/stun/v4"
)

// Wire constants (RFC 8489 section 5). A STUN message is a 20-byte header
// followed by attributes, each a 4-byte type-length header and a value
// padded to 4 bytes:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|0 0|     STUN Message Type     |         Message Length        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Magic Cookie (0x2112A442)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Transaction ID (96 bits)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An RFC 3489 message has no magic cookie: its transaction ID is the 128
// bits after the length. The header is framed here (size, length, cookie);
// everything else is decoded and encoded by pion/stun.
const (
	headerSize  = 20
	magicCookie = 0x2112A442

	// changeIP and changePort are the flags of the 32-bit CHANGE-REQUEST
	// value (RFC 5780 section 7.2, RFC 3489 section 11.2.4).
	changeIP   = 0x4
	changePort = 0x2

	// typeBindingRequest and typeBindingIndication are the message type
	// fields of the two messages the server reads.
	typeBindingRequest    = 0x0001
	typeBindingIndication = 0x0011

	// maxUnknown caps the attribute types listed in UNKNOWN-ATTRIBUTES.
	maxUnknown = 16

	// maxAddrAttr is the size of the largest address attribute: a 4-byte
	// header, family and port, and an IPv6 address.
	maxAddrAttr = 4 + 4 + 16
	// fingerprintAttr is the size of the FINGERPRINT attribute.
	fingerprintAttr = 4 + 4
)

// reasonUnknownAttribute is the reason phrase of the 420 error.
var reasonUnknownAttribute = []byte("Unknown Attribute")

// verdict is what to do with a received message.
type verdict uint8

const (
	// verdictDrop: not a message to answer (malformed, not a Binding
	// request, bad FINGERPRINT). No reply; over TCP, close the connection.
	verdictDrop verdict = iota
	// verdictIgnore: a well-formed Binding indication (a keepalive). No
	// reply; the connection stays.
	verdictIgnore
	// verdictReply: send the worker's response.
	verdictReply
)

// request is what handle learned from a request besides pion's decoding.
type request struct {
	// classic marks an RFC 3489 request (no magic cookie); cookie holds
	// the first four bytes of its transaction ID, which stand where the
	// cookie is in a newer message.
	classic bool
	cookie  [4]byte
	// change is the socket change CHANGE-REQUEST asks for, as role bits.
	change Role
}

// worker holds the buffers one goroutine needs to read and answer
// requests. It is owned by one goroutine at a time and reused, so that the
// request path allocates nothing.
type worker struct {
	buf     []byte // TCP read buffer, MaxMessageSize bytes
	req     stun.Message
	resp    stun.Message
	unknown []stun.AttrType
	ip      [16]byte // backing array of the net.IP values given to pion
}

func (s *Server) newWorker() *worker {
	return &worker{
		buf:     make([]byte, s.cfg.MaxMessageSize),
		req:     stun.Message{Attributes: make(stun.Attributes, 0, 16)},
		resp:    stun.Message{Raw: make([]byte, 0, 256), Attributes: make(stun.Attributes, 0, 8)},
		unknown: make([]stun.AttrType, 0, maxUnknown),
	}
}

func (s *Server) getWorker() *worker  { return s.workers.Get().(*worker) }
func (s *Server) putWorker(w *worker) { s.workers.Put(w) }

// handle answers one message. pkt is exactly one message as received (a
// datagram, or one framed TCP message) and may be modified. client is the
// sender, g the group of the receiving socket and role that socket's role;
// udp tells whether the transport can honour CHANGE-REQUEST. On
// verdictReply the response is w.resp.Raw and must be sent from the socket
// with the returned role.
func (s *Server) handle(w *worker, pkt []byte, client netip.AddrPort, g *grid, role Role, udp bool) (verdict, Role) {
	v, req := s.parse(w, pkt)
	if v != verdictReply {
		return v, role
	}
	if req.change != 0 && !(udp && g.full) {
		// RFC 5780 section 6.1: no alternate address, or a transport
		// that cannot send from another address.
		w.addUnknown(stun.AttrChangeRequest)
	}
	if len(w.unknown) > 0 {
		s.buildError(w, req)
		return verdictReply, role
	}
	send := role ^ req.change
	s.buildSuccess(w, req, client, g, role, send)
	return verdictReply, send
}

// parse frames and decodes pkt into w.req and checks its attributes. It
// returns verdictReply for a Binding request to answer, and collects its
// unknown comprehension-required attributes in w.unknown.
func (s *Server) parse(w *worker, pkt []byte) (verdict, request) {
	var req request
	if len(pkt) < headerSize || pkt[0]&0xC0 != 0 {
		return s.drop(pkt, "not a STUN message")
	}
	n := int(binary.BigEndian.Uint16(pkt[2:4]))
	if n%4 != 0 || headerSize+n != len(pkt) {
		return s.drop(pkt, "bad length")
	}
	if binary.BigEndian.Uint32(pkt[4:8]) != magicCookie {
		// RFC 3489: pion decodes only messages with the cookie, and the
		// attributes are laid out the same, so put one in for decoding.
		req.classic = true
		copy(req.cookie[:], pkt[4:8])
		binary.BigEndian.PutUint32(pkt[4:8], magicCookie)
	}
	w.req.Raw = pkt
	if err := w.req.Decode(); err != nil {
		return s.drop(pkt, "undecodable")
	}
	switch w.req.Type {
	case stun.BindingRequest:
	case stun.NewType(stun.MethodBinding, stun.ClassIndication):
		return verdictIgnore, req
	default:
		return s.drop(pkt, "not a Binding request")
	}
	w.unknown = w.unknown[:0]
	last := len(w.req.Attributes) - 1
	for i, a := range w.req.Attributes {
		switch a.Type {
		case stun.AttrFingerprint:
			if req.classic {
				continue // not an RFC 3489 attribute; ignored
			}
			if i != last || !fingerprintLast(pkt) || stun.Fingerprint.Check(&w.req) != nil {
				return s.drop(pkt, "bad FINGERPRINT")
			}
		case stun.AttrChangeRequest:
			if len(a.Value) != 4 {
				return s.drop(pkt, "bad CHANGE-REQUEST")
			}
			flags := binary.BigEndian.Uint32(a.Value)
			if flags&changeIP != 0 {
				req.change |= RoleAltIP
			}
			if flags&changePort != 0 {
				req.change |= RoleAltPort
			}
		default:
			if a.Type.Required() && !understood(a.Type) {
				w.addUnknown(a.Type)
			}
		}
	}
	return verdictReply, req
}

// fingerprintLast reports whether pkt ends with a FINGERPRINT attribute.
func fingerprintLast(pkt []byte) bool {
	t := pkt[len(pkt)-fingerprintAttr:]
	return binary.BigEndian.Uint16(t[0:2]) == uint16(stun.AttrFingerprint) &&
		binary.BigEndian.Uint16(t[2:4]) == 4
}

// understood reports whether the server understands a comprehension-required
// attribute of a Binding request: those of RFC 8489 (authentication ones
// are ignored: this server does not authenticate), CHANGE-REQUEST, and the
// ICE ones (RFC 8445), so that connectivity checks are answered.
func understood(t stun.AttrType) bool {
	switch t {
	case stun.AttrMappedAddress, stun.AttrXORMappedAddress,
		stun.AttrUsername, stun.AttrMessageIntegrity, stun.AttrMessageIntegritySHA256,
		stun.AttrErrorCode, stun.AttrUnknownAttributes,
		stun.AttrRealm, stun.AttrNonce, stun.AttrPasswordAlgorithm, stun.AttrUserhash,
		stun.AttrChangeRequest,
		stun.AttrPriority, stun.AttrUseCandidate:
		return true
	}
	return false
}

func (w *worker) addUnknown(t stun.AttrType) {
	if len(w.unknown) < maxUnknown {
		w.unknown = append(w.unknown, t)
	}
}

// drop logs why a message gets no answer.
func (s *Server) drop(pkt []byte, why string) (verdict, request) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("stun: dropped message", "reason", why, "size", len(pkt))
	}
	return verdictDrop, request{}
}
