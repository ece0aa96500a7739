package stun

import (
	"bytes"
	"errors"
	"testing"

	pionstun "github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/rfc5769"
)

// FuzzParseResponse checks that ParseResponse never panics, accepts only
// well-formed binding responses, and that what it extracts survives being
// encoded again with pion/stun.
func FuzzParseResponse(f *testing.F) {
	f.Add(rfc5769.ResponseIPv4)
	f.Add(rfc5769.ResponseIPv6)
	f.Add(build(f, pionstun.TransactionID, pionstun.BindingSuccess,
		&pionstun.XORMappedAddress{IP: ip("203.0.113.7"), Port: 40000},
		&pionstun.OtherAddress{IP: ip("198.51.100.3"), Port: 3479},
		&pionstun.ResponseOrigin{IP: ip("198.51.100.2"), Port: 3478},
		pionstun.Fingerprint))
	f.Add(build(f, pionstun.TransactionID, pionstun.BindingError, pionstun.CodeUnknownAttribute))
	f.Add([]byte("not stun"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrErrorResponse) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrErrorResponse", err)
			}
			return
		}
		if !r.Mapped.IsValid() {
			t.Fatalf("accepted a response without a mapped address: %+v", r)
		}
		if !bytes.Equal(data[8:20], r.TransactionID[:]) {
			t.Fatalf("transaction ID %x, packet has %x", r.TransactionID, data[8:20])
		}
		setters := []pionstun.Setter{
			pionstun.NewTransactionIDSetter(r.TransactionID), pionstun.BindingSuccess,
			&pionstun.XORMappedAddress{IP: r.Mapped.Addr().AsSlice(), Port: int(r.Mapped.Port())},
		}
		if r.Other.IsValid() {
			setters = append(setters, &pionstun.OtherAddress{IP: r.Other.Addr().AsSlice(), Port: int(r.Other.Port())})
		}
		if r.Origin.IsValid() {
			setters = append(setters, &pionstun.ResponseOrigin{IP: r.Origin.Addr().AsSlice(), Port: int(r.Origin.Port())})
		}
		m, err := pionstun.Build(setters...)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", r, err)
		}
		back, err := ParseResponse(m.Raw)
		if err != nil {
			t.Fatalf("parsing the re-encoded %+v: %v", r, err)
		}
		back.Software = r.Software
		if *back != *r {
			t.Fatalf("round trip changed %+v into %+v", r, back)
		}
	})
}

// FuzzReadMessage checks the TCP framing: never a panic, and every message
// read is exactly one STUN header plus its declared length.
func FuzzReadMessage(f *testing.F) {
	f.Add(rfc5769.ResponseIPv4)
	f.Add(append(bytes.Clone(rfc5769.ResponseIPv4), rfc5769.ResponseIPv6...))
	f.Add([]byte("\x00\x01\xff\xfc\x21\x12\xa4\x42"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			b, err := readMessage(r)
			if err != nil {
				return
			}
			if n, ok := looksLikeSTUN(b); !ok || n != len(b) {
				t.Fatalf("read %d bytes that are not one STUN message", len(b))
			}
		}
	})
}

// FuzzSplitHostPort checks the server address parser used by
// ResolveServer.
func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"stun.example.org", "stun.example.org:3479", "192.0.2.1", "[2001:db8::1]:3478",
		"2001:db8::1", "[::1]", ":3478", "host:0", "host:x", "[::1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitHostPort(s)
		if err != nil {
			if !errors.Is(err, ErrResolve) {
				t.Fatalf("error %v does not wrap ErrResolve", err)
			}
			return
		}
		if host == "" || port == 0 {
			t.Fatalf("splitHostPort(%q) = %q, %d", s, host, port)
		}
	})
}
