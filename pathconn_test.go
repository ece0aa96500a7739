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

// TestPathConnMove runs a QUIC tunnel between two relayed sockets,
// through TURN allocations and through the pair relay, moves both sides to
// a direct path in the middle of a transfer, shuts the relay down, and
// checks that the transfer completes intact.
func TestPathConnMove(t *testing.T) {
	for _, kind := range []string{"turn", "pair"} {
		t.Run(kind, func(t *testing.T) { testPathConnMove(t, kind == "pair") })
	}
}

func testPathConnMove(t *testing.T, pair bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo := netip.MustParseAddr("127.0.0.1")
	rpc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		closeRelay func() error
		paths      [2]*pathConn
		conns      [2]net.PacketConn
		direct     [2]*net.UDPConn
		peers      [2]netip.AddrPort // where each side sees the other
	)
	var socks [2]*net.UDPConn
	for i := range 2 {
		if socks[i], err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0))); err != nil {
			t.Fatal(err)
		}
		defer socks[i].Close()
		if direct[i], err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0))); err != nil {
			t.Fatal(err)
		}
		defer direct[i].Close()
	}
	if pair {
		ps, err := relay.NewPairServer(rpc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ps.Close()
		closeRelay = ps.Close
		creds := ps.Issuer().Issue("test")
		joined := make(chan error, 1)
		go func() {
			joined <- relay.JoinPair(ctx, socks[0], relay.Pair{Relay: ps.Addr(), Credentials: creds, Side: 0}, true, nil)
		}()
		if err := relay.JoinPair(ctx, socks[1], relay.Pair{Relay: ps.Addr(), Credentials: creds, Side: 1}, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := <-joined; err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			peers[i] = ps.Addr()
			paths[i] = newPathConn(socks[i], peers[i])
		}
	} else {
		rs, err := relay.NewServer(rpc, &relay.ServerConfig{AllowPrivatePeers: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		closeRelay = rs.Close
		var rcs [2]*relay.Conn
		for i := range 2 {
			if rcs[i], err = relay.Allocate(ctx, socks[i], rs.Addr(), rs.Issuer().Issue("test"), nil); err != nil {
				t.Fatal(err)
			}
			defer rcs[i].Close()
		}
		for i := range 2 {
			peers[i] = rcs[1-i].RelayedAddr()
			paths[i] = newPathConn(rcs[i], peers[i])
		}
		rcs[1].WriteTo([]byte{0}, net.UDPAddrFromAddrPort(rcs[0].RelayedAddr())) // permission
	}
	for i := range 2 {
		defer paths[i].Close()
		conns[i] = paths[i].packetConn()
		if _, fast := conns[i].(*udpPathConn); fast != pair {
			t.Fatalf("packetConn is a %T over the pair relay's socket: %v", conns[i], pair)
		}
	}
	key := secure.NewKey()
	accepted := make(chan *tunnel.Conn, 1)
	go func() {
		c, err := tunnel.Accept(ctx, conns[1], key, nil)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := tunnel.Dial(ctx, conns[0], peers[0], key, nil)
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
		closeRelay()
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
