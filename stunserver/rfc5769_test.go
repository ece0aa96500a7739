package stunserver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

// Test vectors of RFC 5769. The short-term credential password of all
// three is "VOkJxbRl1RmTxUk/WvJxBt".
const rfc5769Password = "VOkJxbRl1RmTxUk/WvJxBt"

var (
	// rfc5769Request is RFC 5769 section 2.1: a Binding request with
	// SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY and
	// FINGERPRINT.
	rfc5769Request = []byte("\x00\x01\x00\x58" +
		"\x21\x12\xa4\x42" +
		"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x10" +
		"STUN test client" +
		"\x00\x24\x00\x04" +
		"\x6e\x00\x01\xff" +
		"\x80\x29\x00\x08" +
		"\x93\x2f\xf9\xb1\x51\x26\x3b\x36" +
		"\x00\x06\x00\x09" +
		"\x65\x76\x74\x6a\x3a\x68\x36\x76\x59\x20\x20\x20" +
		"\x00\x08\x00\x14" +
		"\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56\x78\x1e\xf2\xb5" +
		"\xb2\xd3\xf2\x49\xc1\xb5\x71\xa2" +
		"\x80\x28\x00\x04" +
		"\xe5\x7a\x3b\xcf")

	// rfc5769ResponseIPv4 is RFC 5769 section 2.2: the success response
	// with XOR-MAPPED-ADDRESS 192.0.2.1:32853.
	rfc5769ResponseIPv4 = []byte("\x01\x01\x00\x3c" +
		"\x21\x12\xa4\x42" +
		"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x0b" +
		"\x74\x65\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x20" +
		"\x00\x20\x00\x08" +
		"\x00\x01\xa1\x47\xe1\x12\xa6\x43" +
		"\x00\x08\x00\x14" +
		"\x2b\x91\xf5\x99\xfd\x9e\x90\xc3\x8c\x74\x89\xf9" +
		"\x2a\xf9\xba\x53\xf0\x6b\xe7\xd7" +
		"\x80\x28\x00\x04" +
		"\xc0\x7d\x4c\x96")

	// rfc5769ResponseIPv6 is RFC 5769 section 2.3: the success response
	// with XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
	rfc5769ResponseIPv6 = []byte("\x01\x01\x00\x48" +
		"\x21\x12\xa4\x42" +
		"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x0b" +
		"\x74\x65\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x20" +
		"\x00\x20\x00\x14" +
		"\x00\x02\xa1\x47" +
		"\x01\x13\xa9\xfa\xa5\xd3\xf1\x79" +
		"\xbc\x25\xf4\xb5\xbe\xd2\xb9\xd9" +
		"\x00\x08\x00\x14" +
		"\xa3\x82\x95\x4e\x4b\xe6\x7b\xf1\x17\x84\xc9\x7c" +
		"\x82\x92\xc2\x75\xbf\xe3\xed\x41" +
		"\x80\x28\x00\x04" +
		"\xc8\xfb\x0b\x4c")
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
		{"request", rfc5769Request, stun.BindingRequest, "STUN test client", netip.AddrPort{}},
		{"response-ipv4", rfc5769ResponseIPv4, stun.BindingSuccess, "test vector",
			netip.MustParseAddrPort("192.0.2.1:32853")},
		{"response-ipv6", rfc5769ResponseIPv6, stun.BindingSuccess, "test vector",
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
			if err := stun.NewShortTermIntegrity(rfc5769Password).Check(m); err != nil {
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
		if err := stun.Decode(rfc5769Request, m); err != nil {
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
	if err := stun.Decode(rfc5769Request, req); err != nil {
		t.Fatal(err)
	}

	w := s.newWorker()
	v, send := s.handle(w, append([]byte(nil), rfc5769Request...), client, &g, RoleAltPort, true)
	if v != verdictReply || send != RoleAltPort {
		t.Fatalf("verdict %v from %v, want a reply from %v", v, send, RoleAltPort)
	}
	resp := decodeResponse(t, w.resp.Raw)
	wantSuccess(t, resp, req)
	wantAddr(t, resp, stun.AttrXORMappedAddress, client)
	wantAddr(t, resp, stun.AttrMappedAddress, client)
	wantAddr(t, resp, stun.AttrResponseOrigin, g.addrs[RoleAltPort])
	wantAddr(t, resp, stun.AttrOtherAddress, g.addrs[RoleAltIP])
	if len(w.resp.Raw) > len(rfc5769Request) {
		t.Errorf("response of %d bytes is larger than the %d-byte request", len(w.resp.Raw), len(rfc5769Request))
	}
	if resp.Contains(stun.AttrMessageIntegrity) || resp.Contains(stun.AttrUsername) {
		t.Errorf("response echoes credentials: %v", resp)
	}

	for name, raw := range map[string][]byte{"ipv4": rfc5769ResponseIPv4, "ipv6": rfc5769ResponseIPv6} {
		if v, _ := s.handle(w, append([]byte(nil), raw...), client, &g, RolePrimary, true); v != verdictDrop {
			t.Errorf("sample response %s: verdict %v, want drop", name, v)
		}
	}

	t.Run("udp", func(t *testing.T) {
		sock := listenUDP(t, "127.0.0.1:0")
		server := localAddr(t, sock)
		serve(t, func(ctx context.Context) error { return s.ServeUDP(ctx, UDPSocket{Conn: sock}) })
		c := listenUDP(t, "127.0.0.1:0")
		raw, _ := exchange(t, c, server, rfc5769Request)
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
