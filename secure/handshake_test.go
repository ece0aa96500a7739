package secure

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

const testKey = "7k3q-m9xd-2f8h-tp4w-c6rn"

func TestHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, tr.tcp)
			ra, rb := handshakeBoth(t, a, b, testKey, testKey, nil, nil)
			if ra.err != nil || rb.err != nil {
				t.Fatalf("initiator: %v, responder: %v", ra.err, rb.err)
			}
			ini, res := ra.conn, rb.conn
			if !ini.Initiator() || res.Initiator() {
				t.Errorf("Initiator() = %v, %v; want true, false", ini.Initiator(), res.Initiator())
			}
			for _, c := range []*Conn{ini, res} {
				cs := c.ConnectionState()
				if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != NextProto {
					t.Errorf("TLS version %x, ALPN %q", cs.Version, cs.NegotiatedProtocol)
				}
				if cs.DidResume {
					t.Error("TLS session resumed")
				}
				t.Logf("%s: key exchange %v, %s", roleName(c.Initiator()), cs.CurveID, tls.CipherSuiteName(cs.CipherSuite))
			}
			if ini.RemoteAddr().String() != a.RemoteAddr().String() || ini.LocalAddr().String() != a.LocalAddr().String() {
				t.Errorf("addresses %v -> %v, want those of the raw conn", ini.LocalAddr(), ini.RemoteAddr())
			}

			// Initiator to responder, a bulk stream, then a half-close.
			want := make([]byte, 1<<20)
			rand.Read(want)
			got := make(chan []byte, 1)
			go func() {
				b, err := io.ReadAll(res) // ends with io.EOF from CloseWrite
				if err != nil {
					t.Errorf("responder reading: %v", err)
				}
				got <- b
			}()
			if _, err := ini.Write(want); err != nil {
				t.Fatal(err)
			}
			if err := ini.CloseWrite(); err != nil {
				t.Fatalf("CloseWrite: %v", err)
			}
			if g := <-got; !bytes.Equal(g, want) {
				t.Fatalf("responder read %d bytes, want the %d written", len(g), len(want))
			}
			if _, err := ini.Write([]byte("x")); err == nil {
				t.Error("Write after CloseWrite succeeded")
			}

			// The reverse direction still works after the half-close.
			reply := []byte("reply after the half-close")
			go func() {
				if _, err := res.Write(reply); err != nil {
					t.Errorf("responder writing: %v", err)
				}
				res.CloseWrite()
			}()
			back, err := io.ReadAll(ini)
			if err != nil || !bytes.Equal(back, reply) {
				t.Fatalf("initiator read %q, %v; want %q, nil", back, err, reply)
			}
			if err := ini.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			res.Close()
		})
	}
}

func TestHandshakeTCPHalfClose(t *testing.T) {
	// The underlying TCP connection is half-closed too: the peer's kernel
	// sees FIN, not only the TLS alert.
	a, b := connPair(t, true)
	ra, rb := handshakeBoth(t, a, b, testKey, testKey, nil, nil)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("initiator: %v, responder: %v", ra.err, rb.err)
	}
	if err := ra.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// Read the TLS close_notify record off the raw responder conn: behind
	// it comes the TCP FIN.
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("raw read after CloseWrite: %v (want EOF from the TCP half-close)", err)
	}
	if len(raw) == 0 || raw[0] != 0x17 { // an encrypted TLS 1.3 record
		t.Errorf("raw bytes before FIN: % x", raw)
	}
}

func TestWrongKey(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, tr.tcp)
			ra, rb := handshakeBoth(t, a, b, testKey, "another key", nil, nil)
			for _, r := range []result{ra, rb} {
				if !errors.Is(r.err, ErrAuth) || r.conn != nil {
					t.Errorf("got %v, %v; want nil, ErrAuth", r.conn, r.err)
				}
			}
			t.Logf("initiator: %v", ra.err)
			t.Logf("responder: %v", rb.err)
			// Handshake closed both raw conns.
			if _, err := a.Write([]byte("x")); err == nil {
				t.Error("initiator's conn still open")
			}
		})
	}
}

// TestRogueInitiator plays an initiator that does not know the key but
// sends a forged CONFIRM followed at once by user data: the responder must
// refuse it and deliver nothing.
func TestRogueInitiator(t *testing.T) {
	leakcheck.Check(t)
	a, b := connPair(t, true)
	done := make(chan result, 1)
	go func() {
		c, err := Handshake(context.Background(), b, testKey, nil)
		done <- result{c, err}
	}()
	tc := rogueInitiator(t, a, "a guess")
	if tc == nil {
		t.FailNow()
	}
	forged := appendFrame(nil, append([]byte{msgConfirm}, make([]byte, macLen)...))
	forged = append(forged, "user data that must not be delivered"...)
	go tc.Write(forged)
	r := <-done
	if !errors.Is(r.err, ErrAuth) || r.conn != nil {
		t.Fatalf("responder got %v, %v; want nil, ErrAuth", r.conn, r.err)
	}
}

func TestRoleMismatch(t *testing.T) {
	for _, tr := range transports {
		for _, initiator := range []bool{true, false} {
			t.Run(tr.name+"/"+roleName(initiator), func(t *testing.T) {
				leakcheck.Check(t)
				a, b := connPair(t, tr.tcp)
				cfg := &Config{Initiator: initiator, Timeout: 5 * time.Second}
				start := time.Now()
				ra, rb := handshakeBoth(t, a, b, testKey, testKey, cfg, cfg)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("took %v: the mismatch was not detected at once", d)
				}
				for _, r := range []result{ra, rb} {
					if !errors.Is(r.err, ErrRole) {
						t.Errorf("got %v, want ErrRole", r.err)
					}
				}
				t.Log(ra.err)
			})
		}
	}
}

// TestGarbage feeds each side a peer that sends bytes that are not the
// protocol, in the clear and inside TLS.
func TestGarbage(t *testing.T) {
	frame := func(p ...byte) []byte { return appendFrame(nil, p) }
	junk := make([]byte, maxFrameLen)
	tests := []struct {
		name string
		send []byte
		want error // nil: any error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrProtocol},
		{"oversized frame", []byte{0x10, 0x01}, ErrProtocol},
		{"largest frame of junk", append([]byte{0x10, 0x00}, junk...), ErrProtocol},
		{"empty frame", []byte{0, 0}, ErrProtocol},
		{"unknown type", frame(0x7f, 1, 'I'), ErrProtocol},
		{"short hello", frame(msgHello, protocolVersion), ErrProtocol},
		{"long hello", frame(msgHello, protocolVersion, roleInitiator, 0), ErrProtocol},
		{"unknown role", frame(msgHello, protocolVersion, 'X'), ErrProtocol},
		{"version 1", frame(msgHello, 1, roleInitiator), ErrVersion},
		{"version 3", frame(msgHello, 3, roleInitiator, 0, 0), ErrVersion},
		{"abort", frame(msgAbort, abortAuth), ErrProtocol},
		{"truncated", []byte{0, 3, msgHello}, io.ErrUnexpectedEOF},
		{"closed", nil, io.EOF},
		{"hello then not PAKE1", append(frame(msgHello, protocolVersion, roleInitiator), "hello, TLS server"...), ErrProtocol},
		{"hello, PAKE1 not on the curve", append(frame(msgHello, protocolVersion, roleInitiator), frame(append([]byte{msgPake1, 4}, make([]byte, 64)...)...)...), ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, true)
			go func() {
				b.Write(tt.send)
				b.(*net.TCPConn).CloseWrite()
				drain(b)
			}()
			_, err := Handshake(context.Background(), a, testKey, &Config{Timeout: 2 * time.Second})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
}
