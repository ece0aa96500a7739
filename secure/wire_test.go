package secure

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/schollz/pake/v3"
)

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte{msgHello}, maxFrameLen)
	tests := []struct {
		name string
		in   []byte
		want []byte // payload of the first frame
		err  error
		rest int // bytes left unread after the first frame
	}{
		{"hello", []byte{0, 3, 1, 1, 'I'}, []byte{1, 1, 'I'}, nil, 0},
		{"reads exactly one frame", []byte{0, 1, 9, 0, 1, 8, 'x'}, []byte{9}, nil, 4},
		{"largest", append([]byte{0x10, 0x00}, big...), big, nil, 0},
		{"too large", append([]byte{0x10, 0x01}, big...), nil, ErrProtocol, len(big)},
		{"length 0xffff", []byte{0xff, 0xff}, nil, ErrProtocol, 0},
		{"empty", []byte{0, 0, 1}, nil, ErrProtocol, 1},
		{"end of stream", nil, nil, io.EOF, 0},
		{"truncated header", []byte{0}, nil, io.ErrUnexpectedEOF, 0},
		{"truncated payload", []byte{0, 3, 1, 1}, nil, io.ErrUnexpectedEOF, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.in)
			got, err := readFrame(r, make([]byte, 8))
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("payload % x, want % x", got, tt.want)
			}
			if r.Len() != tt.rest {
				t.Errorf("%d bytes left unread, want %d", r.Len(), tt.rest)
			}
		})
	}
}

func TestPointRoundTrip(t *testing.T) {
	p, err := pake.InitCurve([]byte("pw"), 0, pakeCurve)
	if err != nil {
		t.Fatal(err)
	}
	enc := appendPoint(nil, p.Xᵤ, p.Xᵥ)
	x, y, err := parsePoint(enc)
	if err != nil || x.Cmp(p.Xᵤ) != 0 || y.Cmp(p.Xᵥ) != 0 {
		t.Fatalf("parsePoint(appendPoint(X)) = %v, %v, %v", x, y, err)
	}
}

// FuzzReadFrame reads frames from arbitrary bytes until an error and
// checks that readFrame never panics, fails only in documented ways,
// consumes exactly what it returns (a frame re-encodes to the bytes it
// came from), and that every message parser, the PAKE included, copes with
// whatever the frames carry.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 3, msgHello, protocolVersion, roleInitiator})
	f.Add([]byte{0, 2, msgAbort, abortAuth})
	f.Add([]byte{0x10, 0x01})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		buf := make([]byte, 16)
		consumed := 0
		for {
			p, err := readFrame(r, buf)
			if err != nil {
				switch {
				case err == io.EOF:
					if consumed != len(data) {
						t.Fatalf("io.EOF after %d of %d bytes", consumed, len(data))
					}
				case err == io.ErrUnexpectedEOF, errors.Is(err, ErrProtocol):
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(p) == 0 || len(p) > maxFrameLen {
				t.Fatalf("payload of %d bytes", len(p))
			}
			enc := appendFrame(nil, p)
			if consumed+len(enc) != len(data)-r.Len() || !bytes.Equal(enc, data[consumed:consumed+len(enc)]) {
				t.Fatalf("frame % x does not re-encode to the bytes it was read from", p)
			}
			consumed += len(enc)
			checkMessage(t, p)
		}
	})
}

// checkMessage runs every parser on payload p.
func checkMessage(t *testing.T, p []byte) {
	for _, role := range []byte{roleInitiator, roleResponder} {
		if err := checkHello(p, role); err != nil &&
			!errors.Is(err, ErrProtocol) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrRole) {
			t.Fatalf("checkHello: unexpected error %v", err)
		}
	}
	for typ := byte(msgHello); typ <= msgAbort; typ++ {
		b, err := body(p, typ)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !(typ == msgConfirm && errors.Is(err, ErrAuth)) {
				t.Fatalf("body(%s): unexpected error %v", msgName[typ], err)
			}
			continue
		}
		if p[0] != typ || len(p) != msgLen[typ] || len(b) != len(p)-1 {
			t.Fatalf("body(%s) accepted % x", msgName[typ], p)
		}
		switch typ {
		case msgPake1:
			checkPAKE(t, 1, roleInitiator, b)
		case msgPake2:
			checkPAKE(t, 0, roleResponder, b[:pointLen])
		}
	}
}

// checkPAKE feeds a point from the wire to a PAKE in role.
func checkPAKE(t *testing.T, role int, peer byte, point []byte) {
	p, err := pake.InitCurve([]byte("fuzz password"), role, pakeCurve)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sessionKey(p, peer, point)
	if err != nil {
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("sessionKey: unexpected error %v", err)
		}
		return
	}
	if len(k) != 32 {
		t.Fatalf("session key of %d bytes", len(k))
	}
}
