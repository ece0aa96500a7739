package core

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun/tuntest"
)

func TestParseSettings(t *testing.T) {
	good := []struct {
		key, value string
		want       Params
	}{
		{"delay", "20ms", Params{Delay: 20 * time.Millisecond}},
		{"jitter", "0", Params{}},
		{"loss", "1%", Params{Loss: 0.01}},
		{"dup", "0.005", Params{Dup: 0.005}},
		{"reorder", "2.5%", Params{Reorder: 0.025}},
		{"rate", "100mbit", Params{Rate: 100e6}},
		{"rate", "1.5Gbit", Params{Rate: 1.5e9}},
		{"rate", "10mbps", Params{Rate: 80e6}},
		{"rate", "0", Params{}},
	}
	for _, tc := range good {
		var p Params
		if err := p.Set(tc.key, tc.value); err != nil || p != tc.want {
			t.Errorf("Set(%s, %s) = %+v, %v; want %+v", tc.key, tc.value, p, err, tc.want)
		}
	}
	for _, kv := range [][2]string{{"delay", "-1ms"}, {"delay", "2h"}, {"loss", "101%"}, {"loss", "x"}, {"rate", "fast"}, {"rate", "1bit"}, {"colour", "1"}} {
		var p Params
		if err := p.Set(kv[0], kv[1]); err == nil {
			t.Errorf("Set(%s, %s) accepted", kv[0], kv[1])
		}
	}
	p := Params{Delay: 20 * time.Millisecond, Loss: 0.01, Rate: 100e6}
	var q Params
	for _, kv := range []string{"delay=20ms", "loss=1%", "rate=100mbit"} {
		if got := p.String(); !contains(got, kv) {
			t.Errorf("String() = %q, missing %q", got, kv)
		}
		k, v, _ := cut(kv)
		q.Set(k, v)
	}
	if q != p {
		t.Errorf("String does not round-trip: %+v", q)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func cut(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func udp4(ttl byte) []byte {
	p := make([]byte, 28)
	p[0], p[8], p[9] = 0x45, ttl, 17
	binary.BigEndian.PutUint16(p[2:4], 28)
	copy(p[12:16], []byte{10, 0, 0, 1})
	copy(p[16:20], []byte{198, 51, 100, 2})
	binary.BigEndian.PutUint16(p[10:12], checksum(p[:20], 0))
	return p
}

func TestForwardTTL(t *testing.T) {
	for ttl := 2; ttl < 256; ttl++ {
		p := udp4(byte(ttl))
		if !forwardTTL(p) || p[8] != byte(ttl-1) {
			t.Fatalf("TTL %d: not forwarded or not decremented", ttl)
		}
		if checksum(p[:20], 0) != 0 {
			t.Fatalf("TTL %d: header checksum wrong after the decrement", ttl)
		}
	}
	if forwardTTL(udp4(1)) {
		t.Error("a packet with TTL 1 was forwarded")
	}
	v6 := make([]byte, 48)
	v6[0], v6[6], v6[7] = 0x60, 17, 1
	if forwardTTL(v6) {
		t.Error("an IPv6 packet with hop limit 1 was forwarded")
	}
}

func TestTimeExceeded(t *testing.T) {
	from := netip.MustParseAddr("203.0.113.9")
	r := timeExceeded(udp4(1), from)
	if r == nil || r[20] != 11 || checksum(r[:20], 0) != 0 || checksum(r[20:], 0) != 0 {
		t.Fatalf("ICMP time exceeded malformed: % x", r)
	}
	if src(r) != from || netip.AddrFrom4([4]byte(r[16:20])) != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("ICMP addresses wrong: % x", r[12:20])
	}
	if timeExceeded(r, from) != nil {
		t.Error("an ICMP error was answered with an ICMP error")
	}
	v6 := make([]byte, 48)
	v6[0], v6[6], v6[7] = 0x60, 17, 1
	copy(v6[8:24], netip.MustParseAddr("fd00::2").AsSlice())
	copy(v6[24:40], netip.MustParseAddr("2001:db8::2").AsSlice())
	from6 := netip.MustParseAddr("2001:db8:0:1::1")
	r6 := timeExceeded(v6, from6)
	if r6 == nil || r6[40] != 3 || checksum(r6[40:], pseudoHeader6(r6[8:24], r6[24:40], len(r6)-40, 58)) != 0 {
		t.Fatalf("ICMPv6 time exceeded malformed: % x", r6)
	}
	if timeExceeded(r6, from6) != nil {
		t.Error("an ICMPv6 error was answered")
	}
}

func TestEchoReply(t *testing.T) {
	req := tuntest.Ping(netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("10.0.0.1"))
	r := echoReply(req)
	if r == nil || r[20] != 0 || checksum(r[:20], 0) != 0 || checksum(r[20:], 0) != 0 || src(r) != netip.MustParseAddr("203.0.113.9") {
		t.Fatalf("echo reply malformed: % x", r)
	}
	if echoReply(udp4(5)) != nil {
		t.Error("a UDP packet got an echo reply")
	}
}

// twoLinks builds a router between two in-memory devices.
func twoLinks(tb testing.TB, a, b Params) (*Router, *tuntest.ChannelTUN, *tuntest.ChannelTUN) {
	tb.Helper()
	ta, tb2 := tuntest.NewChannelTUN(), tuntest.NewChannelTUN()
	r, err := New(nil,
		Link{Name: "a", Dev: ta.TUN(), Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, Addr4: netip.MustParseAddr("10.0.0.254"), Up: a, Down: a},
		Link{Name: "b", Dev: tb2.TUN(), Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, Addr4: netip.MustParseAddr("198.51.100.254"), Up: b, Down: b},
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r, ta, tb2
}

func TestRouterForwards(t *testing.T) {
	delay := 10 * time.Millisecond
	r, a, b := twoLinks(t, Params{Delay: delay}, Params{Delay: delay})
	start := time.Now()
	a.Outbound <- udp4(64)
	select {
	case p := <-b.Inbound:
		if took := time.Since(start); took < 2*delay {
			t.Errorf("delivered after %v, before the two links' %v", took, 2*delay)
		}
		if p[8] != 63 || checksum(p[:20], 0) != 0 {
			t.Errorf("forwarded packet: TTL %d, header checksum ok %v", p[8], checksum(p[:20], 0) == 0)
		}
	case <-time.After(time.Second):
		t.Fatal("packet not forwarded")
	}
	// A packet that expires here comes back as ICMP from the router's
	// address on the incoming link.
	a.Outbound <- udp4(1)
	select {
	case p := <-a.Inbound:
		if p[9] != 1 || p[20] != 11 || src(p) != netip.MustParseAddr("10.0.0.254") {
			t.Errorf("want ICMP time exceeded from 10.0.0.254, got % x", p[:24])
		}
	case <-time.After(time.Second):
		t.Fatal("no ICMP time exceeded")
	}
	st, err := r.State("a")
	if err != nil || st.UpStats.Packets != 1 || st.DownStats.Packets != 1 {
		t.Errorf("link a: %+v, %v", st, err)
	}
}

func TestRouterLossAndBlackhole(t *testing.T) {
	r, a, b := twoLinks(t, Params{}, Params{})
	if err := r.SetParams("a", &Params{Loss: 1}, nil); err != nil {
		t.Fatal(err)
	}
	a.Outbound <- udp4(64)
	select {
	case <-b.Inbound:
		t.Fatal("a packet passed a link with 100% loss")
	case <-time.After(50 * time.Millisecond):
	}
	r.SetParams("a", &Params{}, nil)
	r.Blackhole("b", 100*time.Millisecond)
	a.Outbound <- udp4(64)
	select {
	case <-b.Inbound:
		t.Fatal("a packet reached a blackholed link")
	case <-time.After(50 * time.Millisecond):
	}
	time.Sleep(100 * time.Millisecond)
	a.Outbound <- udp4(64)
	select {
	case <-b.Inbound:
	case <-time.After(time.Second):
		t.Fatal("the link did not recover from the blackhole")
	}
	if err := r.SetParams("nosuch", nil, nil); err == nil {
		t.Error("SetParams on a missing link succeeded")
	}
}
