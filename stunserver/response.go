package stunserver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
)

// start resets w.resp to an empty response of type t to w.req.
func (w *worker) start(t stun.MessageType) *stun.Message {
	m := &w.resp
	m.Reset()
	m.Type = t
	m.TransactionID = w.req.TransactionID
	m.WriteHeader()
	return m
}

// buildSuccess writes the Binding success response into w.resp: the
// client's address, RESPONSE-ORIGIN for the socket role send, OTHER-ADDRESS
// in RFC 5780 mode, with their RFC 3489 names and encodings for a classic
// client.
func (s *Server) buildSuccess(w *worker, req request, client netip.AddrPort, g *grid, role, send Role) {
	m := w.start(stun.BindingSuccess)
	c := client.Addr().Unmap()
	port := int(client.Port())
	originAttr, otherAttr := stun.AttrResponseOrigin, stun.AttrOtherAddress
	if req.classic {
		originAttr, otherAttr = stun.AttrSourceAddress, stun.AttrChangedAddress
	} else {
		_ = stun.XORMappedAddress{IP: w.netIP(c), Port: port}.AddTo(m)
	}
	// RFC 5780 section 6.1 wants MAPPED-ADDRESS too; RFC 3489 clients
	// know only it.
	w.addAddr(m, stun.AttrMappedAddress, netip.AddrPortFrom(c, client.Port()))
	if origin := g.addrs[send]; origin.IsValid() {
		w.addAddr(m, originAttr, origin)
	}
	if g.full {
		w.addAddr(m, otherAttr, g.addrs[role^RoleAltIPPort])
	}
	s.finish(w, req)
}

// buildError writes a 420 (Unknown Attribute) error response listing
// w.unknown into w.resp (RFC 8489 section 6.3.1.1).
func (s *Server) buildError(w *worker, req request) {
	m := w.start(stun.BindingError)
	_ = stun.ErrorCodeAttribute{Code: stun.CodeUnknownAttribute, Reason: reasonUnknownAttribute}.AddTo(m)
	_ = stun.UnknownAttributes(w.unknown).AddTo(m)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("stun: answered 420", "unknown", stun.UnknownAttributes(w.unknown).String())
	}
	s.finish(w, req)
}

// finish adds SOFTWARE and FINGERPRINT, or for a classic client puts its
// transaction ID back in place of the cookie.
func (s *Server) finish(w *worker, req request) {
	m := &w.resp
	if s.software != nil {
		_ = s.software.AddTo(m)
	}
	if req.classic {
		copy(m.Raw[4:8], req.cookie[:])
		return
	}
	_ = stun.Fingerprint.AddTo(m)
}

func (w *worker) addAddr(m *stun.Message, t stun.AttrType, ap netip.AddrPort) {
	a := stun.MappedAddress{IP: w.netIP(ap.Addr()), Port: int(ap.Port())}
	_ = a.AddToAs(m, t)
}

// netIP returns a as a net.IP backed by w.ip; valid until the next call.
func (w *worker) netIP(a netip.Addr) net.IP {
	if a.Is4() {
		b := a.As4()
		return net.IP(w.ip[:copy(w.ip[:], b[:])])
	}
	b := a.As16()
	return net.IP(w.ip[:copy(w.ip[:], b[:])])
}

// MaxGrowth is the most bytes by which a response of this server can exceed
// the request it answers: a success response adds at most four address
// attributes of 24 bytes (XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
// RESPONSE-ORIGIN, OTHER-ADDRESS, for IPv6), FINGERPRINT and SOFTWARE, and
// echoes nothing; an error response adds less.
func (s *Server) MaxGrowth() int {
	sw := 0
	if s.software != nil {
		sw = 4 + (len(s.software)+3)&^3
	}
	return 4*maxAddrAttr + fingerprintAttr + sw
}
