package bench

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/punchkit/punch/stunserver"
)

// TestSTUN loads a STUN server on loopback and checks that the counts add
// up.
func TestSTUN(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := stunserver.New(nil)
	defer srv.Close()
	go srv.ServeUDP(context.Background(), stunserver.UDPSocket{Conn: pc})
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	r, err := STUN(context.Background(), addr, &STUNConfig{Duration: 300 * time.Millisecond, Conns: 2, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Answered == 0 || r.Answered > r.Sent || r.PerSecond() <= 0 {
		t.Errorf("implausible result: %+v", r)
	}
	// Nothing listens here: an error, not a hang.
	dead := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9)
	if _, err := STUN(context.Background(), dead, &STUNConfig{Duration: 200 * time.Millisecond, Conns: 1}); err == nil {
		t.Error("a dead server gave no error")
	}
}
