package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/punchkit/punch/internal/testkit"
	"github.com/punchkit/punch/relay"
	"github.com/punchkit/punch/rendezvous"
)

// runServer starts `punch server args...` and returns its stderr and a
// channel with its result.
func runServer(ctx context.Context, args ...string) (*testkit.SyncBuffer, <-chan error) {
	stderr := &testkit.SyncBuffer{}
	root := New()
	root.SetArgs(append([]string{"server"}, args...))
	root.SetErr(stderr)
	root.SetOut(stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	return stderr, done
}

func TestServerBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error message
	}{
		{"bad-ip", []string{"--ip", "nope"}, "--ip"},
		{"bad-alt-ip", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.300"}, "--alt-ip"},
		{"alt-ip-same-as-ip", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.1"}, "--alt-ip"},
		{"alt-ip-without-ip", []string{"--alt-ip", "127.0.0.2"}, "--alt-ip"},
		{"alt-ip-other-family", []string{"--ip", "127.0.0.1", "--alt-ip", "::1"}, "alternate IP"},
		{"port-zero", []string{"--stun-port", "0"}, "--stun-port"},
		{"port-too-big", []string{"--stun-port", "65536"}, "--stun-port"},
		{"alt-port-without-alt-ip", []string{"--alt-port", "4000"}, "--alt-port"},
		{"alt-port-equals-port", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.2", "--stun-port", "4000", "--alt-port", "4000"}, "--alt-port"},
		{"alt-port-too-big", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.2", "--alt-port", "70000"}, "--alt-port"},
		{"no-room-for-alt-port", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.2", "--stun-port", "65535"}, "--stun-port"},
		{"bad-timeout", []string{"--tcp-timeout", "0s"}, "--tcp-timeout"},
		{"rendezvous-port-zero", []string{"--rendezvous-port", "0"}, "--rendezvous-port"},
		{"rendezvous-port-too-big", []string{"--rendezvous-port", "65536"}, "--rendezvous-port"},
		{"rendezvous-port-is-stun-port", []string{"--rendezvous-port", "3478"}, "--rendezvous-port"},
		{"rendezvous-port-is-alt-port", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.2", "--stun-port", "4000", "--rendezvous-port", "4001"}, "--rendezvous-port"},
		{"bad-wait-timeout", []string{"--wait-timeout", "-1s"}, "--wait-timeout"},
		{"bad-max-waiting", []string{"--max-waiting-per-ip", "0"}, "--max-waiting-per-ip"},
		{"relay-port-zero", []string{"--relay-port", "0"}, "--relay-port"},
		{"relay-port-too-big", []string{"--relay-port", "65536"}, "--relay-port"},
		{"relay-port-is-stun-port", []string{"--relay-port", "3478"}, "--relay-port"},
		{"pair-port-negative", []string{"--pair-port", "-1"}, "--pair-port"},
		{"pair-port-too-big", []string{"--pair-port", "65536"}, "--pair-port"},
		{"pair-port-is-relay-port", []string{"--relay-port", "4000", "--pair-port", "4000"}, "--pair-port"},
		{"pair-port-is-stun-port", []string{"--pair-port", "3478"}, "--pair-port"},
		{"relay-port-is-alt-port", []string{"--ip", "127.0.0.1", "--alt-ip", "127.0.0.2", "--stun-port", "4000", "--relay-port", "4001"}, "--relay-port"},
		{"argument", []string{"extra"}, "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, done := runServer(ctx, tt.args...)
			err := <-done
			if err == nil {
				t.Fatal("no error")
			}
			if Report(io.Discard, err) != 2 {
				t.Errorf("exit code %d for %v, want 2", Report(io.Discard, err), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// startTestServer runs `punch server` on loopback with free random ports
// (the relay's is rvPort+1, the pair relay's rvPort+2) and returns its stderr, its ports and a
// function that stops it and checks that it stopped cleanly.
func startTestServer(t *testing.T, extra ...string) (stderr *testkit.SyncBuffer, stunPort, rvPort int, stop func()) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		stunPort = 20000 + rand.IntN(40000)
		rvPort = 20000 + rand.IntN(40000)
		if stunPort >= rvPort && stunPort <= rvPort+2 {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		args := append([]string{"--ip", "127.0.0.1", "--stun-port", fmt.Sprint(stunPort), "--rendezvous-port", fmt.Sprint(rvPort), "--relay-port", fmt.Sprint(rvPort + 1), "--pair-port", fmt.Sprint(rvPort + 2)}, extra...)
		stderr, done := runServer(ctx, args...)
		tcpLine := fmt.Sprintf("stun: listening on tcp 127.0.0.1:%d\n", stunPort)
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(stderr.String(), tcpLine) {
				break
			}
			select {
			case err = <-done:
			default:
				continue
			}
			break
		}
		if err != nil {
			cancel()
			if strings.Contains(err.Error(), "address already in use") && attempt < 10 {
				continue
			}
			t.Fatalf("server failed: %v", err)
		}
		stop = func() {
			t.Helper()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server returned %v after cancel, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server did not stop after cancel")
			}
		}
		return stderr, stunPort, rvPort, stop
	}
}

// TestServerRuns starts the server on loopback, queries STUN over UDP and
// TCP, pairs two rendezvous clients, and checks that cancelling the
// context stops it cleanly.
func TestServerRuns(t *testing.T) {
	stderr, port, rvPort, stop := startTestServer(t)
	defer stop()
	for _, line := range []string{
		fmt.Sprintf("stun: listening on udp 127.0.0.1:%d\n", port),
		fmt.Sprintf("stun: listening on tcp 127.0.0.1:%d\n", port),
		fmt.Sprintf("rendezvous: listening on tcp 127.0.0.1:%d\n", rvPort),
		fmt.Sprintf("relay: listening on udp 127.0.0.1:%d (TURN)\n", rvPort+1),
		fmt.Sprintf("relay: listening on udp 127.0.0.1:%d (pair relay)\n", rvPort+2),
	} {
		// the services print their lines one after the other
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), line); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("stderr %q lacks %q", stderr, line)
			}
		}
	}

	for _, network := range []string{"udp", "tcp"} {
		c, err := net.Dial(network, fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write(req.Raw)
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		c.Close()
		if err != nil {
			t.Fatalf("%s: no response: %v", network, err)
		}
		var resp stun.Message
		var addr stun.XORMappedAddress
		var sw stun.Software
		if err := stun.Decode(buf[:n], &resp); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if err := resp.Parse(&addr, &sw); err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if want := c.LocalAddr().String(); addr.String() != want {
			t.Errorf("%s: XOR-MAPPED-ADDRESS %v, want %v", network, addr, want)
		}
		if sw.String() != "punch "+Version {
			t.Errorf("%s: SOFTWARE %q", network, sw)
		}
	}

	// Two legacy rendezvous clients pair.
	var key [rendezvous.KeySize]byte
	copy(key[:], "punch server test key, 32 bytes!")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		peer netip.AddrPort
		err  error
	}
	var conns [2]net.Conn
	var results [2]chan result
	for i := range conns {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rvPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i], results[i] = c, make(chan result, 1)
		go func() {
			p, err := rendezvous.Legacy(ctx, c, key)
			results[i] <- result{p, err}
		}()
	}
	for i, r := range results {
		res := <-r
		if want := conns[1-i].LocalAddr().String(); res.err != nil || res.peer.String() != want {
			t.Errorf("client %d: peer %v, %v; want %v", i, res.peer, res.err, want)
		}
	}
}

// TestServerRelay checks that the relays (TURN and pair) answer on their
// ports, and refuse credentials the server did not issue.
func TestServerRelay(t *testing.T) {
	_, _, rvPort, stop := startTestServer(t)
	defer stop()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relayAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(rvPort+1))
	_, err = relay.Allocate(ctx, pc, relayAddr, relay.NewIssuer(nil, 0).Issue("x"), nil)
	if !errors.Is(err, relay.ErrBadCredentials) {
		t.Fatalf("allocate with foreign credentials: %v, want relay.ErrBadCredentials", err)
	}
	pairAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(rvPort+2))
	err = relay.JoinPair(ctx, pc, relay.Pair{Relay: pairAddr, Credentials: relay.NewIssuer(nil, 0).Issue("x")}, false, &relay.ClientConfig{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, relay.ErrBadCredentials) {
		t.Fatalf("join the pair relay with foreign credentials: %v, want relay.ErrBadCredentials", err)
	}
}

// TestServerNoRendezvous checks that --no-rendezvous --no-relay runs STUN
// alone.
func TestServerNoRendezvous(t *testing.T) {
	stderr, _, rvPort, stop := startTestServer(t, "--no-rendezvous", "--no-relay")
	defer stop()
	for _, name := range []string{"rendezvous:", "relay:"} {
		if strings.Contains(stderr.String(), name) {
			t.Errorf("stderr %q mentions %s", stderr, name)
		}
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rvPort)); err == nil {
		c.Close()
		t.Errorf("something listens on the rendezvous port %d", rvPort)
	}
}
