package secure

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// silentPeer plays a peer that goes through the handshake up to stage and
// then stays silent, reading and discarding whatever comes.
func silentPeer(tb testing.TB, conn net.Conn, stage string) {
	tb.Helper()
	go func() {
		switch stage {
		case "pake":
			exchangeHello(conn, roleInitiator, nil)
		case "confirm":
			rogueInitiator(tb, conn, testKey)
		}
		drain(conn)
	}()
}

func TestSilentPeerTimesOut(t *testing.T) {
	for _, stage := range []string{"hello", "pake", "confirm"} {
		t.Run(stage, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, true)
			silentPeer(t, b, stage)
			start := time.Now()
			_, err := Handshake(context.Background(), a, testKey, &Config{Timeout: 200 * time.Millisecond})
			d := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("got %v, want ErrTimeout", err)
			}
			if d < 150*time.Millisecond || d > 2*time.Second {
				t.Errorf("returned after %v, want about 200ms", d)
			}
			t.Log(err)
		})
	}
}

func TestHandshakeContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				leakcheck.Check(t)
				a, b := connPair(t, tr.tcp)
				silentPeer(t, b, "pake")
				ctx, cancel := tt.ctx()
				defer cancel()
				start := time.Now()
				_, err := Handshake(ctx, a, testKey, nil)
				if !errors.Is(err, tt.want) {
					t.Errorf("got %v, want %v", err, tt.want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("returned after %v", d)
				}
			})
		}
	}
}

func TestConfirmContext(t *testing.T) {
	leakcheck.Check(t)
	a, b := connPair(t, false)
	go drain(b) // reads the HELLO, never answers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := Confirm(ctx, a, testKey, make([]byte, 32), true)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	a.Close()
}

// TestConfirmGarbage feeds each role of Confirm a scripted peer that
// breaks the protocol after a correct HELLO.
func TestConfirmGarbage(t *testing.T) {
	frame := func(p ...byte) []byte { return appendFrame(nil, p) }
	point := func(b0 byte, fill byte) []byte {
		p := make([]byte, pointLen)
		p[0] = b0
		for i := 1; i < pointLen; i++ {
			p[i] = fill
		}
		return p
	}
	mac := make([]byte, macLen)
	tests := []struct {
		name      string
		initiator bool // the role under test
		send      []byte
		want      error
	}{
		{"PAKE1 off curve", false, frame(append([]byte{msgPake1}, point(4, 1)...)...), ErrProtocol},
		{"PAKE1 at infinity", false, frame(append([]byte{msgPake1}, point(4, 0)...)...), ErrProtocol},
		{"PAKE1 compressed", false, frame(append([]byte{msgPake1}, point(2, 1)[:33]...)...), ErrProtocol},
		{"PAKE1 coordinates over p", false, frame(append([]byte{msgPake1}, point(4, 0xff)...)...), ErrProtocol},
		{"PAKE1 short", false, frame(msgPake1, 4, 1, 2), ErrProtocol},
		{"PAKE1 instead CONFIRM", false, frame(append([]byte{msgConfirm}, mac...)...), ErrProtocol},
		{"abort instead of PAKE1", false, frame(msgAbort, abortAuth), ErrProtocol},
		{"PAKE2 off curve", true, frame(append(append([]byte{msgPake2}, point(4, 1)...), mac...)...), ErrProtocol},
		{"PAKE2 short", true, frame(append([]byte{msgPake2}, point(4, 1)...)...), ErrProtocol},
		{"second HELLO", true, frame(msgHello, protocolVersion, roleResponder), ErrProtocol},
		{"hang up", true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, false)
			peer := byte(roleInitiator)
			if tt.initiator {
				peer = roleResponder
			}
			go func() {
				if exchangeHello(b, peer, nil) != nil {
					return
				}
				if tt.send == nil {
					b.Close()
					return
				}
				done := make(chan struct{})
				go func() { drain(b); close(done) }()
				b.Write(tt.send)
				<-done
			}()
			err := Confirm(context.Background(), a, testKey, make([]byte, 32), tt.initiator)
			a.Close()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
}
