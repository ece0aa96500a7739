package stunserver

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/rfc5769"
)

// FuzzServe feeds arbitrary bytes to the request handler as a UDP request
// to an IPv4 and an IPv6 RFC 5780 server and a single-socket one, and as a
// TCP message. It checks that nothing panics and that every reply is a
// well-formed Binding success or 420 response to the same transaction,
// from an allowed socket, no larger than the request plus MaxGrowth.
func FuzzServe(f *testing.F) {
	f.Add(newRequest(f).Raw)
	f.Add(classicRequest([16]byte{1, 2, 3}, changeIP))
	f.Add(rfc5769.Request)

	s := New(nil)
	f.Cleanup(func() { s.Close() })
	w := s.newWorker()
	single := grid{addrs: [4]netip.AddrPort{RolePrimary: netip.MustParseAddrPort("192.0.2.1:3478")}}
	cases := []struct {
		name   string
		g      grid
		client netip.AddrPort
		udp    bool
	}{
		{"udp4-rfc5780", testGrid(false), netip.MustParseAddrPort("198.51.100.7:40000"), true},
		{"udp6-rfc5780", testGrid(true), netip.MustParseAddrPort("[2001:db8:ffff::7]:40000"), true},
		{"udp4-single", single, netip.MustParseAddrPort("[::ffff:198.51.100.7]:1"), true},
		{"tcp6", grid{}, netip.MustParseAddrPort("[2001:db8:ffff::7]:40000"), false},
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range cases {
			role := RolePrimary
			if c.g.full {
				role = Role(len(data)) & RoleAltIPPort // any socket of the group
			}
			pkt := append([]byte(nil), data...)
			v, send := s.handle(w, pkt, c.client, &c.g, role, c.udp)
			if v != verdictReply {
				continue
			}
			checkReply(t, s, data, w.resp.Raw, c.client, &c.g, role, send, c.udp)
		}
	})
}

// checkReply checks one reply of the fuzz test.
func checkReply(t *testing.T, s *Server, req, resp []byte, client netip.AddrPort, g *grid, role, send Role, udp bool) {
	t.Helper()
	if len(resp) > len(req)+s.MaxGrowth() {
		t.Fatalf("reply of %d bytes to %d: more than MaxGrowth %d", len(resp), len(req), s.MaxGrowth())
	}
	if send > RoleAltIPPort || (send != role && !(udp && g.full)) {
		t.Fatalf("reply from role %v to a request on %v", send, role)
	}
	classic := binary.BigEndian.Uint32(req[4:8]) != magicCookie
	if string(resp[4:20]) != string(req[4:20]) {
		t.Fatalf("transaction ID %x, want %x", resp[4:20], req[4:20])
	}
	m := new(stun.Message)
	raw := append([]byte(nil), resp...)
	binary.BigEndian.PutUint32(raw[4:8], magicCookie)
	if err := stun.Decode(raw, m); err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	if !classic {
		if err := stun.Fingerprint.Check(m); err != nil {
			t.Fatalf("reply FINGERPRINT: %v", err)
		}
	}
	switch m.Type {
	case stun.BindingSuccess:
		var a stun.MappedAddress
		if err := a.GetFrom(m); err != nil || a.Port != int(client.Port()) {
			t.Fatalf("MAPPED-ADDRESS %v, %v; want %v", a, err, client)
		}
	case stun.BindingError:
		var code stun.ErrorCodeAttribute
		var ua stun.UnknownAttributes
		if code.GetFrom(m) != nil || code.Code != stun.CodeUnknownAttribute || ua.GetFrom(m) != nil || len(ua) == 0 {
			t.Fatalf("error reply is not a 420 with UNKNOWN-ATTRIBUTES: %v", m)
		}
		if send != role {
			t.Fatalf("error reply from another socket")
		}
	default:
		t.Fatalf("reply of type %v", m.Type)
	}
}
