package secure

import (
	"context"
	"io"
	"net"
	"testing"
)

// transports are the two kinds of stream every handshake test runs over:
// an unbuffered in-memory pipe and loopback TCP.
var transports = []struct {
	name string
	tcp  bool
}{{"pipe", false}, {"tcp", true}}

// connPair returns the two ends of a stream: net.Pipe, or a loopback TCP
// connection when tcp is set. Both are closed at cleanup.
func connPair(tb testing.TB, tcp bool) (a, b net.Conn) {
	tb.Helper()
	if !tcp {
		a, b = net.Pipe()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		a, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		b = <-accepted
		if b == nil {
			tb.Fatal("accept failed")
		}
	}
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// result is what one side of a handshake returned.
type result struct {
	conn *Conn
	err  error
}

// handshakeBoth runs Handshake on both ends at once, a as initiator and b
// as responder unless the configs say otherwise, and returns both results.
func handshakeBoth(tb testing.TB, a, b net.Conn, keyA, keyB string, cfgA, cfgB *Config) (ra, rb result) {
	tb.Helper()
	if cfgA == nil {
		cfgA = &Config{Initiator: true}
	}
	ctx := context.Background()
	done := make(chan result, 1)
	go func() {
		c, err := Handshake(ctx, b, keyB, cfgB)
		done <- result{c, err}
	}()
	c, err := Handshake(ctx, a, keyA, cfgA)
	ra = result{c, err}
	rb = <-done
	for _, r := range []result{ra, rb} {
		if r.conn != nil {
			tb.Cleanup(func() { r.conn.Close() })
		}
	}
	return ra, rb
}

// drain reads and discards everything from c until it fails, so that
// writes to the other end of a pipe never block.
func drain(c net.Conn) { io.Copy(io.Discard, c) }
