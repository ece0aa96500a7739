package stunserver

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestListenConfigPlan(t *testing.T) {
	ip := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		lc   ListenConfig
		want []plannedGroup
	}{
		{"defaults", ListenConfig{}, []plannedGroup{
			{members: []member{{ap("0.0.0.0:3478"), RolePrimary}}},
			{members: []member{{ap("[::]:3478"), RolePrimary}}, optional: true},
		}},
		{"one-ip", ListenConfig{IPs: []netip.Addr{ip("192.0.2.1")}, Port: 5000}, []plannedGroup{
			{members: []member{{ap("192.0.2.1:5000"), RolePrimary}}},
		}},
		{"mapped-ip-unmapped", ListenConfig{IPs: []netip.Addr{ip("::ffff:192.0.2.1")}}, []plannedGroup{
			{members: []member{{ap("192.0.2.1:3478"), RolePrimary}}},
		}},
		{"rfc5780", ListenConfig{IPs: []netip.Addr{ip("192.0.2.1")}, AltIPs: []netip.Addr{ip("192.0.2.2")}}, []plannedGroup{
			{members: []member{
				{ap("192.0.2.1:3478"), RolePrimary}, {ap("192.0.2.1:3479"), RoleAltPort},
				{ap("192.0.2.2:3478"), RoleAltIP}, {ap("192.0.2.2:3479"), RoleAltIPPort},
			}},
		}},
		{"rfc5780-alt-port-dual-stack", ListenConfig{
			IPs:    []netip.Addr{ip("192.0.2.1"), ip("2001:db8::1")},
			AltIPs: []netip.Addr{ip("2001:db8::2")}, Port: 7000, AltPort: 8000,
		}, []plannedGroup{
			{members: []member{{ap("192.0.2.1:7000"), RolePrimary}}},
			{members: []member{
				{ap("[2001:db8::1]:7000"), RolePrimary}, {ap("[2001:db8::1]:8000"), RoleAltPort},
				{ap("[2001:db8::2]:7000"), RoleAltIP}, {ap("[2001:db8::2]:8000"), RoleAltIPPort},
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lc.plan()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListenConfigErrors(t *testing.T) {
	ip := netip.MustParseAddr
	v4, v4b := ip("192.0.2.1"), ip("192.0.2.2")
	tests := []struct {
		name string
		lc   ListenConfig
	}{
		{"port-negative", ListenConfig{Port: -1}},
		{"port-too-big", ListenConfig{Port: 65536}},
		{"alt-port-too-big", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{v4b}, Port: 65535}},
		{"alt-port-equals-port", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{v4b}, Port: 4000, AltPort: 4000}},
		{"invalid-ip", ListenConfig{IPs: []netip.Addr{{}}}},
		{"duplicate-ip", ListenConfig{IPs: []netip.Addr{v4, v4}}},
		{"alt-equals-ip", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{v4}}},
		{"alt-unspecified", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{ip("0.0.0.0")}}},
		{"alt-without-ip", ListenConfig{AltIPs: []netip.Addr{v4b}}},
		{"alt-other-family", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{ip("2001:db8::1")}}},
		{"alt-two-primaries", ListenConfig{IPs: []netip.Addr{v4, ip("192.0.2.3")}, AltIPs: []netip.Addr{v4b}}},
		{"two-alts", ListenConfig{IPs: []netip.Addr{v4}, AltIPs: []netip.Addr{v4b, ip("192.0.2.3")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Listen(context.Background(), &tt.lc); !errors.Is(err, ErrBadConfig) {
				t.Errorf("Listen = %v, want ErrBadConfig", err)
			}
		})
	}
	if err := New(nil).Serve(context.Background(), &Sockets{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Serve of no sockets = %v, want ErrBadConfig", err)
	}
}

// listenFree runs Listen with lc on random ports until they are free.
func listenFree(tb testing.TB, lc ListenConfig) (*Sockets, ListenConfig) {
	tb.Helper()
	for range 50 {
		lc.Port = 20000 + rand.IntN(40000)
		lc.AltPort = 0
		ss, err := Listen(context.Background(), &lc)
		if err == nil {
			return ss, lc
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			tb.Skipf("cannot listen: %v", err)
		}
	}
	tb.Fatal("no free port")
	return nil, lc
}

// TestListenAndServe opens an RFC 5780 server on 127.0.0.1 and 127.0.0.2
// with Listen, queries all four addresses over UDP and TCP, and checks that
// cancelling the context frees every port.
func TestListenAndServe(t *testing.T) {
	lc := ListenConfig{
		IPs:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		AltIPs: []netip.Addr{netip.MustParseAddr("127.0.0.2")},
	}
	ss, lc := listenFree(t, lc)
	if len(ss.UDP) != 1 || len(ss.UDP[0]) != 4 || len(ss.TCP) != 4 {
		t.Fatalf("Listen opened %d groups, %d TCP listeners; want 1 group of 4, 4 listeners", len(ss.UDP), len(ss.TCP))
	}
	var addrs [4]netip.AddrPort
	for _, sk := range ss.UDP[0] {
		addrs[sk.Role] = localAddr(t, sk.Conn)
	}
	s := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ss) }()

	client := listenUDP(t, "127.0.0.1:0")
	for r, a := range addrs {
		req := newRequest(t, changeRequest(changePort))
		raw, from := exchange(t, client, a, req.Raw)
		if want := addrs[Role(r)^RoleAltPort]; from != want {
			t.Errorf("response to %v came from %v, want %v", a, from, want)
		}
		resp := decodeResponse(t, raw)
		wantSuccess(t, resp, req)
		wantAddr(t, resp, stun.AttrOtherAddress, addrs[Role(r)^RoleAltIPPort])

		c := dialTCP(t, a)
		req = newRequest(t)
		c.Write(req.Raw)
		wantTCPSuccess(t, readTCPMessage(t, c), req, localAddr(t, c), a)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	ss2, err := Listen(context.Background(), &lc)
	if err != nil {
		t.Fatalf("ports not freed: %v", err)
	}
	ss2.Close()
}

// TestListenIPv6 serves ::1 alone, UDP only.
func TestListenIPv6(t *testing.T) {
	ss, _ := listenFree(t, ListenConfig{IPs: []netip.Addr{netip.IPv6Loopback()}, NoTCP: true})
	if len(ss.UDP) != 1 || len(ss.UDP[0]) != 1 || len(ss.TCP) != 0 {
		t.Fatalf("Listen opened %v", ss)
	}
	server := localAddr(t, ss.UDP[0][0].Conn)
	s := newTestServer(t, nil)
	serve(t, func(ctx context.Context) error { return s.Serve(ctx, ss) })
	client := listenUDP(t, "[::1]:0")
	req := newRequest(t)
	raw, _ := exchange(t, client, server, req.Raw)
	resp := decodeResponse(t, raw)
	wantSuccess(t, resp, req)
	wantAddr(t, resp, stun.AttrXORMappedAddress, localAddr(t, client))
	wantAddr(t, resp, stun.AttrResponseOrigin, server)
}

// TestCloseStopsGoroutines checks that Close stops every goroutine the
// server started, with UDP groups, TCP listeners and open connections
// being served.
func TestCloseStopsGoroutines(t *testing.T) {
	s := New(&Config{TCPIdleTimeout: time.Minute})
	g := openGrid(t, "127.0.0.1", "127.0.0.2")
	socks := make([]UDPSocket, 4)
	for r, c := range g {
		socks[r] = UDPSocket{Conn: c, Role: Role(r)}
	}
	ss, _ := listenFree(t, ListenConfig{IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	tcpAddr := localAddr(t, ss.UDP[0][0].Conn)

	ctx := context.Background()
	done := make(chan error, 2)
	go func() { done <- s.ServeUDP(ctx, socks...) }()
	go func() { done <- s.Serve(ctx, ss) }()

	// an open TCP connection, served once, then idle
	c := dialTCP(t, tcpAddr)
	req := newRequest(t)
	c.Write(req.Raw)
	readTCPMessage(t, c)
	client := listenUDP(t, "127.0.0.1:0")
	exchange(t, client, localAddr(t, g[0]), newRequest(t).Raw)

	if stacks := allStacks(); !strings.Contains(stacks, "stunserver.(*Server)") {
		t.Fatalf("no server goroutine found while serving: the check below cannot work:\n%s", stacks)
	}
	s.Close()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("serve = %v, want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not return after Close")
		}
	}
	wantClosed(t, c, 3*time.Second)

	deadline := time.Now().Add(3 * time.Second)
	for {
		stacks := allStacks()
		if !strings.Contains(stacks, "stunserver.(*Server)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allStacks returns the stacks of all goroutines.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
