package rendezvous

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// TestLegacyPairing pairs two raw legacy clients: each gets the other's
// address as one "IP PORT\n" line, then the server closes.
func TestLegacyPairing(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			leakcheck.Check(t)
			ts := startServer(t, nil, network)
			key := newToken()
			a := ts.send(t, key[:])
			ts.waiting(t, 1)
			b := ts.send(t, key[:])
			gotA, gotB := readAll(t, a), readAll(t, b)
			wantA, wantB := string(legacyAnswer(localAddr(b))), string(legacyAnswer(localAddr(a)))
			if gotA != wantA || gotB != wantB {
				t.Errorf("answers %q and %q, want %q and %q", gotA, gotB, wantA, wantB)
			}
			if network == "tcp6" && !strings.HasPrefix(gotA, "::1 ") {
				t.Errorf("IPv6 answer %q, want \"::1 PORT\\n\" without brackets", gotA)
			}
			if st := ts.Stats(); st.Pairings != 1 || st.Waiting != 0 {
				t.Errorf("stats %+v, want 1 pairing, 0 waiting", st)
			}
		})
	}
}

// TestLegacyClient pairs two clients through Legacy.
func TestLegacyClient(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	key := newToken()
	a, ra := ts.legacy(t, key)
	ts.waiting(t, 1)
	b, rb := ts.legacy(t, key)
	resA, resB := get(t, ra), get(t, rb)
	if resA.err != nil || resB.err != nil {
		t.Fatalf("errors %v, %v", resA.err, resB.err)
	}
	if resA.peer != localAddr(b) || resB.peer != localAddr(a) {
		t.Errorf("peers %v and %v, want %v and %v", resA.peer, resB.peer, localAddr(b), localAddr(a))
	}
}

// TestExchange pairs two version 1 clients and checks that candidates and
// info pass through and that the one that waited leads.
func TestExchange(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			leakcheck.Check(t)
			ts := startServer(t, nil, network)
			tok := newToken()
			reqA := Request{
				Token: tok,
				Kind:  KindUDP,
				Local: []netip.AddrPort{netip.MustParseAddrPort("192.168.1.10:4000"), netip.MustParseAddrPort("[fd00::10]:4000")},
				UDP:   []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:5000")},
				Info:  json.RawMessage(`{"nat": "portrestricted", "mapping": {"eim": true}}`),
			}
			reqB := Request{Token: tok, Kind: KindUDP, Local: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:6000")}}
			a, ra := ts.exchange(t, reqA)
			ts.waiting(t, 1)
			b, rb := ts.exchange(t, reqB)
			resA, resB := get(t, ra), get(t, rb)
			if resA.err != nil || resB.err != nil {
				t.Fatalf("errors %v, %v", resA.err, resB.err)
			}
			wantA := &Match{
				Peer:      localAddr(b),
				Self:      localAddr(a),
				PeerLocal: reqB.Local,
				Leader:    true,
			}
			wantB := &Match{
				Peer:      localAddr(a),
				Self:      localAddr(b),
				PeerLocal: reqA.Local,
				PeerUDP:   reqA.UDP,
				PeerInfo:  json.RawMessage(`{"nat":"portrestricted","mapping":{"eim":true}}`),
			}
			for _, c := range []struct {
				name      string
				got, want *Match
			}{{"leader", resA.m, wantA}, {"follower", resB.m, wantB}} {
				if !matchEqual(c.got, c.want) {
					t.Errorf("%s got %+v, want %+v", c.name, c.got, c.want)
				}
			}
		})
	}
}

// TestGrant checks that the server hands each paired client the relay
// grant its Grant hook returns for the session's kind and token.
func TestGrant(t *testing.T) {
	leakcheck.Check(t)
	type call struct {
		kind  Kind
		token string
	}
	calls := make(chan call, 4)
	cfg := &Config{Grant: func(kind Kind, token string) *Grant {
		calls <- call{kind, token}
		if kind != KindConnect {
			return nil
		}
		return &Grant{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.51.100.2:3480")}, Username: "1700000000:" + token[:8], Password: "secret"}
	}}
	ts := startServer(t, cfg, "tcp4")
	for _, kind := range []Kind{KindConnect, KindUDP} {
		tok := newToken()
		_, ra := ts.exchange(t, Request{Token: tok, Kind: kind})
		ts.waiting(t, 1)
		_, rb := ts.exchange(t, Request{Token: tok, Kind: kind})
		for _, r := range []result{get(t, ra), get(t, rb)} {
			if r.err != nil {
				t.Fatal(r.err)
			}
			c := <-calls
			if want := (call{kind, hex.EncodeToString(tok[:])}); c != want {
				t.Errorf("Grant called with %v, want %v", c, want)
			}
			switch {
			case kind == KindConnect && (r.m.Relay == nil || r.m.Relay.Username != "1700000000:"+hex.EncodeToString(tok[:4]) ||
				r.m.Relay.Password != "secret" || fmt.Sprint(r.m.Relay.Addrs) != "[198.51.100.2:3480]"):
				t.Errorf("%s: relay grant %+v", kind, r.m.Relay)
			case kind != KindConnect && r.m.Relay != nil:
				t.Errorf("%s: unexpected relay grant %+v", kind, r.m.Relay)
			}
		}
	}
}

// matchEqual compares Matches, info as bytes.
func matchEqual(a, b *Match) bool {
	return a.Peer == b.Peer && a.Self == b.Self && a.Leader == b.Leader &&
		fmt.Sprint(a.PeerLocal) == fmt.Sprint(b.PeerLocal) &&
		fmt.Sprint(a.PeerUDP) == fmt.Sprint(b.PeerUDP) &&
		bytes.Equal(a.PeerInfo, b.PeerInfo) && bytes.Equal(a.PeerHandshake, b.PeerHandshake)
}

// TestKeyInUse checks that a third client with a key that just paired is
// refused without learning the pair's addresses, and that the key is free
// again after InUseFor.
func TestKeyInUse(t *testing.T) {
	const inUse = 300 * time.Millisecond
	ts := startServer(t, &Config{InUseFor: inUse, WaitTimeout: 5 * time.Second}, "tcp4")
	tok := newToken()
	a, ra := ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 1)
	b, rb := ts.exchange(t, Request{Token: tok})
	if r := get(t, ra); r.err != nil {
		t.Fatal(r.err)
	}
	if r := get(t, rb); r.err != nil {
		t.Fatal(r.err)
	}
	// A raw third client, to see every byte the server sends it.
	msg, _ := marshalRequest(Request{Token: tok})
	c := ts.send(t, msg)
	got := readAll(t, c)
	for _, leak := range []netip.AddrPort{localAddr(a), localAddr(b)} {
		if strings.Contains(got, fmt.Sprint(leak.Port())) {
			t.Errorf("third client learned a pair address %v: %q", leak, got)
		}
	}
	if _, err := parseAnswer([]byte(strings.TrimSuffix(got, "\n"))); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("third client got %q (%v), want key-in-use", got, err)
	}
	// The same through the client.
	_, rc := ts.exchange(t, Request{Token: tok})
	if r := get(t, rc); !errors.Is(r.err, ErrKeyInUse) {
		t.Errorf("Exchange error %v, want ErrKeyInUse", r.err)
	}
	if st := ts.Stats(); st.Waiting != 0 {
		t.Errorf("%d waiting, want 0", st.Waiting)
	}
	// Once InUseFor has passed, the key waits again.
	time.Sleep(inUse + 50*time.Millisecond)
	ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 1)
}

// TestLegacyKeyInUse checks that a third legacy client is closed without
// a line.
func TestLegacyKeyInUse(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	key := newToken()
	a := ts.send(t, key[:])
	ts.waiting(t, 1)
	b := ts.send(t, key[:])
	readAll(t, a)
	readAll(t, b)
	c := ts.send(t, key[:])
	if got := readAll(t, c); got != "" {
		t.Errorf("third legacy client got %q, want nothing", got)
	}
}

// TestWaitTimeout checks that a lonely client gets a timeout, and a lonely
// legacy client a close.
func TestWaitTimeout(t *testing.T) {
	ts := startServer(t, &Config{WaitTimeout: 200 * time.Millisecond}, "tcp4")
	start := time.Now()
	_, r := ts.exchange(t, Request{Token: newToken()})
	if res := get(t, r); !errors.Is(res.err, ErrTimeout) {
		t.Errorf("Exchange error %v, want ErrTimeout", res.err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("timeout after %v, want about 200ms", d)
	}
	_, r = ts.legacy(t, newToken())
	if res := get(t, r); !errors.Is(res.err, ErrNoAnswer) {
		t.Errorf("Legacy error %v, want ErrNoAnswer", res.err)
	}
	if st := ts.Stats(); st.Waiting != 0 || st.Timeouts != 2 {
		t.Errorf("stats %+v, want 0 waiting, 2 timeouts", st)
	}
}

// TestMaxWaitingPerIP checks the per-source limit and that a slot is free
// again once its session ends.
func TestMaxWaitingPerIP(t *testing.T) {
	ts := startServer(t, &Config{MaxWaitingPerIP: 2}, "tcp4")
	first, _ := ts.exchange(t, Request{Token: newToken()})
	ts.legacy(t, newToken())
	ts.waiting(t, 2)
	_, r := ts.exchange(t, Request{Token: newToken()})
	if res := get(t, r); !errors.Is(res.err, ErrTooMany) {
		t.Errorf("third session: %v, want ErrTooMany", res.err)
	}
	c := ts.send(t, bytes.Repeat([]byte("k"), KeySize))
	if got := readAll(t, c); got != "" {
		t.Errorf("third legacy session got %q, want a close", got)
	}
	first.Close()
	ts.waiting(t, 1)
	ts.exchange(t, Request{Token: newToken()})
	ts.waiting(t, 2)
}

// TestHandshakeTimeout checks that silent and slow clients are dropped
// after HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name string
		send string
		want string // answer, "" for a plain close
	}{
		{"silent", "", ""},
		{"legacy-short", "0123456789abcdef", ""},
		{"hello-only", Hello, CodeBadRequest},
		{"partial-line", Hello + `{"token": "00`, CodeBadRequest},
	}
	ts := startServer(t, &Config{HandshakeTimeout: timeout}, "tcp4")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c := ts.send(t, []byte(tt.send))
			got := readAll(t, c)
			if d := time.Since(start); d < timeout || d > 3*time.Second {
				t.Errorf("dropped after %v, want about %v", d, timeout)
			}
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, `"code":"`+tt.want+`"`) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGarbage sends malformed requests while a good pair pairs: the
// garbage gets bad-request (version 1) or a close (legacy), the pair is
// unharmed.
func TestGarbage(t *testing.T) {
	tok := fmt.Sprintf("%x", newToken())
	line := func(s string) string { return Hello + s + "\n" }
	tests := []struct {
		name string
		send string
		v1   bool
	}{
		{"bad-json", line(`{"token": `), true},
		{"not-object", line(`[1, 2]`), true},
		{"null", line(`null`), true},
		{"no-token", line(`{"kind": "tcp"}`), true},
		{"short-token", line(`{"token": "abcd"}`), true},
		{"long-token", line(`{"token": "` + tok + `00"}`), true},
		{"non-hex-token", line(`{"token": "` + strings.Repeat("zz", KeySize) + `"}`), true},
		{"bad-kind", line(`{"token": "` + tok + `", "kind": "sctp"}`), true},
		{"bad-local", line(`{"token": "` + tok + `", "local": ["nope"]}`), true},
		{"port-zero", line(`{"token": "` + tok + `", "local": ["1.2.3.4:0"]}`), true},
		{"too-many-udp", line(`{"token": "` + tok + `", "udp": [` + strings.Repeat(`"1.2.3.4:5",`, MaxCandidates) + `"1.2.3.4:5"]}`), true},
		{"info-array", line(`{"token": "` + tok + `", "info": [1]}`), true},
		{"info-too-big", line(`{"token": "` + tok + `", "info": {"x": "` + strings.Repeat("a", MaxInfoSize) + `"}}`), true},
		{"hs-not-base64", line(`{"token": "` + tok + `", "hs": "not base64"}`), true},
		{"hs-empty", line(`{"token": "` + tok + `", "hs": ""}`), true},
		{"hs-too-big", line(`{"token": "` + tok + `", "hs": "` + strings.Repeat("AAAA", MaxHandshakeSize/3+1) + `"}`), true},
		{"oversized-line", Hello + `{"token": "` + strings.Repeat(" ", MaxRequestSize) + `"}` + "\n", true},
		{"trailing-data", line(`{"token": "`+tok+`"}`) + "more", true},
		{"legacy-too-long", strings.Repeat("x", KeySize+5), false},
		{"legacy-short-eof", "short", false},
	}
	ts := startServer(t, &Config{HandshakeTimeout: 2 * time.Second}, "tcp4")
	good := newToken()
	_, ra := ts.exchange(t, Request{Token: good})
	ts.waiting(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.send(t, []byte(tt.send))
			if tt.name == "legacy-short-eof" {
				c.(*net.TCPConn).CloseWrite()
			}
			got := readAll(t, c)
			if !tt.v1 {
				if got != "" {
					t.Errorf("legacy garbage got %q, want a close", got)
				}
				return
			}
			_, err := parseAnswer([]byte(strings.TrimSuffix(got, "\n")))
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("got %q (%v), want bad-request", got, err)
			}
		})
	}
	_, rb := ts.exchange(t, Request{Token: good})
	if r := get(t, ra); r.err != nil || !r.m.Leader {
		t.Errorf("good client A: %+v", r)
	}
	if r := get(t, rb); r.err != nil || r.m.Leader {
		t.Errorf("good client B: %+v", r)
	}
	if st := ts.Stats(); st.Malformed != uint64(len(tests)) || st.Pairings != 1 {
		t.Errorf("stats %+v, want %d malformed, 1 pairing", st, len(tests))
	}
}

// TestWaitingClientLeaves checks that a waiting client that disconnects
// frees its key and its slot at once, and that one that sends data while
// waiting is dropped.
func TestWaitingClientLeaves(t *testing.T) {
	ts := startServer(t, &Config{MaxWaitingPerIP: 1}, "tcp4")
	tok := newToken()
	a, _ := ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 1)
	a.Close()
	ts.waiting(t, 0)
	// The slot is free and the key pairs with no ghost: B waits and leads.
	_, rb := ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 1)
	_, rc := ts.exchange(t, Request{Token: tok})
	if r := get(t, rb); r.err != nil || !r.m.Leader {
		t.Fatalf("B: %+v", r)
	}
	if r := get(t, rc); r.err != nil || r.m.Leader {
		t.Fatalf("C: %+v", r)
	}

	// Data while waiting: dropped with bad-request.
	msg, _ := marshalRequest(Request{Token: newToken()})
	d := ts.send(t, msg)
	ts.waiting(t, 1)
	d.Write([]byte("x"))
	if got := readAll(t, d); !strings.Contains(got, CodeBadRequest) {
		t.Errorf("data while waiting: got %q, want bad-request", got)
	}
	ts.waiting(t, 0)
}

// TestKindMismatch checks that a tcp and a udp session with one token do
// not pair, and both learn why.
func TestKindMismatch(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	tok := newToken()
	a, ra := ts.exchange(t, Request{Token: tok, Kind: KindTCP})
	ts.waiting(t, 1)
	b, rb := ts.exchange(t, Request{Token: tok, Kind: KindUDP})
	for name, r := range map[string]<-chan result{"waiting": ra, "arriving": rb} {
		if res := get(t, r); !errors.Is(res.err, ErrKindMismatch) {
			t.Errorf("%s side: %v, want ErrKindMismatch", name, res.err)
		} else if strings.Contains(res.err.Error(), fmt.Sprint(localAddr(a).Port())) || strings.Contains(res.err.Error(), fmt.Sprint(localAddr(b).Port())) {
			t.Errorf("%s side learned an address: %v", name, res.err)
		}
	}
	// The key is free: it can wait again.
	ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 1)
}

// TestLegacyV1Isolation checks that a legacy key and a version 1 token of
// the same bytes do not pair.
func TestLegacyV1Isolation(t *testing.T) {
	ts := startServer(t, &Config{WaitTimeout: 300 * time.Millisecond}, "tcp4")
	tok := newToken()
	_, rl := ts.legacy(t, tok)
	_, rv := ts.exchange(t, Request{Token: tok})
	ts.waiting(t, 2)
	if r := get(t, rl); !errors.Is(r.err, ErrNoAnswer) {
		t.Errorf("legacy: %v, want ErrNoAnswer (timeout)", r.err)
	}
	if r := get(t, rv); !errors.Is(r.err, ErrTimeout) {
		t.Errorf("v1: %v, want ErrTimeout", r.err)
	}
	if st := ts.Stats(); st.Pairings != 0 {
		t.Errorf("%d pairings, want 0", st.Pairings)
	}
}

// TestLegacyKeyLooksLikeHello checks the documented overlap: a legacy key
// that starts with Hello is read as version 1, and Legacy refuses it.
func TestLegacyKeyLooksLikeHello(t *testing.T) {
	var key [KeySize]byte
	copy(key[:], Hello)
	ts := startServer(t, &Config{HandshakeTimeout: 2 * time.Second}, "tcp4")
	c := ts.send(t, key[:])
	c.(*net.TCPConn).CloseWrite()
	if got := readAll(t, c); got != "" {
		t.Errorf("got %q, want a close (an incomplete version 1 request)", got)
	}
	if _, err := Legacy(context.Background(), ts.dial(t), key); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Legacy: %v, want ErrBadRequest", err)
	}
}

// TestClientCancel checks that cancelling ctx unblocks a waiting client.
func TestClientCancel(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	tests := []struct {
		name string
		run  func(ctx context.Context, c net.Conn) error
	}{
		{"exchange", func(ctx context.Context, c net.Conn) error {
			_, err := Exchange(ctx, c, Request{Token: newToken()})
			return err
		}},
		{"exchange-hs", func(ctx context.Context, c net.Conn) error {
			// Reads the answer through readLineExact.
			_, err := Exchange(ctx, c, Request{Token: newToken(), Handshake: []byte("x")})
			return err
		}},
		{"legacy", func(ctx context.Context, c net.Conn) error {
			_, err := Legacy(ctx, c, newToken())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, how := range []string{"cancel", "deadline"} {
				ctx, cancel := context.WithCancel(context.Background())
				if how == "deadline" {
					ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
				}
				c := ts.dial(t)
				done := make(chan error, 1)
				go func() { done <- tt.run(ctx, c) }()
				ts.waiting(t, 1)
				if how == "cancel" {
					cancel()
				}
				select {
				case err := <-done:
					want := context.Canceled
					if how == "deadline" {
						want = context.DeadlineExceeded
					}
					if !errors.Is(err, want) {
						t.Errorf("%s: %v, want %v", how, err, want)
					}
				case <-time.After(3 * time.Second):
					t.Fatalf("%s did not unblock the client", how)
				}
				cancel()
				c.Close()
				ts.waiting(t, 0)
			}
		})
	}
}

// TestServerClose checks that Close disconnects waiting clients and stops
// Serve, leaving no goroutine behind.
func TestServerClose(t *testing.T) {
	leakcheck.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := make(chan error, 1)
	go func() { _, err := Exchange(context.Background(), c, Request{Token: newToken()}); r <- err }()
	waitFor(t, "waiting session", func() bool { return s.Stats().Waiting == 1 })
	s.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	if err := <-r; !errors.Is(err, ErrNoAnswer) {
		t.Errorf("client: %v, want ErrNoAnswer", err)
	}
	if err := s.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if st := s.Stats(); st.Conns != 0 || st.Waiting != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

// TestServeCancel checks that cancelling Serve's ctx stops it.
func TestServeCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v, want context.Canceled", err)
	}
}

// TestMaxConns checks that connections over MaxConns are closed at once.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, &Config{MaxConns: 1}, "tcp4")
	ts.exchange(t, Request{Token: newToken()})
	ts.waiting(t, 1)
	c := ts.dial(t)
	if got := readAll(t, c); got != "" {
		t.Errorf("got %q, want a close", got)
	}
}

// TestManyPairs pairs many clients at once, legacy and version 1 mixed.
func TestManyPairs(t *testing.T) {
	ts := startServer(t, nil, "tcp4")
	const pairs = 100
	var results []<-chan result
	for i := range pairs {
		tok := newToken()
		for range 2 {
			if i%2 == 0 {
				_, r := ts.legacy(t, tok)
				results = append(results, r)
			} else {
				_, r := ts.exchange(t, Request{Token: tok})
				results = append(results, r)
			}
		}
	}
	for _, r := range results {
		if res := get(t, r); res.err != nil {
			t.Fatal(res.err)
		}
	}
	if st := ts.Stats(); st.Pairings != pairs || st.Waiting != 0 {
		t.Errorf("stats %+v, want %d pairings", st, pairs)
	}
}

// TestListen opens listeners on given and default addresses.
func TestListen(t *testing.T) {
	tests := []struct {
		name    string
		ips     []netip.Addr
		port    int
		want    int // listeners, at least
		wantErr bool
	}{
		{"loopback", []netip.Addr{netip.MustParseAddr("127.0.0.1")}, 0, 1, false},
		{"duplicate", []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::ffff:127.0.0.1")}, 0, 1, false},
		{"all", nil, 0, 1, false},
		{"bad-port", nil, 70000, 0, true},
		{"invalid-ip", []netip.Addr{{}}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lns, err := Listen(context.Background(), tt.ips, tt.port)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if len(lns) < tt.want || tt.name == "duplicate" && len(lns) != 1 {
				t.Errorf("%d listeners, want %d", len(lns), tt.want)
			}
			for _, ln := range lns {
				ln.Close()
			}
		})
	}
}
