package relay

import (
	"context"
	"errors"
	"github.com/punchkit/punch/internal/sockbuf"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/leakcheck"
)

// TestRefused checks that forged, expired, foreign and malformed
// credentials are refused with ErrBadCredentials, and that nothing is
// allocated for them.
func TestRefused(t *testing.T) {
	leakcheck.Check(t)
	s := newTestServer(t, "udp4", families[0].ip, nil)
	iss := s.Issuer()
	good := iss.Issue("x")
	for _, tt := range []struct {
		name string
		cred Credentials
	}{
		{"forged", Credentials{Username: good.Username, Password: good.Password[:10] + "AAAA" + good.Password[14:]}},
		{"expired", iss.issue("x", time.Now().Add(-2*time.Second))},
		{"other-secret", NewIssuer(nil, 0).Issue("x")},
		{"other-id", Credentials{Username: good.Username + "y", Password: good.Password}},
		{"malformed", Credentials{Username: "alice", Password: "secret"}},
		{"empty", Credentials{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryAllocate(t, s, tt.cred)
			if !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("allocate: %v, want ErrBadCredentials", err)
			}
		})
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("%d allocations after refusals", n)
	}
}

// TestWrongRealm signs an Allocate request with the right password but
// another realm, by hand (a TURN client takes the realm from the relay),
// and checks that the relay refuses it with error 401 while the same
// request in its own realm succeeds.
func TestWrongRealm(t *testing.T) {
	s := newTestServer(t, "udp4", families[0].ip, &ServerConfig{Realm: "punch.example", AllowPrivatePeers: true})
	cred := s.Issuer().Issue("x")
	for _, tt := range []struct {
		realm string
		want  stun.MessageClass
	}{
		{"other.example", stun.ClassErrorResponse},
		{"punch.example", stun.ClassSuccessResponse},
	} {
		t.Run(tt.realm, func(t *testing.T) {
			pc := listenUDP(t, "udp4", families[0].ip)
			res := rawAllocate(t, pc, s.Addr(), cred, tt.realm)
			if res.Type.Class != tt.want {
				t.Fatalf("answer %v, want class %v", res, tt.want)
			}
			if tt.want == stun.ClassErrorResponse {
				var code stun.ErrorCodeAttribute
				if err := code.GetFrom(res); err != nil || code.Code != stun.CodeUnauthorized {
					t.Errorf("error %v (%v), want 401", code, err)
				}
			}
		})
	}
}

// requestedTransportUDP is the REQUESTED-TRANSPORT attribute for UDP.
type requestedTransportUDP struct{}

func (requestedTransportUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

// rawAllocate sends an unauthenticated Allocate request to get a nonce,
// then one signed with cred in realm, and returns the answer.
func rawAllocate(tb testing.TB, pc net.PacketConn, server netip.AddrPort, cred Credentials, realm string) *stun.Message {
	tb.Helper()
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	first := roundTrip(tb, pc, server, stun.MustBuild(stun.TransactionID, allocate, requestedTransportUDP{}, stun.Fingerprint))
	var nonce stun.Nonce
	if err := nonce.GetFrom(first); err != nil {
		tb.Fatalf("no NONCE in %v: %v", first, err)
	}
	return roundTrip(tb, pc, server, stun.MustBuild(stun.TransactionID, allocate, requestedTransportUDP{},
		stun.NewUsername(cred.Username), stun.NewRealm(realm), nonce,
		stun.NewLongTermIntegrity(cred.Username, realm, cred.Password), stun.Fingerprint))
}

// roundTrip sends req to server and returns the answer.
func roundTrip(tb testing.TB, pc net.PacketConn, server netip.AddrPort, req *stun.Message) *stun.Message {
	tb.Helper()
	if _, err := pc.WriteTo(req.Raw, net.UDPAddrFromAddrPort(server)); err != nil {
		tb.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			tb.Fatalf("no answer to %v: %v", req, err)
		}
		res := new(stun.Message)
		if err := stun.Decode(buf[:n], res); err == nil && res.TransactionID == req.TransactionID {
			return res
		}
	}
}

// TestQuota checks the per-username cap (error 486, ErrQuota) and the
// total cap (error 508, ErrAllocationRefused), and that closing an
// allocation frees its place.
func TestQuota(t *testing.T) {
	leakcheck.Check(t)
	s := newTestServer(t, "udp4", families[0].ip, &ServerConfig{MaxAllocations: 6, AllowPrivatePeers: true})
	cred := s.Issuer().Issue("x")
	var conns []*Conn
	for range DefaultMaxAllocationsPerUser {
		conns = append(conns, allocate(t, s, cred))
	}
	if _, err := tryAllocate(t, s, cred); !errors.Is(err, ErrQuota) {
		t.Fatalf("allocation beyond the per-user quota: %v, want ErrQuota", err)
	}
	conns[0].Close()
	allocate(t, s, cred)

	other := s.Issuer().Issue("y")
	allocate(t, s, other)
	allocate(t, s, other)
	if n := s.Allocations(); n != 6 {
		t.Fatalf("%d allocations, want 6", n)
	}
	if _, err := tryAllocate(t, s, s.Issuer().Issue("z")); !errors.Is(err, ErrAllocationRefused) {
		t.Fatalf("allocation beyond the total: %v, want ErrAllocationRefused", err)
	}
}

// TestPortRange checks that relayed ports come from the configured range.
func TestPortRange(t *testing.T) {
	s := newTestServer(t, "udp4", families[0].ip, &ServerConfig{MinPort: 41000, MaxPort: 41009})
	for range 3 {
		c := allocate(t, s, s.Issuer().Issue("x"))
		if p := c.RelayedAddr().Port(); p < 41000 || p > 41009 {
			t.Errorf("relayed port %d outside 41000-41009", p)
		}
	}
}

func TestBadServerConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		network string
		addr    string
		cfg     ServerConfig
	}{
		{"unspecified", "udp4", "0.0.0.0:0", ServerConfig{}},
		{"unspecified-relay-ip", "udp4", "127.0.0.1:0", ServerConfig{RelayIP: netip.IPv4Unspecified()}},
		{"other-family", "udp4", "127.0.0.1:0", ServerConfig{RelayIP: netip.IPv6Loopback()}},
		{"half-range", "udp4", "127.0.0.1:0", ServerConfig{MinPort: 40000}},
		{"upside-down", "udp4", "127.0.0.1:0", ServerConfig{MinPort: 40010, MaxPort: 40000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := net.ListenPacket(tt.network, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if _, err := NewServer(pc, &tt.cfg); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("NewServer: %v, want ErrBadConfig", err)
			}
			if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
				t.Errorf("the socket is still open after NewServer failed: %v", err)
			}
		})
	}
}

// TestNoAnswer checks that Allocate towards a silent address fails with
// ErrNoAnswer after the timeout, and with ctx's error when ctx ends first.
func TestNoAnswer(t *testing.T) {
	leakcheck.Check(t)
	silent := listenUDP(t, "udp4", families[0].ip)
	pc := listenUDP(t, "udp4", families[0].ip)
	_, err := Allocate(context.Background(), pc, addrOf(silent), Credentials{}, &ClientConfig{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoAnswer) {
		t.Errorf("Allocate: %v, want ErrNoAnswer", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err = Allocate(ctx, pc, addrOf(silent), Credentials{}, nil); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNoAnswer) {
		t.Errorf("Allocate with a short ctx: %v, want context.DeadlineExceeded", err)
	}
}

// TestSocketBuffers checks that the relay's socket and the sockets of its
// relayed transport addresses get ServerConfig.SocketBuffer (root may
// force it past the sysctl limits).
func TestSocketBuffers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the kernel may cap the buffers at net.core.rmem_max")
	}
	const want = 4 << 20
	var (
		mu      sync.Mutex
		relayed []net.PacketConn
	)
	cfg := &ServerConfig{AllowPrivatePeers: true, SocketBuffer: want}
	cfg.ListenPacket = func(network, address string) (net.PacketConn, error) {
		pc, err := net.ListenPacket(network, address)
		if err == nil {
			mu.Lock()
			relayed = append(relayed, pc)
			mu.Unlock()
		}
		return pc, err
	}
	pc := listenUDP(t, "udp4", families[0].ip)
	s, err := NewServer(pc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	allocate(t, s, s.Issuer().Issue("x"))
	mu.Lock()
	defer mu.Unlock()
	if len(relayed) != 1 {
		t.Fatalf("%d relayed sockets opened, want 1", len(relayed))
	}
	for name, c := range map[string]net.PacketConn{"relay": pc, "relayed": relayed[0]} {
		raw, err := c.(*net.UDPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if rcv, snd := sockbuf.Sizes(raw); rcv < want || snd < want {
			t.Errorf("%s socket: buffers %d and %d, want at least %d", name, rcv, snd, want)
		}
	}
}
