package rendezvous

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// flight returns n random bytes, a handshake flight.
func flight(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// relayPair pairs a leader that sends the flight hsL and a follower that
// sends hsF (nil: none) through Exchange, and returns their connections
// and answers.
func (ts *testServer) relayPair(tb testing.TB, hsL, hsF []byte) (lc, fc net.Conn, lm, fm *Match) {
	tb.Helper()
	tok := newToken()
	lc, rl := ts.exchange(tb, Request{Token: tok, Handshake: hsL})
	ts.waiting(tb, 1)
	fc, rf := ts.exchange(tb, Request{Token: tok, Handshake: hsF})
	resL, resF := get(tb, rl), get(tb, rf)
	if resL.err != nil || resF.err != nil {
		tb.Fatalf("Exchange: leader %v, follower %v", resL.err, resF.err)
	}
	if !resL.m.Leader || resF.m.Leader {
		tb.Fatalf("leader flags %v and %v, want true and false", resL.m.Leader, resF.m.Leader)
	}
	return lc, fc, resL.m, resF.m
}

// closedByServer checks that the server has closed c: a read returns
// end-of-file at once.
func closedByServer(tb testing.TB, name string, c net.Conn) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	var buf [64]byte
	if n, err := c.Read(buf[:]); err != io.EOF {
		tb.Errorf("%s: read %q, %v after the exchange, want EOF: the server has not closed", name, buf[:n], err)
	}
}

// TestRelayFlights relays the first flights of a pair: each answer
// carries the other's flight, the leader's reply reaches the follower
// unchanged, and the server then closes both connections.
func TestRelayFlights(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			leakcheck.Check(t)
			ts := startServer(t, nil, network)
			hsL, hsF, reply := flight(1), flight(MaxHandshakeSize), flight(MaxHandshakeSize)
			lc, fc, lm, fm := ts.relayPair(t, hsL, hsF)
			if !bytes.Equal(lm.PeerHandshake, hsF) || !bytes.Equal(fm.PeerHandshake, hsL) {
				t.Fatalf("peer flights %x and %x, want %x and %x", lm.PeerHandshake, fm.PeerHandshake, hsF, hsL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := make(chan []byte, 1)
			go func() {
				b, err := ReadReply(ctx, fc)
				if err != nil {
					t.Errorf("ReadReply: %v", err)
				}
				got <- b
			}()
			if err := SendReply(ctx, lc, reply); err != nil {
				t.Fatalf("SendReply: %v", err)
			}
			if b := <-got; !bytes.Equal(b, reply) {
				t.Errorf("follower got reply %x, want %x", b, reply)
			}
			closedByServer(t, "leader", lc)
			closedByServer(t, "follower", fc)
			waitFor(t, "connections closed", func() bool { return ts.Stats().Conns == 0 })
			if st := ts.Stats(); st.Relayed != 1 || st.Pairings != 1 || st.Waiting != 0 {
				t.Errorf("stats %+v, want 1 pairing, 1 relayed", st)
			}
		})
	}
}

// heldConn is a connection whose Write returns only once release is
// closed, so that everything the server sends meanwhile is already there
// when the client reads.
type heldConn struct {
	*net.TCPConn
	release chan struct{}
}

func (c heldConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	<-c.release
	return n, err
}

// plainConn hides the socket of a connection (no SyscallConn).
type plainConn struct{ net.Conn }

// TestRelayReplyArrivedFirst lets the server pass the reply on before the
// follower reads its answer: Exchange must leave the reply in the
// connection for ReadReply, on a socket (where it peeks) and on another
// connection (where it reads a byte at a time).
func TestRelayReplyArrivedFirst(t *testing.T) {
	for _, name := range []string{"socket", "other-conn"} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, nil, "tcp4")
			tok := newToken()
			hsL, hsF, reply := flight(100), flight(200), flight(300)
			lc, rl := ts.exchange(t, Request{Token: tok, Handshake: hsL})
			ts.waiting(t, 1)
			held := heldConn{ts.dial(t).(*net.TCPConn), make(chan struct{})}
			var fc net.Conn = held
			if name == "other-conn" {
				fc = plainConn{held}
			}
			rf := make(chan result, 1)
			go func() {
				m, err := Exchange(context.Background(), fc, Request{Token: tok, Handshake: hsF})
				rf <- result{m: m, err: err}
			}()
			resL := get(t, rl)
			if resL.err != nil {
				t.Fatal(resL.err)
			}
			if err := SendReply(context.Background(), lc, reply); err != nil {
				t.Fatal(err)
			}
			// The follower's session has written the reply and closed.
			waitFor(t, "the follower's session to end", func() bool { return ts.Stats().Conns == 0 })
			close(held.release)
			resF := get(t, rf)
			if resF.err != nil || !bytes.Equal(resF.m.PeerHandshake, hsL) {
				t.Fatalf("follower: %+v", resF)
			}
			b, err := ReadReply(context.Background(), fc)
			if err != nil || !bytes.Equal(b, reply) {
				t.Errorf("ReadReply: %x, %v; want %x", b, err, reply)
			}
		})
	}
}

// TestRelayOneSided checks that a pair relays nothing unless both send a
// flight: no answer carries peer_hs, and the server closes after the
// answers, as for clients that know nothing of flights.
func TestRelayOneSided(t *testing.T) {
	tests := []struct {
		name     string
		hsL, hsF []byte
	}{
		{"leader-only", flight(32), nil},
		{"follower-only", nil, flight(32)},
		{"neither", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ts := startServer(t, nil, "tcp4")
			lc, fc, lm, fm := ts.relayPair(t, tt.hsL, tt.hsF)
			if lm.PeerHandshake != nil || fm.PeerHandshake != nil {
				t.Errorf("peer flights %x and %x, want none", lm.PeerHandshake, fm.PeerHandshake)
			}
			closedByServer(t, "leader", lc)
			closedByServer(t, "follower", fc)
		})
	}
}

// TestRelayRawAnswers checks on the wire that an answer has peer_hs only
// when both sides sent hs.
func TestRelayRawAnswers(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	for _, both := range []bool{false, true} {
		tok := newToken()
		reqL, _ := marshalRequest(Request{Token: tok, Handshake: []byte("leader")})
		var hsF []byte
		if both {
			hsF = []byte("follower")
		}
		reqF, _ := marshalRequest(Request{Token: tok, Handshake: hsF})
		lc := ts.send(t, reqL)
		ts.waiting(t, 1)
		fc := ts.send(t, reqF)
		lc.SetReadDeadline(time.Now().Add(5 * time.Second))
		answer, err := readLine(lc, MaxAnswerSize)
		if err != nil {
			t.Fatalf("leader's answer: %v", err)
		}
		if both {
			lc.Write(marshalReply([]byte("reply")))
		}
		gotL, gotF := string(answer)+"\n"+readAll(t, lc), readAll(t, fc)
		wantL, wantF := "", ""
		if both {
			wantL, wantF = `"peer_hs":"Zm9sbG93ZXI="`, `"peer_hs":"bGVhZGVy"`
			if !strings.HasSuffix(gotF, "}\n"+`{"hs":"cmVwbHk="}`+"\n") {
				t.Errorf("follower got %q, want the answer and the reply line", gotF)
			}
		}
		for _, c := range []struct{ got, want string }{{gotL, wantL}, {gotF, wantF}} {
			if c.want == "" && strings.Contains(c.got, "peer_hs") || !strings.Contains(c.got, c.want) {
				t.Errorf("both=%v: got %q, want %q", both, c.got, c.want)
			}
		}
	}
}

// TestRelayNoReply checks that the follower gets no line when the leader
// leaves, stays silent or sends a malformed reply, which gets
// bad-request; and that the follower learns it as soon as the server does.
func TestRelayNoReply(t *testing.T) {
	const timeout = 2 * time.Second
	tooBig := `{"hs":"` + strings.Repeat("A", MaxRequestSize) + `"}` + "\n"
	tests := []struct {
		name   string
		leader func(c net.Conn)
		silent bool   // the server waits for its timeout
		want   string // code of the leader's answer, "" for a close
	}{
		{"leader-closes", func(c net.Conn) { c.Close() }, false, ""},
		{"leader-half-closes", func(c net.Conn) { c.(*net.TCPConn).CloseWrite() }, false, ""},
		{"leader-silent", func(net.Conn) {}, true, ""},
		{"partial-line", func(c net.Conn) { c.Write([]byte(`{"hs":"AA`)) }, true, CodeBadRequest},
		{"garbage", func(c net.Conn) { c.Write([]byte("garbage\n")) }, false, CodeBadRequest},
		{"no-hs", func(c net.Conn) { c.Write([]byte("{}\n")) }, false, CodeBadRequest},
		{"empty-hs", func(c net.Conn) { c.Write([]byte(`{"hs":""}` + "\n")) }, false, CodeBadRequest},
		{"not-base64", func(c net.Conn) { c.Write([]byte(`{"hs":"!!!!"}` + "\n")) }, false, CodeBadRequest},
		{"hs-too-big", func(c net.Conn) { c.Write(marshalReply(flight(MaxHandshakeSize + 1))) }, false, CodeBadRequest},
		{"line-too-long", func(c net.Conn) { c.Write([]byte(tooBig)) }, false, CodeBadRequest},
		{"trailing-data", func(c net.Conn) { c.Write(append(marshalReply([]byte("x")), 'y')) }, false, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			hsTimeout := timeout
			if tt.silent {
				hsTimeout = 300 * time.Millisecond
			}
			ts := startServer(t, &Config{HandshakeTimeout: hsTimeout}, "tcp4")
			lc, fc, _, _ := ts.relayPair(t, flight(16), flight(16))
			start := time.Now()
			tt.leader(lc)
			_, err := ReadReply(context.Background(), fc)
			d := time.Since(start)
			if !errors.Is(err, ErrNoReply) {
				t.Errorf("ReadReply: %v, want ErrNoReply", err)
			}
			if tt.silent && d < hsTimeout/2 || d >= hsTimeout+relayGrace {
				t.Errorf("ReadReply returned after %v with a handshake timeout of %v", d, hsTimeout)
			}
			if !tt.silent && d >= timeout {
				t.Errorf("ReadReply returned after %v, not at once", d)
			}
			if tt.name != "leader-closes" {
				got := readAll(t, lc)
				if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
					t.Errorf("leader got %q, want %q", got, tt.want)
				}
				lc.Close() // ends the server's linger after an error
			}
			waitFor(t, "connections closed", func() bool { return ts.Stats().Conns == 0 })
			if st := ts.Stats(); st.Relayed != 0 || (st.Malformed == 1) != (tt.want != "") {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRelayFollowerLeaves checks that the server takes the leader's reply
// and closes when the follower has left.
func TestRelayFollowerLeaves(t *testing.T) {
	leakcheck.Check(t)
	ts := startServer(t, nil, "tcp4")
	lc, fc, _, _ := ts.relayPair(t, flight(16), flight(16))
	fc.Close()
	if err := SendReply(context.Background(), lc, flight(16)); err != nil {
		t.Errorf("SendReply: %v", err)
	}
	closedByServer(t, "leader", lc)
	waitFor(t, "connections closed", func() bool { return ts.Stats().Conns == 0 })
}

// sharedMatcher is a Matcher of another type than MemoryMatcher, as a
// shared store would be.
type sharedMatcher struct{ *MemoryMatcher }

// TestRelayOtherMatcher checks that a server whose Matcher is not a
// MemoryMatcher never relays.
func TestRelayOtherMatcher(t *testing.T) {
	leakcheck.Check(t)
	ts := startServer(t, &Config{Matcher: sharedMatcher{NewMemoryMatcher()}}, "tcp4")
	lc, fc, lm, fm := ts.relayPair(t, flight(16), flight(16))
	if lm.PeerHandshake != nil || fm.PeerHandshake != nil {
		t.Errorf("peer flights %x and %x, want none", lm.PeerHandshake, fm.PeerHandshake)
	}
	closedByServer(t, "leader", lc)
	closedByServer(t, "follower", fc)
}

// TestRelayServerStops cancels Serve's ctx while the follower waits for
// the leader's reply: Serve returns at once, the follower gets ErrNoReply,
// and nothing is left behind.
func TestRelayServerStops(t *testing.T) {
	leakcheck.Check(t)
	lns, err := Listen(context.Background(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&Config{HandshakeTimeout: time.Minute})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lns[0]) }()
	ts := &testServer{Server: s, addr: lns[0].Addr().String()}
	_, fc, _, _ := ts.relayPair(t, flight(16), flight(16))
	reply := make(chan error, 1)
	go func() { _, err := ReadReply(context.Background(), fc); reply <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := <-reply; !errors.Is(err, ErrNoReply) {
		t.Errorf("ReadReply: %v, want ErrNoReply", err)
	}
	if st := s.Stats(); st.Conns != 0 || st.Waiting != 0 {
		t.Errorf("stats after Serve: %+v", st)
	}
}

// TestRelayClientCancel checks that cancelling ctx unblocks ReadReply.
func TestRelayClientCancel(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	_, fc, _, _ := ts.relayPair(t, flight(16), flight(16))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := ReadReply(ctx, fc); errc <- err }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadReply: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("cancel did not unblock ReadReply")
	}
}

// TestSendReply checks SendReply's size check and its reading of a
// server's refusal.
func TestSendReply(t *testing.T) {
	for _, n := range []int{0, MaxHandshakeSize + 1} {
		if err := SendReply(context.Background(), nil, make([]byte, n)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("SendReply of %d bytes: %v, want ErrBadRequest", n, err)
		}
	}
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		if _, err := readLine(server, MaxRequestSize); err == nil {
			server.Write(marshalError(CodeBadRequest, "no"))
		}
	}()
	if err := SendReply(context.Background(), client, []byte("x")); !errors.Is(err, ErrBadRequest) {
		t.Errorf("SendReply refused by the server: %v, want ErrBadRequest", err)
	}
}
