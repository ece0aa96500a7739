package rendezvous

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadHello reads what clients send first, whole and a byte at a time.
func TestReadHello(t *testing.T) {
	tok := strings.Repeat("ab", KeySize)
	var tokBytes [KeySize]byte
	for i := range tokBytes {
		tokBytes[i] = 0xab
	}
	tests := []struct {
		name    string
		in      string
		wantV1  bool
		wantKey string  // legacy
		wantReq Request // v1
		wantErr string  // in the error
		// wholeOnly: the error shows only when the input arrives at
		// once; read a byte at a time, the extra bytes stay unread (the
		// server then sees them while the client waits).
		wholeOnly bool
	}{
		{name: "legacy", in: strings.Repeat("K", KeySize), wantKey: strings.Repeat("K", KeySize)},
		{name: "legacy-binary", in: "\x00\xff" + strings.Repeat("\n", KeySize-2), wantKey: "\x00\xff" + strings.Repeat("\n", KeySize-2)},
		{name: "legacy-short", in: "short key", wantErr: "EOF"},
		{name: "legacy-long", in: strings.Repeat("K", KeySize+1), wantErr: "more than 32", wholeOnly: true},
		{name: "v1-minimal", in: Hello + `{"token":"` + tok + `"}` + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP}},
		{
			name:   "v1-full",
			in:     Hello + `{"token":"` + strings.ToUpper(tok) + `","kind":"udp","local":["10.0.0.2:5","[fd00::2]:6"],"udp":["198.51.100.9:7"],"info":{ "a" : [1, 2] },"future":true}` + "\n",
			wantV1: true,
			wantReq: Request{
				Token: tokBytes, Kind: KindUDP,
				Local: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:5"), netip.MustParseAddrPort("[fd00::2]:6")},
				UDP:   []netip.AddrPort{netip.MustParseAddrPort("198.51.100.9:7")},
				Info:  json.RawMessage(`{"a":[1,2]}`),
			},
		},
		{name: "v1-info-null", in: Hello + `{"token":"` + tok + `","info":null}` + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP}},
		{name: "v1-crlf", in: Hello + `{"token":"` + tok + `"}` + "\r\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP}},
		{name: "v1-max-line", in: Hello + `{"token":"` + tok + `"}` + strings.Repeat(" ", MaxRequestSize-len(tok)-13) + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP}},
		{name: "v1-line-too-long", in: Hello + `{"token":"` + tok + `"}` + strings.Repeat(" ", MaxRequestSize-len(tok)-12) + "\n", wantV1: true, wantErr: "longer than"},
		{name: "v1-eof", in: Hello + `{"token":`, wantV1: true, wantErr: "EOF"},
		{name: "v1-trailing", in: Hello + `{"token":"` + tok + `"}` + "\nx", wantV1: true, wantErr: "after the request", wholeOnly: true},
		{name: "v1-two-objects", in: Hello + `{"token":"` + tok + `"} {}` + "\n", wantV1: true, wantErr: "bad JSON"},
		{name: "v1-bad-kind", in: Hello + `{"token":"` + tok + `","kind":"TCP"}` + "\n", wantV1: true, wantErr: "unknown kind"},
		{name: "v1-info-string", in: Hello + `{"token":"` + tok + `","info":"x"}` + "\n", wantV1: true, wantErr: "not a JSON object"},
		{name: "v1-empty-addr", in: Hello + `{"token":"` + tok + `","udp":[""]}` + "\n", wantV1: true, wantErr: "bad candidate"},
		{name: "v1-hs", in: Hello + `{"token":"` + tok + `","hs":"AAEC/w=="}` + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP, Handshake: []byte{0, 1, 2, 255}}},
		{name: "v1-hs-null", in: Hello + `{"token":"` + tok + `","hs":null}` + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP}},
		{name: "v1-hs-max", in: Hello + `{"token":"` + tok + `","hs":"` + b64(MaxHandshakeSize) + `"}` + "\n", wantV1: true, wantReq: Request{Token: tokBytes, Kind: KindTCP, Handshake: make([]byte, MaxHandshakeSize)}},
		{name: "v1-hs-too-big", in: Hello + `{"token":"` + tok + `","hs":"` + b64(MaxHandshakeSize+1) + `"}` + "\n", wantV1: true, wantErr: "hs: larger than 2048"},
		{name: "v1-hs-empty", in: Hello + `{"token":"` + tok + `","hs":""}` + "\n", wantV1: true, wantErr: "hs: missing or empty"},
		{name: "v1-hs-unpadded", in: Hello + `{"token":"` + tok + `","hs":"AAEC/w"}` + "\n", wantV1: true, wantErr: "hs: not base64"},
		{name: "v1-hs-url", in: Hello + `{"token":"` + tok + `","hs":"AAEC_w=="}` + "\n", wantV1: true, wantErr: "hs: not base64"},
		{name: "v1-hs-number", in: Hello + `{"token":"` + tok + `","hs":12}` + "\n", wantV1: true, wantErr: "bad JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				r := iotestReader(tt.in, oneByte)
				h, err := readHello(r, new(helloBuf))
				if h.v1 != tt.wantV1 {
					t.Errorf("oneByte=%v: v1 %v, want %v", oneByte, h.v1, tt.wantV1)
				}
				if tt.wantErr != "" && !(oneByte && tt.wholeOnly) {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("oneByte=%v: error %v, want one with %q", oneByte, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("oneByte=%v: %v", oneByte, err)
				}
				if tt.wantErr != "" {
					continue
				}
				if !tt.wantV1 && string(h.key[:]) != tt.wantKey {
					t.Errorf("key %q, want %q", h.key, tt.wantKey)
				}
				if tt.wantV1 && !requestEqual(h.req, tt.wantReq) {
					t.Errorf("request %+v, want %+v", h.req, tt.wantReq)
				}
			}
		})
	}
}

func iotestReader(s string, oneByte bool) interface{ Read([]byte) (int, error) } {
	if oneByte {
		return iotest.OneByteReader(strings.NewReader(s))
	}
	return strings.NewReader(s)
}

func requestEqual(a, b Request) bool {
	return a.Token == b.Token && a.Kind == b.Kind &&
		fmt.Sprint(a.Local) == fmt.Sprint(b.Local) && fmt.Sprint(a.UDP) == fmt.Sprint(b.UDP) &&
		bytes.Equal(a.Info, b.Info) && bytes.Equal(a.Handshake, b.Handshake)
}

// TestMarshalRequest checks the client's checks and its encoding.
func TestMarshalRequest(t *testing.T) {
	many := make([]netip.AddrPort, MaxCandidates+1)
	for i := range many {
		many[i] = netip.MustParseAddrPort("192.0.2.1:1000")
	}
	tests := []struct {
		name    string
		req     Request
		want    string // the line, "" when refused
		wantBad string
	}{
		{"minimal", Request{}, `{"token":"` + strings.Repeat("00", KeySize) + `","kind":"tcp"}`, ""},
		{"full", Request{Kind: KindUDP, Local: many[:1], UDP: many[:2], Info: json.RawMessage(` {"x": 1}`)},
			`{"token":"` + strings.Repeat("00", KeySize) + `","kind":"udp","local":["192.0.2.1:1000"],"udp":["192.0.2.1:1000","192.0.2.1:1000"],"info":{"x":1}}`, ""},
		{"bad-kind", Request{Kind: "sctp"}, "", "unknown kind"},
		{"too-many", Request{Local: many}, "", "more than"},
		{"invalid-addr", Request{UDP: []netip.AddrPort{{}}}, "", "bad candidate"},
		{"info-not-object", Request{Info: json.RawMessage(`[]`)}, "", "not a JSON object"},
		{"info-invalid", Request{Info: json.RawMessage(`{"x":`)}, "", "not a JSON object"},
		{"info-too-big", Request{Info: json.RawMessage(`{"x":"` + strings.Repeat("y", MaxInfoSize) + `"}`)}, "", "info larger"},
		{"hs", Request{Handshake: []byte("\x00\x01\x02\xff")}, `{"token":"` + strings.Repeat("00", KeySize) + `","kind":"tcp","hs":"AAEC/w=="}`, ""},
		{"hs-empty", Request{Handshake: []byte{}}, `{"token":"` + strings.Repeat("00", KeySize) + `","kind":"tcp"}`, ""},
		{"hs-too-big", Request{Handshake: make([]byte, MaxHandshakeSize+1)}, "", "hs larger"},
		{"line-too-long", Request{Handshake: make([]byte, MaxHandshakeSize), Info: json.RawMessage(`{"x":"` + strings.Repeat("y", MaxInfoSize-8) + `"}`), UDP: many[:MaxCandidates]}, "", "request larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, bad := marshalRequest(tt.req)
			if bad != "" || tt.wantBad != "" {
				if tt.wantBad == "" || !strings.Contains(bad, tt.wantBad) {
					t.Errorf("refused with %q, want %q", bad, tt.wantBad)
				}
				return
			}
			if want := Hello + tt.want + "\n"; string(b) != want {
				t.Errorf("got %q, want %q", b, want)
			}
		})
	}
}

// TestAnswers checks the answer encodings and the client's parsing.
func TestAnswers(t *testing.T) {
	m := &Match{
		Peer:      netip.MustParseAddrPort("198.51.100.2:4000"),
		Self:      netip.MustParseAddrPort("[2001:db8::1]:5000"),
		PeerLocal: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:4000")},
		PeerInfo:  json.RawMessage(`{"nat":"symmetric"}`),
		Leader:    true,
	}
	const want = `{"peer":"198.51.100.2:4000","peer_local":["10.0.0.2:4000"],"peer_udp":[],"peer_info":{"nat":"symmetric"},"self":"[2001:db8::1]:5000","leader":true,"v":1}` + "\n"
	withHS := *m
	withHS.PeerHandshake = []byte("\x00\x01\x02\xff")
	const wantHS = `{"peer":"198.51.100.2:4000","peer_local":["10.0.0.2:4000"],"peer_udp":[],"peer_info":{"nat":"symmetric"},"peer_hs":"AAEC/w==","self":"[2001:db8::1]:5000","leader":true,"v":1}` + "\n"
	for _, c := range []struct {
		m    *Match
		want string
	}{{m, want}, {&withHS, wantHS}} {
		if got := string(marshalMatch(c.m)); got != c.want {
			t.Errorf("marshalMatch:\n got %s\nwant %s", got, c.want)
		}
		back, err := parseAnswer([]byte(strings.TrimSuffix(c.want, "\n")))
		if err != nil || !matchEqual(back, c.m) || (back.PeerHandshake == nil) != (c.m.PeerHandshake == nil) {
			t.Errorf("parseAnswer: %+v, %v", back, err)
		}
	}

	tests := []struct {
		line string
		want error
	}{
		{`{"error":"x","code":"key-in-use"}`, ErrKeyInUse},
		{`{"error":"x","code":"timeout"}`, ErrTimeout},
		{`{"error":"x","code":"bad-request"}`, ErrBadRequest},
		{`{"error":"x","code":"too-many"}`, ErrTooMany},
		{`{"error":"x","code":"kind-mismatch"}`, ErrKindMismatch},
		{`{"error":"x","code":"overloaded"}`, ErrProtocol},
		{`{"peer":"1.2.3.4:5","leader":false}`, ErrProtocol},    // no v
		{`{"peer":"1.2.3.4:5","v":1}`, ErrProtocol},             // no leader
		{`{"leader":true,"v":1}`, ErrProtocol},                  // no peer
		{`{"peer":"1.2.3.4","leader":true,"v":1}`, ErrProtocol}, // no port
		{`HTTP/1.1 400 Bad Request`, ErrProtocol},
		{`{"peer":"1.2.3.4:5","leader":true,"v":1,"peer_hs":"!"}`, ErrProtocol},
		{`{"peer":"1.2.3.4:5","leader":true,"v":1,"peer_hs":"\n"}`, ErrProtocol}, // empty
		{`{"peer":"1.2.3.4:5","leader":true,"v":1}`, nil},
		{`{"peer":"1.2.3.4:5","leader":true,"v":1,"peer_hs":""}`, nil}, // absent
	}
	for _, tt := range tests {
		if _, err := parseAnswer([]byte(tt.line)); !errors.Is(err, tt.want) || tt.want == nil && err != nil {
			t.Errorf("parseAnswer(%s): %v, want %v", tt.line, err, tt.want)
		}
	}
	for code := range codeErrors {
		line := marshalError(code, "because")
		if _, err := parseAnswer(bytes.TrimSuffix(line, []byte("\n"))); !errors.Is(err, codeErrors[code]) || !strings.Contains(err.Error(), "because") {
			t.Errorf("error %s round trip: %v", code, err)
		}
	}
}

// TestLegacyAnswer checks the legacy answer line both ways.
func TestLegacyAnswer(t *testing.T) {
	tests := []struct {
		addr netip.AddrPort
		line string
	}{
		{netip.MustParseAddrPort("203.0.113.5:40000"), "203.0.113.5 40000\n"},
		{netip.MustParseAddrPort("[2001:db8::5]:1"), "2001:db8::5 1\n"},
		{netip.MustParseAddrPort("[fe80::1%eth0]:65535"), "fe80::1 65535\n"},
	}
	for _, tt := range tests {
		if got := string(legacyAnswer(tt.addr)); got != tt.line {
			t.Errorf("legacyAnswer(%v) = %q, want %q", tt.addr, got, tt.line)
		}
		back, err := parseLegacyAnswer([]byte(strings.TrimSuffix(tt.line, "\n")))
		if err != nil || back != netip.AddrPortFrom(tt.addr.Addr().WithZone(""), tt.addr.Port()) {
			t.Errorf("parseLegacyAnswer(%q) = %v, %v", tt.line, back, err)
		}
	}
	for _, bad := range []string{"", "1.2.3.4", "1.2.3.4 0", "1.2.3.4 65536", "[::1] 5", "fe80::1%eth0 5", "1.2.3.4  5", "x 5"} {
		if _, err := parseLegacyAnswer([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("parseLegacyAnswer(%q): %v, want ErrProtocol", bad, err)
		}
	}
	if got, err := parseLegacyAnswer([]byte("::ffff:1.2.3.4 5\r")); err != nil || got != netip.MustParseAddrPort("1.2.3.4:5") {
		t.Errorf("mapped address with CR: %v, %v", got, err)
	}
}

// TestReply checks the reply line both ways.
func TestReply(t *testing.T) {
	if got := string(marshalReply([]byte("\x00\x01\x02\xff"))); got != `{"hs":"AAEC/w=="}`+"\n" {
		t.Errorf("marshalReply: %q", got)
	}
	tests := []struct {
		line    string
		want    string // the reply
		wantErr string // in the error
	}{
		{`{"hs":"AAEC/w=="}`, "\x00\x01\x02\xff", ""},
		{` { "hs" : "eA==" , "future": 1 } `, "x", ""},
		{`{"hs":"` + b64(MaxHandshakeSize) + `"}`, strings.Repeat("\x00", MaxHandshakeSize), ""},
		{`{"hs":"` + b64(MaxHandshakeSize+1) + `"}`, "", "larger than"},
		{`{}`, "", "missing or empty"},
		{`{"hs":""}`, "", "missing or empty"},
		{`{"hs":"eA"}`, "", "not base64"},
		{`{"hs":1}`, "", "bad JSON"},
		{`"eA=="`, "", "bad JSON"},
	}
	for _, tt := range tests {
		got, err := parseReply([]byte(tt.line))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseReply(%.40s): %v, want an error with %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("parseReply(%.40s) = %x, %v; want %x", tt.line, got, err, tt.want)
		}
	}
}

// b64 is n zero bytes in base64.
func b64(n int) string {
	return base64.StdEncoding.EncodeToString(make([]byte, n))
}
