package stun

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	pionstun "github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/rfc5769"
)

// build encodes a message with pion/stun for the tests.
func build(t testing.TB, setters ...pionstun.Setter) []byte {
	t.Helper()
	m, err := pionstun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func ip(s string) net.IP { return netip.MustParseAddr(s).AsSlice() }

func TestParseResponse(t *testing.T) {
	t.Parallel()
	id := pionstun.NewTransactionIDSetter([12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	corrupt := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0xff
		return b
	}
	full := build(t, id, pionstun.BindingSuccess,
		&pionstun.XORMappedAddress{IP: ip("203.0.113.7"), Port: 40000},
		&pionstun.OtherAddress{IP: ip("198.51.100.3"), Port: 3479},
		&pionstun.ResponseOrigin{IP: ip("198.51.100.2"), Port: 3478},
		pionstun.NewSoftware("srv"), pionstun.Fingerprint)
	tests := []struct {
		name    string
		in      []byte
		want    Response
		wantErr error
	}{
		{
			name: "RFC 5769 IPv4", in: rfc5769.ResponseIPv4,
			want: Response{
				TransactionID: [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae},
				Mapped:        netip.MustParseAddrPort("192.0.2.1:32853"),
				Software:      "test vector",
			},
		},
		{
			name: "RFC 5769 IPv6", in: rfc5769.ResponseIPv6,
			want: Response{
				TransactionID: [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae},
				Mapped:        netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
				Software:      "test vector",
			},
		},
		{
			name: "RFC 5780 attributes", in: full,
			want: Response{
				TransactionID: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
				Mapped:        netip.MustParseAddrPort("203.0.113.7:40000"),
				Other:         netip.MustParseAddrPort("198.51.100.3:3479"),
				Origin:        netip.MustParseAddrPort("198.51.100.2:3478"),
				Software:      "srv",
			},
		},
		{
			name: "RFC 3489 attributes",
			in: build(t, id, pionstun.BindingSuccess,
				&pionstun.MappedAddress{IP: ip("203.0.113.7"), Port: 40000},
				pionstun.RawAttribute{Type: pionstun.AttrChangedAddress, Value: []byte{0, 1, 0x0d, 0x97, 198, 51, 100, 3}}),
			want: Response{
				TransactionID: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
				Mapped:        netip.MustParseAddrPort("203.0.113.7:40000"),
				Other:         netip.MustParseAddrPort("198.51.100.3:3479"),
			},
		},
		{
			name: "trailing bytes ignored", in: append(bytes.Clone(rfc5769.ResponseIPv4), 0, 0, 0, 0),
			want: Response{
				TransactionID: [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae},
				Mapped:        netip.MustParseAddrPort("192.0.2.1:32853"),
				Software:      "test vector",
			},
		},
		{name: "bad fingerprint", in: corrupt(rfc5769.ResponseIPv4, len(rfc5769.ResponseIPv4)-1), wantErr: ErrMalformed},
		{name: "bad cookie", in: corrupt(rfc5769.ResponseIPv4, 5), wantErr: ErrMalformed},
		{name: "truncated", in: rfc5769.ResponseIPv4[:40], wantErr: ErrMalformed},
		{name: "empty", in: nil, wantErr: ErrMalformed},
		{name: "not STUN", in: []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), wantErr: ErrMalformed},
		{name: "a request", in: build(t, id, pionstun.BindingRequest), wantErr: ErrMalformed},
		{name: "no mapped address", in: build(t, id, pionstun.BindingSuccess), wantErr: ErrMalformed},
		{
			name: "short IPv6 address",
			in: build(t, id, pionstun.BindingSuccess,
				pionstun.RawAttribute{Type: pionstun.AttrXORMappedAddress, Value: []byte{0, 2, 1, 2, 3, 4, 5, 6}}),
			wantErr: ErrMalformed,
		},
		{
			name: "bad family",
			in: build(t, id, pionstun.BindingSuccess,
				pionstun.RawAttribute{Type: pionstun.AttrXORMappedAddress, Value: []byte{0, 3, 1, 2, 3, 4, 5, 6}}),
			wantErr: ErrMalformed,
		},
		{
			name:    "error response",
			in:      build(t, id, pionstun.BindingError, pionstun.CodeUnknownAttribute),
			wantErr: ErrErrorResponse,
		},
		{
			name:    "error response without ERROR-CODE",
			in:      build(t, id, pionstun.BindingError),
			wantErr: ErrErrorResponse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseResponse(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseResponse error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if *got != tt.want {
				t.Errorf("ParseResponse = %+v\nwant %+v", *got, tt.want)
			}
		})
	}
	if _, err := ParseResponse(build(t, id, pionstun.BindingError, pionstun.CodeUnknownAttribute)); err == nil ||
		!strings.Contains(err.Error(), "420") {
		t.Errorf("error response: %v, want the code 420 in it", err)
	}
}

func TestChangeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c     ChangeRequest
		value []byte
		name  string
	}{
		{ChangeRequest{}, nil, ""},
		{ChangeRequest{Port: true}, []byte{0, 0, 0, 2}, "port"},
		{ChangeRequest{IP: true}, []byte{0, 0, 0, 4}, "ip"},
		{ChangeRequest{IP: true, Port: true}, []byte{0, 0, 0, 6}, "ip+port"},
	}
	for _, tt := range tests {
		m, err := newRequest(tt.c)
		if err != nil {
			t.Fatal(err)
		}
		if tt.c.String() != tt.name {
			t.Errorf("%+v.String() = %q, want %q", tt.c, tt.c.String(), tt.name)
		}
		dec, err := decode(m.Raw)
		if err != nil {
			t.Fatalf("decoding our own request: %v", err)
		}
		v, err := dec.Get(pionstun.AttrChangeRequest)
		if tt.value == nil {
			if err == nil {
				t.Errorf("%+v: CHANGE-REQUEST present", tt.c)
			}
			continue
		}
		if !bytes.Equal(v, tt.value) {
			t.Errorf("%+v: value %x, want %x", tt.c, v, tt.value)
		}
		var back ChangeRequest
		if err := back.GetFrom(dec); err != nil || back != tt.c {
			t.Errorf("GetFrom = %+v, %v; want %+v", back, err, tt.c)
		}
		if !dec.Contains(pionstun.AttrFingerprint) || dec.Type != pionstun.BindingRequest {
			t.Errorf("request %v lacks FINGERPRINT or is not a binding request", dec)
		}
	}
	bad := &pionstun.Message{}
	bad.Add(pionstun.AttrChangeRequest, []byte{6})
	var c ChangeRequest
	if err := c.GetFrom(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("short CHANGE-REQUEST: %v, want ErrMalformed", err)
	}
}

func TestReadMessage(t *testing.T) {
	t.Parallel()
	two := append(bytes.Clone(rfc5769.ResponseIPv4), rfc5769.ResponseIPv6...)
	r := bytes.NewReader(two)
	for i, want := range [][]byte{rfc5769.ResponseIPv4, rfc5769.ResponseIPv6} {
		got, err := readMessage(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %x, %v", i, got, err)
		}
	}
	if _, err := readMessage(r); err == nil {
		t.Error("read past the end")
	}
	if _, err := readMessage(bytes.NewReader(rfc5769.ResponseIPv4[:30])); err == nil {
		t.Error("read a truncated message")
	}
	if _, err := readMessage(strings.NewReader("SSH-2.0-OpenSSH_9.6\r\n")); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-STUN stream: %v, want ErrMalformed", err)
	}
}

func BenchmarkParseResponse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponse(rfc5769.ResponseIPv4); err != nil {
			b.Fatal(err)
		}
	}
}
