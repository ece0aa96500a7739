package rendezvous

import (
	"bytes"
	"testing"
	"testing/iotest"
)

// FuzzRequest feeds the server's handshake parser arbitrary first bytes,
// whole and a byte at a time. An accepted version 1 request must survive
// the client's encoding unchanged, and fit in a request line again.
// The seed corpus is in testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := readHello(bytes.NewReader(data), new(helloBuf))
		bytewise, errBytewise := readHello(iotest.OneByteReader(bytes.NewReader(data)), new(helloBuf))
		if whole.v1 != bytewise.v1 {
			t.Fatalf("v1 %v read whole, %v a byte at a time", whole.v1, bytewise.v1)
		}
		if errWhole != nil {
			return
		}
		// Read a byte at a time, extra bytes stay unread: the rest
		// must agree.
		if errBytewise != nil {
			t.Fatalf("accepted whole, refused a byte at a time: %v", errBytewise)
		}
		if !whole.v1 {
			if whole.key != bytewise.key {
				t.Fatal("keys differ")
			}
			return
		}
		if !requestEqual(whole.req, bytewise.req) {
			t.Fatalf("requests differ: %+v and %+v", whole.req, bytewise.req)
		}
		line, bad := marshalRequest(whole.req)
		if bad != "" {
			t.Fatalf("server accepted %+v, client refuses it: %s", whole.req, bad)
		}
		again, err := readHello(bytes.NewReader(line), new(helloBuf))
		if err != nil {
			t.Fatalf("re-encoded request %q refused: %v", line, err)
		}
		if !requestEqual(again.req, whole.req) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", whole.req, again.req)
		}
	})
}

// FuzzAnswer feeds the client's answer parsers, and the reply parser the
// server and the client share, arbitrary lines. An accepted answer or
// reply must survive its encoding unchanged. The seed corpus is in
// testdata/fuzz/FuzzAnswer.
func FuzzAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		if m, err := parseAnswer(line); err == nil {
			out := marshalMatch(m)
			back, err := parseAnswer(bytes.TrimSuffix(out, []byte("\n")))
			if err != nil {
				t.Fatalf("re-encoded answer %q refused: %v", out, err)
			}
			if !matchEqual(m, back) || (m.PeerHandshake == nil) != (back.PeerHandshake == nil) {
				t.Fatalf("round trip changed the answer:\n%+v\n%+v", m, back)
			}
		}
		if reply, err := parseReply(line); err == nil {
			out := marshalReply(reply)
			back, err := parseReply(bytes.TrimSuffix(out, []byte("\n")))
			if err != nil || !bytes.Equal(back, reply) {
				t.Fatalf("reply %q: round trip gave %x, %v", line, back, err)
			}
		}
		if peer, err := parseLegacyAnswer(line); err == nil {
			out := legacyAnswer(peer)
			back, err := parseLegacyAnswer(bytes.TrimSuffix(out, []byte("\n")))
			if err != nil || back != peer {
				t.Fatalf("legacy answer %q: round trip gave %v, %v", line, back, err)
			}
		}
	})
}
