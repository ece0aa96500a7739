package netaddr

import (
	"net"
	"net/netip"
	"testing"
)

type strAddr string

func (s strAddr) Network() string { return "x" }
func (s strAddr) String() string  { return string(s) }

func TestAddrPort(t *testing.T) {
	for _, tc := range []struct {
		in   net.Addr
		want string
		ok   bool
	}{
		{&net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 3478}, "192.0.2.1:3478", true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}, "192.0.2.1:1", true},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9}, "[2001:db8::1]:9", true},
		{strAddr("198.51.100.2:80"), "198.51.100.2:80", true},
		{strAddr("/tmp/sock"), "", false},
		{nil, "", false},
		{&net.UDPAddr{}, "", false},
	} {
		got, ok := AddrPort(tc.in)
		if ok != tc.ok || (ok && got != netip.MustParseAddrPort(tc.want)) {
			t.Errorf("AddrPort(%v) = %v, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
