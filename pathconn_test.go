package punch

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/relay"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/tunnel"
)

// TestPathConnMove runs a QUIC tunnel between two relay allocations,
// moves both sides to a direct path in the middle of a transfer, shuts the
// relay down, and checks that the transfer completes intact.
func TestPathConnMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo := netip.MustParseAddr("127.0.0.1")
	rpc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := relay.NewServer(rpc, &relay.ServerConfig{AllowPrivatePeers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var (
		rcs    [2]*relay.Conn
		paths  [2]*pathConn
		direct [2]*net.UDPConn
	)
	for i := range 2 {
		pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if rcs[i], err = relay.Allocate(ctx, pc, rs.Addr(), rs.Issuer().Issue("test"), nil); err != nil {
			t.Fatal(err)
		}
		defer rcs[i].Close()
		if direct[i], err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0))); err != nil {
			t.Fatal(err)
		}
		defer direct[i].Close()
	}
	for i := range 2 {
		paths[i] = newPathConn(rcs[i], rcs[1-i].RelayedAddr())
		defer paths[i].Close()
	}
	rcs[1].WriteTo([]byte{0}, net.UDPAddrFromAddrPort(rcs[0].RelayedAddr())) // permission
	key := secure.NewKey()
	accepted := make(chan *tunnel.Conn, 1)
	go func() {
		c, err := tunnel.Accept(ctx, paths[1], key, nil)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := tunnel.Dial(ctx, paths[0], rcs[1].RelayedAddr(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.FailNow()
	}
	defer server.Close()

	const size = 8 << 20
	data := make([]byte, size)
	rand.Read(data)
	st, err := client.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		st.Write(data[:size/2])
		// Move both sides to the direct path, then end the relay.
		for i := range 2 {
			paths[i].setDirect(direct[i], direct[1-i].LocalAddr().(*net.UDPAddr).AddrPort())
		}
		rs.Close()
		st.Write(data[size/2:])
		st.Close()
	}()
	rst, err := server.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), size)
	}
	if !paths[0].moved() || !paths[1].moved() {
		t.Error("not moved")
	}
}
