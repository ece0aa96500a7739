package relay

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// garbage returns datagrams a relay must survive: random bytes, STUN
// headers with lying lengths, truncated and bit-flipped Allocate
// requests, requests of every class and method, and ChannelData with
// wrong lengths and unbound channels.
func garbage(seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed))
	allocate := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransportUDP{}, stun.NewUsername("1:x"), stun.NewRealm("punch"), stun.NewNonce("n"),
		stun.NewShortTermIntegrity("p"), stun.Fingerprint).Raw
	var out [][]byte
	for range 200 {
		b := make([]byte, r.IntN(1600))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		out = append(out, b)
	}
	for n := range len(allocate) {
		out = append(out, allocate[:n])
		flipped := append([]byte(nil), allocate...)
		flipped[n] ^= 1 << r.IntN(8)
		out = append(out, flipped)
	}
	for _, l := range []uint16{0, 4, 100, 0xffff} {
		h := append([]byte(nil), allocate[:20]...)
		binary.BigEndian.PutUint16(h[2:], l)
		out = append(out, h)
	}
	for m := range 0x20 {
		for _, c := range []stun.MessageClass{stun.ClassRequest, stun.ClassIndication, stun.ClassSuccessResponse, stun.ClassErrorResponse} {
			out = append(out, stun.MustBuild(stun.TransactionID, stun.NewType(stun.Method(m), c), stun.Fingerprint).Raw)
		}
	}
	for _, ch := range []uint16{0x4000, 0x4fff, 0x7fff} {
		for _, l := range []uint16{0, 3, 1000, 0xffff} {
			b := make([]byte, 8)
			binary.BigEndian.PutUint16(b, ch)
			binary.BigEndian.PutUint16(b[2:], l)
			out = append(out, b)
		}
	}
	return out
}

// TestGarbage sends garbage to a relay, from a client with an allocation
// and from a stranger, and checks that the relay still relays and
// allocates afterwards.
func TestGarbage(t *testing.T) {
	s := newTestServer(t, "udp4", families[0].ip, nil)
	a := allocate(t, s, s.Issuer().Issue("a"))
	peer := listenUDP(t, "udp4", families[0].ip)
	permit(t, a, addrOf(peer))
	stranger := listenUDP(t, "udp4", families[0].ip)
	to := net.UDPAddrFromAddrPort(s.Addr())
	for _, b := range garbage(1) {
		for _, pc := range []net.PacketConn{a.pc, stranger} {
			if _, err := pc.WriteTo(b, to); err != nil {
				t.Fatal(err)
			}
		}
		// and to the relayed address, from the permitted peer
		peer.WriteTo(b, net.UDPAddrFromAddrPort(a.RelayedAddr()))
	}
	time.Sleep(100 * time.Millisecond)
	exchange(t, a, peer, addrOf(peer), a.RelayedAddr(), []byte("still relaying"))
	exchange(t, peer, a, a.RelayedAddr(), addrOf(peer), []byte("both ways"))
	allocate(t, s, s.Issuer().Issue("b"))
}

// FuzzServer feeds arbitrary datagrams to a relay; a crash fails it.
func FuzzServer(f *testing.F) {
	for _, b := range garbage(2)[200:] {
		f.Add(b)
	}
	s := newTestServer(f, "udp4", families[0].ip, nil)
	pc := listenUDP(f, "udp4", families[0].ip)
	to := net.UDPAddrFromAddrPort(s.Addr())
	f.Fuzz(func(t *testing.T, b []byte) {
		pc.WriteTo(b, to)
	})
}

// FuzzLookup checks the username parser: it accepts exactly the
// usernames of the form "<decimal expiry>:<id>" that Issue makes, and
// what it accepts round-trips through issue.
func FuzzLookup(f *testing.F) {
	iss := NewIssuer([]byte("fuzz"), 0)
	f.Add(iss.Issue("session").Username)
	f.Add("1700000000:")
	f.Add(":x")
	f.Add("+1:x")
	f.Add("99999999999999999999:x")
	f.Fuzz(func(t *testing.T, username string) {
		password, expires, ok := iss.lookup(username)
		ts, id, _ := strings.Cut(username, ":")
		if !ok {
			if _, err := strconv.ParseUint(ts, 10, 63); err == nil && strings.Contains(username, ":") && len(id) <= maxIDLen {
				t.Fatalf("lookup(%q) refused a well-formed username", username)
			}
			return
		}
		c := iss.issue(id, expires)
		canonical := strconv.FormatInt(expires.Unix(), 10) == ts
		if canonical && (c.Username != username || c.Password != password) {
			t.Fatalf("lookup(%q) = %q, %v; issue gives %+v", username, password, expires, c)
		}
	})
}
