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

// rogueInitiator plays an initiator who guesses key, by hand on conn: it
// sends HELLO and PAKE1, reads the responder's HELLO and PAKE2, and runs
// TLS without checking the responder's certificate against PAKE2. It
// returns the TLS connection, or nil after reporting an error (it may run
// in a goroutine of its own).
func rogueInitiator(tb testing.TB, conn net.Conn, key string) *tls.Conn {
	tb.Helper()
	p := initiatorPAKE(tb, key)
	first := appendFrame(nil, hello(roleInitiator))
	first = appendFrame(first, appendPoint([]byte{msgPake1}, p.Xᵤ, p.Xᵥ))
	if _, err := conn.Write(first); err != nil {
		tb.Error(err)
		return nil
	}
	for _, want := range []byte{msgHello, msgPake2} {
		f, err := readFrame(conn, nil)
		if err != nil || f[0] != want {
			tb.Errorf("reading %s: %x, %v", msgName[want], f, err)
			return nil
		}
	}
	cfg, err := TLSConfig(true)
	if err != nil {
		tb.Error(err)
		return nil
	}
	tc := tls.Client(conn, cfg)
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
// the rendezvous server or a relay could, and forwards the messages in the
// clear verbatim. He does not know the key, so he cannot take part in the
// PAKE himself; forwarding gives both sides the same PAKE key, but the
// initiator finds his TLS certificate not the one the responder's PAKE2
// vouches for, and the responder never gets a CONFIRM: both fail.
func TestMITM(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, m1 := connPair(t, tr.tcp) // initiator <-> MITM
			m2, b := connPair(t, tr.tcp) // MITM <-> responder
			go func() {
				defer m1.Close()
				defer m2.Close()
				// HELLO and PAKE1 one way, HELLO and PAKE2 the other.
				forward := func(dst, src net.Conn) error {
					for range 2 {
						f, err := readFrame(src, nil)
						if err != nil {
							return err
						}
						if _, err := dst.Write(appendFrame(nil, f)); err != nil {
							return err
						}
					}
					return nil
				}
				errs := make(chan error, 2)
				go func() { errs <- forward(m2, m1) }()
				go func() { errs <- forward(m1, m2) }()
				if <-errs != nil || <-errs != nil {
					return
				}
				serverCfg, _ := TLSConfig(false)
				clientCfg, _ := TLSConfig(true)
				t1, t2 := tls.Server(m1, serverCfg), tls.Client(m2, clientCfg)
				go t1.Handshake()
				if t2.Handshake() != nil {
					return
				}
				go io.Copy(t1, t2)
				io.Copy(t2, t1)
			}()
			ra, rb := handshakeBoth(t, a, b, testKey, testKey, nil, nil)
			for _, r := range []result{ra, rb} {
				if !errors.Is(r.err, ErrAuth) || r.conn != nil {
					t.Errorf("got %v, %v; want nil, ErrAuth", r.conn, r.err)
				}
			}
			t.Logf("initiator: %v", ra.err)
			t.Logf("responder: %v", rb.err)
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
