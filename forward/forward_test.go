package forward

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (net.Conn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	b := <-ch
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func random(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestPipeExchange sends a file each way at once, as `punch tcp < a > b`
// on both sides does, and checks both arrive whole.
func TestPipeExchange(t *testing.T) {
	a, b := tcpPair(t)
	fileA, fileB := random(t, 3<<20), random(t, 2<<20+17)
	var outA, outB bytes.Buffer
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = Pipe(context.Background(), a, bytes.NewReader(fileA), &outA, Duplex)
	}()
	go func() {
		defer wg.Done()
		errs[1] = Pipe(context.Background(), b, bytes.NewReader(fileB), &outB, Duplex)
	}()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if sha256.Sum256(outB.Bytes()) != sha256.Sum256(fileA) || sha256.Sum256(outA.Bytes()) != sha256.Sum256(fileB) {
		t.Fatalf("files differ: sent %d and %d bytes, received %d and %d", len(fileA), len(fileB), outB.Len(), outA.Len())
	}
}

// TestPipeOneWay checks send-only and receive-only.
func TestPipeOneWay(t *testing.T) {
	a, b := tcpPair(t)
	file := random(t, 1<<20)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Pipe(context.Background(), b, bytes.NewReader([]byte("ignored")), &out, ReceiveOnly) }()
	if err := Pipe(context.Background(), a, bytes.NewReader(file), io.Discard, SendOnly); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), file) {
		t.Fatalf("received %d bytes, sent %d", out.Len(), len(file))
	}
}

// TestForwarding forwards many simultaneous connections over one yamux
// session to an echo service.
func TestForwarding(t *testing.T) {
	a, b := tcpPair(t)
	ma, err := Yamux(a, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Yamux(b, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Close()
	defer mb.Close()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, mb, echo.Addr().String(), nil)
	go Listen(ctx, ma, local, nil)

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", local.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := random(t, 100<<10+i)
			go func() { c.Write(msg); CloseWrite(c) }()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Error(fmt.Errorf("connection %d: %d of %d bytes back, %v", i, len(got), len(msg), err))
			}
		}()
	}
	wg.Wait()
	// When the session ends, Listen stops.
	ma.Close()
	select {
	case <-mb.Done():
	case <-time.After(5 * time.Second):
		t.Error("the peer did not see the session end")
	}
}
