package stun

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	pionstun "github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/netaddr"
)

// The STUN header (RFC 8489 section 5), 20 bytes, in network byte order:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|0 0|     STUN Message Type     |         Message Length        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Magic Cookie (0x2112A442)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Transaction ID (96 bits)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Message Length counts the attributes after the header and is a multiple
// of 4. The two leading zero bits and the magic cookie tell STUN apart from
// other protocols sharing the socket (RFC 7983); pion/stun does the rest of
// the codec.
const (
	headerSize  = 20
	magicCookie = 0x2112A442
)

// looksLikeSTUN reports whether b starts with a STUN header whose length
// fits in b, and returns the length of the whole message.
func looksLikeSTUN(b []byte) (n int, ok bool) {
	if len(b) < headerSize || b[0]&0xC0 != 0 ||
		binary.BigEndian.Uint32(b[4:8]) != magicCookie {
		return 0, false
	}
	size := int(binary.BigEndian.Uint16(b[2:4]))
	if size%4 != 0 || headerSize+size > len(b) {
		return 0, false
	}
	return headerSize + size, true
}

// decode parses one STUN message from the start of b, checking its
// FINGERPRINT when it has one. The message refers to b.
func decode(b []byte) (*pionstun.Message, error) {
	n, ok := looksLikeSTUN(b)
	if !ok {
		return nil, fmt.Errorf("%w: no STUN header", ErrMalformed)
	}
	m := &pionstun.Message{Raw: b[:n]}
	if err := m.Decode(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if m.Contains(pionstun.AttrFingerprint) {
		if err := pionstun.Fingerprint.Check(m); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	return m, nil
}

// CHANGE-REQUEST (RFC 5780 section 7.2) asks the server to send its
// answer from its other IP address, its other port, or both. The value is
// 4 bytes:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 A B 0|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A (0x04) is "change IP", B (0x02) is "change port".
const (
	changeIPFlag   = 0x04
	changePortFlag = 0x02
)

// ChangeRequest is the CHANGE-REQUEST attribute of RFC 5780. It is a
// pion/stun Setter and Getter.
type ChangeRequest struct {
	IP   bool // answer from the other IP address
	Port bool // answer from the other port
}

// AddTo adds CHANGE-REQUEST to m.
func (c ChangeRequest) AddTo(m *pionstun.Message) error {
	var v uint32
	if c.IP {
		v |= changeIPFlag
	}
	if c.Port {
		v |= changePortFlag
	}
	m.Add(pionstun.AttrChangeRequest, binary.BigEndian.AppendUint32(nil, v))
	return nil
}

// GetFrom decodes CHANGE-REQUEST from m.
func (c *ChangeRequest) GetFrom(m *pionstun.Message) error {
	v, err := m.Get(pionstun.AttrChangeRequest)
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("%w: CHANGE-REQUEST of %d bytes", ErrMalformed, len(v))
	}
	flags := binary.BigEndian.Uint32(v)
	c.IP, c.Port = flags&changeIPFlag != 0, flags&changePortFlag != 0
	return nil
}

// String names the change as the reports and logs spell it.
func (c ChangeRequest) String() string {
	switch {
	case c.IP && c.Port:
		return "ip+port"
	case c.IP:
		return "ip"
	case c.Port:
		return "port"
	}
	return ""
}

// newRequest builds a binding request with a fresh transaction ID, the
// given CHANGE-REQUEST (omitted when empty) and a FINGERPRINT, so that a
// peer sharing the socket can tell it from its own traffic.
func newRequest(change ChangeRequest) (*pionstun.Message, error) {
	setters := []pionstun.Setter{pionstun.TransactionID, pionstun.BindingRequest}
	if change.IP || change.Port {
		setters = append(setters, change)
	}
	setters = append(setters, pionstun.Fingerprint)
	return pionstun.Build(setters...)
}

// Response is what a binding success response tells about addresses.
type Response struct {
	// TransactionID is the response's transaction ID.
	TransactionID [pionstun.TransactionIDSize]byte
	// Mapped is the requester's address as the server saw it:
	// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC 3489 server.
	Mapped netip.AddrPort
	// Other is OTHER-ADDRESS (RFC 5780), the server's alternate IP address
	// and port, or CHANGED-ADDRESS from an RFC 3489 server; zero if absent.
	Other netip.AddrPort
	// Origin is RESPONSE-ORIGIN (RFC 5780), the address the server sent the
	// response from; zero if absent.
	Origin netip.AddrPort
	// Software is the SOFTWARE attribute; empty if absent.
	Software string
}

// ParseResponse parses one binding response from the start of p. An error
// response yields an error wrapping [ErrErrorResponse] with the code and
// reason; anything else that is not a binding success response with a
// mapped address yields one wrapping [ErrMalformed].
func ParseResponse(p []byte) (*Response, error) {
	m, err := decode(p)
	if err != nil {
		return nil, err
	}
	return responseFrom(m)
}

// responseFrom extracts a Response from a decoded message.
func responseFrom(m *pionstun.Message) (*Response, error) {
	switch m.Type {
	case pionstun.BindingSuccess:
	case pionstun.BindingError:
		var ec pionstun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return nil, fmt.Errorf("%w (no valid ERROR-CODE)", ErrErrorResponse)
		}
		return nil, fmt.Errorf("%w: %d %q", ErrErrorResponse, int(ec.Code), ec.Reason)
	default:
		return nil, fmt.Errorf("%w: %v is not a binding response", ErrMalformed, m.Type)
	}
	r := &Response{TransactionID: m.TransactionID}
	var err error
	if r.Mapped, err = getAddr(m, pionstun.AttrXORMappedAddress); err != nil {
		return nil, err
	}
	if !r.Mapped.IsValid() {
		if r.Mapped, err = getAddr(m, pionstun.AttrMappedAddress); err != nil {
			return nil, err
		}
	}
	if !r.Mapped.IsValid() {
		return nil, fmt.Errorf("%w: binding response without a mapped address", ErrMalformed)
	}
	if r.Other, err = getAddr(m, pionstun.AttrOtherAddress); err != nil {
		return nil, err
	}
	if !r.Other.IsValid() {
		if r.Other, err = getAddr(m, pionstun.AttrChangedAddress); err != nil {
			return nil, err
		}
	}
	if r.Origin, err = getAddr(m, pionstun.AttrResponseOrigin); err != nil {
		return nil, err
	}
	if v, err := m.Get(pionstun.AttrSoftware); err == nil {
		r.Software = string(v)
	}
	return r, nil
}

// getAddr decodes an address attribute of type t with pion/stun, after
// checking that its length matches its family (pion accepts short
// values). It returns the zero AddrPort when m has no such attribute.
func getAddr(m *pionstun.Message, t pionstun.AttrType) (netip.AddrPort, error) {
	v, err := m.Get(t)
	if err != nil {
		return netip.AddrPort{}, nil
	}
	if len(v) < 4 || !(v[1] == 1 && len(v) == 8 || v[1] == 2 && len(v) == 20) || v[0] != 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: bad %v value (%d bytes)", ErrMalformed, t, len(v))
	}
	var (
		ip   net.IP
		port int
	)
	if t == pionstun.AttrXORMappedAddress {
		var a pionstun.XORMappedAddress
		err = a.GetFrom(m)
		ip, port = a.IP, a.Port
	} else {
		var a pionstun.MappedAddress
		err = a.GetFromAs(m, t)
		ip, port = a.IP, a.Port
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %v: %w", ErrMalformed, t, err)
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: %v: bad address", ErrMalformed, t)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil //nolint:gosec // a 16-bit field
}

// addrPortOf converts a socket address to a netip.AddrPort, the zero
// AddrPort for addresses that are not IP addresses.
func addrPortOf(a net.Addr) netip.AddrPort {
	ap, _ := netaddr.AddrPort(a)
	return ap
}
