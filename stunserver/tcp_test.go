package stunserver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// serveTCPTest serves a TCP listener on ip and returns its address.
func serveTCPTest(tb testing.TB, s *Server, ip string) netip.AddrPort {
	tb.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		tb.Skipf("cannot listen on %s: %v", ip, err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	serve(tb, func(ctx context.Context) error { return s.ServeTCP(ctx, ln) })
	return addr
}

func dialTCP(tb testing.TB, addr netip.AddrPort) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		tb.Fatalf("dial %v: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// readTCPMessage reads one framed STUN message.
func readTCPMessage(tb testing.TB, c net.Conn) []byte {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, headerSize)
	if _, err := io.ReadFull(c, b); err != nil {
		tb.Fatalf("read header: %v", err)
	}
	b = append(b, make([]byte, binary.BigEndian.Uint16(b[2:4]))...)
	if _, err := io.ReadFull(c, b[headerSize:]); err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return b
}

// wantClosed checks that the server closes c within d.
func wantClosed(tb testing.TB, c net.Conn, d time.Duration) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 100))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("connection still open after %v", d)
	}
	if err == nil {
		tb.Fatalf("got %d bytes, want the connection closed", n)
	}
}

// wantTCPSuccess checks a success response over TCP.
func wantTCPSuccess(tb testing.TB, raw []byte, req *stun.Message, client, server netip.AddrPort) {
	tb.Helper()
	resp := decodeResponse(tb, raw)
	wantSuccess(tb, resp, req)
	wantAddr(tb, resp, stun.AttrXORMappedAddress, client)
	wantAddr(tb, resp, stun.AttrMappedAddress, client)
	wantAddr(tb, resp, stun.AttrResponseOrigin, server)
	wantAddr(tb, resp, stun.AttrOtherAddress, netip.AddrPort{})
}

func TestTCP(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "[::1]"} {
		t.Run(ip, func(t *testing.T) {
			s := newTestServer(t, nil)
			server := serveTCPTest(t, s, ip)

			t.Run("one-request", func(t *testing.T) {
				c := dialTCP(t, server)
				req := newRequest(t)
				c.Write(req.Raw)
				wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), server)
			})
			t.Run("two-requests-one-write", func(t *testing.T) {
				c := dialTCP(t, server)
				r1, r2 := newRequest(t), newRequest(t, stun.NewSoftware("second"))
				c.Write(append(append([]byte(nil), r1.Raw...), r2.Raw...))
				wantTCPSuccess(t, readTCPMessage(t, c), r1, localAddr(t, c), server)
				wantTCPSuccess(t, readTCPMessage(t, c), r2, localAddr(t, c), server)
			})
			t.Run("request-split-over-writes", func(t *testing.T) {
				c := dialTCP(t, server)
				c.SetNoDelay(true)
				req := newRequest(t)
				for _, cut := range [][2]int{{0, 1}, {1, 19}, {19, 21}, {21, len(req.Raw)}} {
					c.Write(req.Raw[cut[0]:cut[1]])
					time.Sleep(20 * time.Millisecond)
				}
				wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), server)
			})
			t.Run("one-and-a-half", func(t *testing.T) {
				c := dialTCP(t, server)
				c.SetNoDelay(true)
				r1, r2 := newRequest(t), newRequest(t)
				both := append(append([]byte(nil), r1.Raw...), r2.Raw...)
				c.Write(both[:len(r1.Raw)+7])
				wantTCPSuccess(t, readTCPMessage(t, c), r1, localAddr(t, c), server)
				c.Write(both[len(r1.Raw)+7:])
				wantTCPSuccess(t, readTCPMessage(t, c), r2, localAddr(t, c), server)
			})
			t.Run("change-request-420", func(t *testing.T) {
				c := dialTCP(t, server)
				req := newRequest(t, changeRequest(changeIP|changePort))
				c.Write(req.Raw)
				wantUnknown(t, decodeResponse(t, readTCPMessage(t, c)), stun.AttrChangeRequest)
				// the connection stays usable
				req = newRequest(t, changeRequest(0))
				c.Write(req.Raw)
				wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), server)
			})
			t.Run("indication-ignored", func(t *testing.T) {
				c := dialTCP(t, server)
				ind := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication), stun.Fingerprint)
				req := newRequest(t)
				c.Write(append(append([]byte(nil), ind.Raw...), req.Raw...))
				wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), server)
			})
			t.Run("classic", func(t *testing.T) {
				c := dialTCP(t, server)
				tid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
				c.Write(classicRequest(tid))
				raw := readTCPMessage(t, c)
				if string(raw[4:20]) != string(tid[:]) {
					t.Errorf("transaction ID %x, want %x", raw[4:20], tid)
				}
				resp := decodeResponse(t, raw)
				wantAddr(t, resp, stun.AttrMappedAddress, localAddr(t, c))
				wantAddr(t, resp, stun.AttrSourceAddress, server)
			})
		})
	}
}

// TestTCPBadMessageClosesConn checks that garbage closes its connection,
// and only it.
func TestTCPBadMessageClosesConn(t *testing.T) {
	s := newTestServer(t, nil)
	server := serveTCPTest(t, s, "127.0.0.1")
	bystander := dialTCP(t, server)
	for _, tt := range garbage(t) {
		if len(tt.pkt) == 0 || tt.name == "binding-indication" || tt.name == "truncated" || tt.name == "trailing-bytes" ||
			tt.name == "short-header" || tt.name == "one-byte" || tt.name == "header-only-truncated" {
			// incomplete messages wait for more bytes (and a request with
			// more after it is answered); indications are fine
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			c := dialTCP(t, server)
			c.Write(tt.pkt)
			wantClosed(t, c, 3*time.Second)
		})
	}
	req := newRequest(t)
	bystander.Write(req.Raw)
	wantTCPSuccess(t, readTCPMessage(t, bystander), req, localAddr(t, bystander), server)
}

// TestTCPSlowClient checks that idle and trickling clients are dropped
// after TCPIdleTimeout, while a steady one is served.
func TestTCPSlowClient(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := newTestServer(t, &Config{TCPIdleTimeout: timeout})
	server := serveTCPTest(t, s, "127.0.0.1")

	t.Run("idle", func(t *testing.T) {
		c := dialTCP(t, server)
		start := time.Now()
		wantClosed(t, c, 10*timeout)
		if d := time.Since(start); d < timeout/2 {
			t.Errorf("closed after %v, before the timeout %v", d, timeout)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		c := dialTCP(t, server)
		c.SetNoDelay(true)
		req := newRequest(t)
		// a byte every timeout/4: each read is quick, the message is not
		for i := range 8 {
			if _, err := c.Write(req.Raw[i : i+1]); err != nil {
				return // closed already: fine
			}
			time.Sleep(timeout / 4)
		}
		wantClosed(t, c, 10*timeout)
	})
	t.Run("steady", func(t *testing.T) {
		c := dialTCP(t, server)
		for range 4 {
			time.Sleep(timeout / 2)
			req := newRequest(t)
			c.Write(req.Raw)
			wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), server)
		}
	})
}

// TestTCPLimits checks MaxMessageSize and MaxTCPConns.
func TestTCPLimits(t *testing.T) {
	s := newTestServer(t, &Config{MaxTCPConns: 1, MaxMessageSize: 600})
	server := serveTCPTest(t, s, "127.0.0.1")
	first := dialTCP(t, server)
	req := newRequest(t)
	first.Write(req.Raw) // served: the connection is surely counted now
	wantTCPSuccess(t, readTCPMessage(t, first), req, localAddr(t, first), server)

	second := dialTCP(t, server)
	wantClosed(t, second, 3*time.Second)

	big := newRequest(t, rawAttr{stun.AttrUsername, make([]byte, 600)})
	first.Write(big.Raw)
	wantClosed(t, first, 3*time.Second)
}
