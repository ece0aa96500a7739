package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestReadWrite queues datagrams on a socket, reads them in one batch and
// sends them back in one, over IPv4, IPv6 and a dual-stack socket with
// IPv4 and IPv6 clients, batched and through a wrapper that hides the
// socket's type (one datagram per call).
func TestReadWrite(t *testing.T) {
	tests := []struct {
		name           string
		server, client string
		dial           string // the server's IP as the client reaches it
	}{
		{"ipv4", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6", "[::1]:0", "[::1]:0", "::1"},
		{"dual-stack-ipv4-client", "[::]:0", "127.0.0.1:0", "127.0.0.1"},
		{"dual-stack-ipv6-client", "[::]:0", "[::1]:0", "::1"},
	}
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/slow=%v", tt.name, slow), func(t *testing.T) {
				sock := listenUDP(t, tt.server)
				var pc net.PacketConn = sock
				if slow {
					pc = wrapped{sock}
				}
				c := New(pc)
				switch {
				case slow && c.Batched():
					t.Fatal("a wrapped socket is batched")
				case !slow && !c.Batched() && runtime.GOOS == "linux":
					t.Fatal("no batched I/O on Linux")
				}
				client := listenUDP(t, tt.client)
				me := client.LocalAddr().(*net.UDPAddr).AddrPort()
				server := netip.AddrPortFrom(netip.MustParseAddr(tt.dial), sock.LocalAddr().(*net.UDPAddr).AddrPort().Port())
				const n = 10
				for i := range n {
					if _, err := client.WriteToUDPAddrPort(bytes.Repeat([]byte{byte(i)}, i+1), server); err != nil {
						t.Fatal(err)
					}
				}
				b := c.NewBatch(8, 4)
				for i := 0; i < n; {
					got, err := c.Read(b)
					if err != nil || got == 0 {
						t.Fatalf("Read = %d, %v", got, err)
					}
					if !slow && c.Batched() && got != n {
						t.Fatalf("Read = %d datagrams, want the %d queued", got, n)
					}
					for k := range got {
						pkt, from := b.Datagram(k)
						want := bytes.Repeat([]byte{byte(i)}, i+1)
						if len(want) > 8 {
							want = want[:9] // cut to the buffer: maxSize+1
						}
						if !bytes.Equal(pkt, want) || from != me {
							t.Errorf("datagram %d = %x from %v, want %x from %v", i, pkt, from, want, me)
						}
						if b.Full() {
							t.Fatal("queue full before the batch was answered")
						}
						b.Queue(pkt, from)
						i++
					}
					if err := c.Flush(b, func(to netip.AddrPort, err error) { t.Errorf("send to %v: %v", to, err) }); err != nil {
						t.Fatal(err)
					}
				}

				buf := make([]byte, 100)
				client.SetReadDeadline(time.Now().Add(3 * time.Second))
				for i := range n {
					k, from, err := client.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("echo %d: %v", i, err)
					}
					from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
					want := bytes.Repeat([]byte{byte(i)}, min(i+1, 9))
					if !bytes.Equal(buf[:k], want) || from != server {
						t.Errorf("echo %d = %x from %v, want %x from %v", i, buf[:k], from, want, server)
					}
				}
			})
		}
	}
}

// TestFlushClosed checks that Flush stops with net.ErrClosed on a closed
// socket.
func TestFlushClosed(t *testing.T) {
	sock := listenUDP(t, "127.0.0.1:0")
	c := New(sock)
	b := c.NewBatch(16, 16)
	b.Queue([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9"))
	sock.Close()
	if err := c.Flush(b, nil); err == nil {
		t.Fatal("Flush on a closed socket succeeded")
	}
}

// wrapped hides a socket's type.
type wrapped struct{ net.PacketConn }

func listenUDP(tb testing.TB, addr string) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
