package stunserver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/rfc5769"
)

// TestRFC5769Vectors decodes the three vectors and checks what RFC 5769
// says they hold, integrity and fingerprint included.
func TestRFC5769Vectors(t *testing.T) {
	tests := []struct {
		name     string
		raw      []byte
		typ      stun.MessageType
		software string
		mapped   netip.AddrPort // zero: none
	}{
		{"request", rfc5769.Request, stun.BindingRequest, "STUN test client", netip.AddrPort{}},
		{"response-ipv4", rfc5769.ResponseIPv4, stun.BindingSuccess, "test vector",
			netip.MustParseAddrPort("192.0.2.1:32853")},
		{"response-ipv6", rfc5769.ResponseIPv6, stun.BindingSuccess, "test vector",
			netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(stun.Message)
			if err := stun.Decode(tt.raw, m); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if m.Type != tt.typ {
				t.Errorf("type %v, want %v", m.Type, tt.typ)
			}
			var sw stun.Software
			if err := sw.GetFrom(m); err != nil || sw.String() != tt.software {
				t.Errorf("SOFTWARE = %q, %v; want %q", sw, err, tt.software)
			}
			if err := stun.NewShortTermIntegrity(rfc5769.Password).Check(m); err != nil {
				t.Errorf("MESSAGE-INTEGRITY: %v", err)
			}
			if err := stun.Fingerprint.Check(m); err != nil {
				t.Errorf("FINGERPRINT: %v", err)
			}
			wantAddr(t, m, stun.AttrXORMappedAddress, tt.mapped)
		})
	}

	t.Run("request-fields", func(t *testing.T) {
		m := new(stun.Message)
		if err := stun.Decode(rfc5769.Request, m); err != nil {
			t.Fatal(err)
		}
		var u stun.Username
		if err := u.GetFrom(m); err != nil || u.String() != "evtj:h6vY" {
			t.Errorf("USERNAME = %q, %v", u, err)
		}
		if p, err := m.Get(stun.AttrPriority); err != nil || string(p) != "\x6e\x00\x01\xff" {
			t.Errorf("PRIORITY = %x, %v", p, err)
		}
	})
}

// TestRFC5769Answer feeds the RFC 5769 request to the server, over the
// handler and over UDP, and checks the answer; it also checks that the
// server drops the sample responses.
func TestRFC5769Answer(t *testing.T) {
	s := newTestServer(t, nil)
	g := testGrid(false)
	client := netip.MustParseAddrPort("192.0.2.1:32853")
	req := new(stun.Message)
	if err := stun.Decode(rfc5769.Request, req); err != nil {
		t.Fatal(err)
	}

	w := s.newWorker()
	v, send := s.handle(w, append([]byte(nil), rfc5769.Request...), client, &g, RoleAltPort, true)
	if v != verdictReply || send != RoleAltPort {
		t.Fatalf("verdict %v from %v, want a reply from %v", v, send, RoleAltPort)
	}
	resp := decodeResponse(t, w.resp.Raw)
	wantSuccess(t, resp, req)
	wantAddr(t, resp, stun.AttrXORMappedAddress, client)
	wantAddr(t, resp, stun.AttrMappedAddress, client)
	wantAddr(t, resp, stun.AttrResponseOrigin, g.addrs[RoleAltPort])
	wantAddr(t, resp, stun.AttrOtherAddress, g.addrs[RoleAltIP])
	if len(w.resp.Raw) > len(rfc5769.Request) {
		t.Errorf("response of %d bytes is larger than the %d-byte request", len(w.resp.Raw), len(rfc5769.Request))
	}
	if resp.Contains(stun.AttrMessageIntegrity) || resp.Contains(stun.AttrUsername) {
		t.Errorf("response echoes credentials: %v", resp)
	}

	for name, raw := range map[string][]byte{"ipv4": rfc5769.ResponseIPv4, "ipv6": rfc5769.ResponseIPv6} {
		if v, _ := s.handle(w, append([]byte(nil), raw...), client, &g, RolePrimary, true); v != verdictDrop {
			t.Errorf("sample response %s: verdict %v, want drop", name, v)
		}
	}

	t.Run("udp", func(t *testing.T) {
		sock := listenUDP(t, "127.0.0.1:0")
		server := localAddr(t, sock)
		serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: sock}) })
		c := listenUDP(t, "127.0.0.1:0")
		raw, _ := exchange(t, c, server, rfc5769.Request)
		resp := decodeResponse(t, raw)
		wantSuccess(t, resp, req)
		wantAddr(t, resp, stun.AttrXORMappedAddress, localAddr(t, c))
	})
}

// testGrid is an RFC 5780 grid of documentation addresses, IPv4 or IPv6.
func testGrid(v6 bool) grid {
	a1, a2 := "192.0.2.10", "192.0.2.20"
	if v6 {
		a1, a2 = "[2001:db8::10]", "[2001:db8::20]"
	}
	return grid{
		addrs: [4]netip.AddrPort{
			RolePrimary:   netip.MustParseAddrPort(a1 + ":3478"),
			RoleAltPort:   netip.MustParseAddrPort(a1 + ":3479"),
			RoleAltIP:     netip.MustParseAddrPort(a2 + ":3478"),
			RoleAltIPPort: netip.MustParseAddrPort(a2 + ":3479"),
		},
		full: true,
	}
}
