package rendezvous

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// marshalMatch is the answer line to a paired version 1 client.
func marshalMatch(m *Match) []byte {
	w := wireMatch{
		Peer:      m.Peer,
		PeerLocal: nonNil(m.PeerLocal),
		PeerUDP:   nonNil(m.PeerUDP),
		PeerInfo:  m.PeerInfo,
		Self:      m.Self,
		Leader:    m.Leader,
		Relay:     m.Relay,
		V:         ProtocolVersion,
	}
	if len(m.PeerHandshake) > 0 {
		w.PeerHS = base64.StdEncoding.EncodeToString(m.PeerHandshake)
	}
	var buf bytes.Buffer
	err := encodeLine(&buf, w)
	if err != nil {
		// Cannot happen: every field marshals, and PeerInfo was checked.
		return marshalError(CodeBadRequest, "internal error: "+err.Error())
	}
	return buf.Bytes()
}

// nonNil makes an empty list marshal as [] rather than null.
func nonNil(a []netip.AddrPort) []netip.AddrPort {
	if a == nil {
		return []netip.AddrPort{}
	}
	return a
}

// marshalError is an error answer line.
func marshalError(code, msg string) []byte {
	var buf bytes.Buffer
	encodeLine(&buf, wireError{Error: msg, Code: code})
	return buf.Bytes()
}

// parseAnswer parses a version 1 answer line without its "\n": a Match,
// or an error wrapping the sentinel of its code.
func parseAnswer(line []byte) (*Match, error) {
	var w wireAnswer
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if w.Code != "" || w.Error != "" {
		return nil, codeError(w.Code, w.Error)
	}
	if w.V != ProtocolVersion || w.Peer == nil || !w.Peer.IsValid() || w.Leader == nil {
		return nil, fmt.Errorf("%w: answer lacks peer, leader or v %d", ErrProtocol, ProtocolVersion)
	}
	m := &Match{
		Peer:      *w.Peer,
		PeerLocal: w.PeerLocal,
		PeerUDP:   w.PeerUDP,
		Leader:    *w.Leader,
		Relay:     w.Relay,
	}
	if w.Self != nil {
		m.Self = *w.Self
	}
	if len(w.PeerInfo) > 0 && !bytes.Equal(w.PeerInfo, []byte("null")) {
		m.PeerInfo = w.PeerInfo
	}
	if w.PeerHS != "" {
		hs, err := decodeHandshake(w.PeerHS)
		if err != nil {
			return nil, fmt.Errorf("%w: peer_hs: %v", ErrProtocol, err)
		}
		m.PeerHandshake = hs
	}
	if len(m.PeerLocal) == 0 {
		m.PeerLocal = nil
	}
	if len(m.PeerUDP) == 0 {
		m.PeerUDP = nil
	}
	return m, nil
}

// legacyAnswer is the legacy answer line for a peer's address.
func legacyAnswer(peer netip.AddrPort) []byte {
	b := make([]byte, 0, maxLegacyAnswer)
	b = peer.Addr().WithZone("").AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(peer.Port()), 10)
	return append(b, '\n')
}

// parseLegacyAnswer parses a legacy answer line without its "\n"; a
// trailing "\r" is accepted.
func parseLegacyAnswer(line []byte) (netip.AddrPort, error) {
	s := strings.TrimSuffix(string(line), "\r")
	ipText, portText, ok := strings.Cut(s, " ")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: legacy answer %q is not \"IP PORT\"", ErrProtocol, s)
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: legacy answer %q: bad IP", ErrProtocol, s)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: legacy answer %q: bad port", ErrProtocol, s)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}
