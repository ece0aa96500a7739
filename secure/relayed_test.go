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

// relayedBoth runs a relayed handshake between a (initiator) and b
// (responder) with keys keyA and keyB, passing the flights directly, with
// the initiator's answer fed before (feedFirst) or after the connections
// are attached, and returns both results.
func relayedBoth(t *testing.T, a, b net.Conn, keyA, keyB string, feedFirst bool) (ra, rb result, ini, res *Relayed) {
	t.Helper()
	ctx := context.Background()
	ini, err := Initiate(keyA, nil)
	if err != nil {
		t.Fatal(err)
	}
	flight, err := ini.Flight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err = Respond(keyB, flight, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := res.Flight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flights: initiator %d bytes, responder %d bytes", len(flight), len(answer))
	if feedFirst {
		ini.Feed(answer)
	}
	ini.Attach(a)
	res.Attach(b)
	if !feedFirst {
		time.Sleep(10 * time.Millisecond) // the initiator waits for the answer, not reading a
		ini.Feed(answer)
	}
	done := make(chan result, 1)
	go func() {
		c, err := res.Wait(ctx)
		done <- result{c, err}
	}()
	c, err := ini.Wait(ctx)
	ra, rb = result{c, err}, <-done
	for _, r := range []result{ra, rb} {
		if r.conn != nil {
			t.Cleanup(func() { r.conn.Close() })
		}
	}
	return ra, rb, ini, res
}

// TestRelayed runs the relayed handshake and then moves data both ways
// with half-closes; the key exchange is X25519, and the initiator's first
// flight is small enough to travel, in base64, in a rendezvous request
// that TCP Fast Open carries in its SYN (about 1,400 bytes).
func TestRelayed(t *testing.T) {
	ini, err := Initiate(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	flight, err := ini.Flight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ini.Abort(nil)
	if len(flight) > 512 {
		t.Errorf("the initiator's flight is %d bytes, over 512", len(flight))
	}
	for _, feedFirst := range []bool{true, false} {
		name := map[bool]string{true: "answer-first", false: "connection-first"}[feedFirst]
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b := connPair(t, true)
			ra, rb, hi, hr := relayedBoth(t, a, b, testKey, testKey, feedFirst)
			if ra.err != nil || rb.err != nil {
				t.Fatalf("initiator: %v, responder: %v", ra.err, rb.err)
			}
			ini, res := ra.conn, rb.conn
			if !ini.Initiator() || res.Initiator() {
				t.Errorf("Initiator() = %v, %v", ini.Initiator(), res.Initiator())
			}
			for _, c := range []*Conn{ini, res} {
				cs := c.ConnectionState()
				if cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != NextProto || cs.CurveID != tls.X25519 {
					t.Errorf("TLS version %x, ALPN %q, key exchange %v", cs.Version, cs.NegotiatedProtocol, cs.CurveID)
				}
			}
			if ini.RemoteAddr().String() != a.RemoteAddr().String() {
				t.Errorf("RemoteAddr %v, want %v", ini.RemoteAddr(), a.RemoteAddr())
			}
			// Abort after success leaves the connections alone.
			hi.Abort(errors.New("too late"))
			hr.Abort(errors.New("too late"))
			exchange(t, ini, res, 1<<20)
		})
	}
}

// exchange sends n random bytes each way at once between x and y, each
// side half-closing after its data, and checks both arrive intact.
func exchange(t *testing.T, x, y *Conn, n int) {
	t.Helper()
	send := func(c *Conn, data []byte, errc chan<- error) {
		if _, err := c.Write(data); err != nil {
			errc <- err
			return
		}
		errc <- c.CloseWrite()
	}
	dx, dy := make([]byte, n), make([]byte, n)
	rand.Read(dx)
	rand.Read(dy)
	errc := make(chan error, 2)
	go send(x, dx, errc)
	go send(y, dy, errc)
	for _, tc := range []struct {
		c    *Conn
		want []byte
	}{{y, dx}, {x, dy}} {
		got, err := io.ReadAll(tc.c)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("read %d bytes (%v), want %d intact", len(got), err, len(tc.want))
		}
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelayedWrongKey checks that peers with different keys both fail with
// ErrAuth, before any data.
func TestRelayedWrongKey(t *testing.T) {
	leakcheck.Check(t)
	a, b := connPair(t, true)
	ra, rb, _, _ := relayedBoth(t, a, b, testKey, "another key", true)
	if !errors.Is(ra.err, ErrAuth) || !errors.Is(rb.err, ErrAuth) {
		t.Fatalf("initiator: %v, responder: %v; want ErrAuth on both", ra.err, rb.err)
	}
}

// TestRelayedTampered checks that an answer changed on its way (by the
// server that relays it) fails the handshake on both sides, whichever byte
// is changed, without a hang.
func TestRelayedTampered(t *testing.T) {
	leakcheck.Check(t)
	ctx := context.Background()
	ini0, _ := Initiate(testKey, nil)
	flight, err := ini0.Flight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ini0.Abort(nil)
	for _, at := range []int{0, 4, 10, 80, 150, 400, -1} {
		ini, _ := Initiate(testKey, &Config{Timeout: 3 * time.Second})
		flight, _ := ini.Flight(ctx)
		res, _ := Respond(testKey, flight, &Config{Timeout: 3 * time.Second})
		answer, err := res.Flight(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if at < 0 {
			at = len(answer) - 1
		}
		answer = bytes.Clone(answer)
		answer[at] ^= 0x40
		a, b := connPair(t, true)
		ini.Feed(answer)
		ini.Attach(a)
		res.Attach(b)
		if _, err := ini.Wait(ctx); err == nil {
			t.Errorf("byte %d changed: the initiator's handshake succeeded", at)
		}
		if _, err := res.Wait(ctx); err == nil {
			t.Errorf("byte %d changed: the responder's handshake succeeded", at)
		}
	}
	// A flight that is not one fails Respond's Flight at once.
	bad := bytes.Clone(flight)
	bad[2] = 0x7f
	res, _ := Respond(testKey, bad, nil)
	if _, err := res.Flight(ctx); !errors.Is(err, ErrProtocol) {
		t.Errorf("bad flight: %v, want ErrProtocol", err)
	}
}

// TestRelayedAbort checks that Abort and ctx end a handshake that waits,
// closing the attached connection, and that an answer that never comes
// ends in ErrTimeout.
func TestRelayedAbort(t *testing.T) {
	leakcheck.Check(t)
	ctx := context.Background()
	ini, _ := Initiate(testKey, nil)
	if _, err := ini.Flight(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := connPair(t, true)
	ini.Attach(a)
	reason := errors.New("the peer left")
	ini.Abort(reason)
	if _, err := ini.Wait(ctx); !errors.Is(err, reason) {
		t.Errorf("after Abort: %v, want %v", err, reason)
	}
	b.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the attached connection is not closed: read %v", err)
	}

	ini, _ = Initiate(testKey, nil)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ini.Wait(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}

	ini, _ = Initiate(testKey, &Config{Timeout: 200 * time.Millisecond})
	if _, err := ini.Wait(ctx); !errors.Is(err, ErrTimeout) {
		t.Errorf("no answer: %v, want ErrTimeout", err)
	}
}
