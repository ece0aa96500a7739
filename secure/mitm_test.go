package secure

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/schollz/pake/v3"

	"github.com/punchkit/punch/internal/leakcheck"
)

// clientSide plays the initiator's first two steps by hand on conn: the
// clear HELLO exchange and the TLS handshake as client.
func clientSide(tb testing.TB, conn net.Conn) *tls.Conn {
	tb.Helper()
	return tlsSide(tb, conn, true)
}

// tlsSide runs the clear HELLO exchange and the TLS handshake on conn in
// the given role and returns the TLS connection.
func tlsSide(tb testing.TB, conn net.Conn, initiator bool) *tls.Conn {
	tb.Helper()
	role := byte(roleResponder)
	if initiator {
		role = roleInitiator
	}
	if err := exchangeHello(conn, role, nil); err != nil {
		tb.Error(err)
		return nil
	}
	cfg, err := TLSConfig(initiator)
	if err != nil {
		tb.Fatal(err)
	}
	tc := tls.Server(conn, cfg)
	if initiator {
		tc = tls.Client(conn, cfg)
	}
	if err := tc.Handshake(); err != nil {
		tb.Error(err)
		return nil
	}
	return tc
}

// initiatorPAKE starts the initiator's PAKE for key.
func initiatorPAKE(tb testing.TB, key string) *pake.Pake {
	tb.Helper()
	pw, err := pakePassword(key)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := pake.InitCurve(pw, 0, pakeCurve)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestMITM puts a man in the middle who terminates TLS with each side, as
// the rendezvous server or a relay could, and forwards the PAKE messages
// verbatim. He does not know the key, so he cannot take part in the PAKE
// himself; forwarding gives both sides the same PAKE key, but the two TLS
// sessions have different exporters and the key confirmation fails on
// both sides.
func TestMITM(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, m1 := connPair(t, tr.tcp) // initiator <-> MITM
			m2, b := connPair(t, tr.tcp) // MITM <-> responder
			go func() {
				var t1, t2 *tls.Conn
				done := make(chan struct{})
				go func() { t1 = tlsSide(t, m1, false); close(done) }()
				t2 = tlsSide(t, m2, true)
				<-done
				if t1 == nil || t2 == nil {
					m1.Close()
					m2.Close()
					return
				}
				go func() { io.Copy(t1, t2); m1.Close() }()
				io.Copy(t2, t1)
				m2.Close()
			}()
			ra, rb := handshakeBoth(t, a, b, testKey, testKey, nil, nil)
			for _, r := range []result{ra, rb} {
				if !errors.Is(r.err, ErrAuth) || r.conn != nil {
					t.Errorf("got %v, %v; want nil, ErrAuth", r.conn, r.err)
				}
			}
		})
	}
}

// TestConfirm runs Confirm without TLS over a pipe. "other exporter" is
// TestMITM in miniature: same key, same PAKE messages, different channels.
func TestConfirm(t *testing.T) {
	exp1 := []byte("0123456789abcdef0123456789abcdef")
	exp2 := []byte("0123456789abcdef0123456789abcdeX")
	tests := []struct {
		name         string
		keyA, keyB   string
		expA, expB   []byte
		roleA, roleB bool
		want         error
	}{
		{"ok", testKey, testKey, exp1, exp1, true, false, nil},
		{"weak key", "1234", "1234", exp1, exp1, true, false, nil},
		{"wrong key", testKey, "1234", exp1, exp1, true, false, ErrAuth},
		{"other exporter", testKey, testKey, exp1, exp2, true, false, ErrAuth},
		{"both initiators", testKey, testKey, exp1, exp1, true, true, ErrRole},
		{"both responders", testKey, testKey, exp1, exp1, false, false, ErrRole},
		{"short exporter", testKey, testKey, exp1[:15], exp1[:15], true, false, nil},
		{"invalid key", "", "", exp1, exp1, true, false, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, false)
			ctx := context.Background()
			errB := make(chan error, 1)
			go func() {
				err := Confirm(ctx, b, tt.keyB, tt.expB, tt.roleB)
				if err != nil {
					b.Close()
				}
				errB <- err
			}()
			errA := Confirm(ctx, a, tt.keyA, tt.expA, tt.roleA)
			if errA != nil {
				a.Close()
			}
			for _, err := range []error{errA, <-errB} {
				switch {
				case tt.name == "short exporter":
					if err == nil {
						t.Error("accepted a 15-byte exporter")
					}
				case tt.want == nil && err != nil, tt.want != nil && !errors.Is(err, tt.want):
					t.Errorf("got %v, want %v", err, tt.want)
				}
			}
		})
	}
}
