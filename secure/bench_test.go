package secure

import (
	"context"
	"io"
	"testing"
)

// BenchmarkHandshake measures a full handshake (HELLO, TLS 1.3, PAKE and
// key confirmation) over loopback TCP, both sides included; the TCP
// connection setup is outside the timer.
func BenchmarkHandshake(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		x, y := connPair(b, true)
		b.StartTimer()
		ra, rb := handshakeBoth(b, x, y, testKey, testKey, nil, nil)
		if ra.err != nil || rb.err != nil {
			b.Fatal(ra.err, rb.err)
		}
		b.StopTimer()
		ra.conn.Close()
		rb.conn.Close()
		b.StartTimer()
	}
}

// BenchmarkConfirm measures the PAKE and key confirmation alone, both
// sides, over an in-memory pipe.
func BenchmarkConfirm(b *testing.B) {
	b.ReportAllocs()
	exp := make([]byte, 32)
	for b.Loop() {
		x, y := connPair(b, false)
		done := make(chan error, 1)
		go func() { done <- Confirm(context.Background(), y, testKey, exp, false) }()
		if err := Confirm(context.Background(), x, testKey, exp, true); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughput pushes bulk data through a Conn on loopback TCP, in
// 64 KiB writes, to a reader that discards it.
func BenchmarkThroughput(b *testing.B) {
	x, y := connPair(b, true)
	ra, rb := handshakeBoth(b, x, y, testKey, testKey, nil, nil)
	if ra.err != nil || rb.err != nil {
		b.Fatal(ra.err, rb.err)
	}
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, rb.conn)
		done <- n
	}()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ra.conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	ra.conn.CloseWrite()
	<-done
}
