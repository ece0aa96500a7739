package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runServer starts `punch server args...` and returns its stderr and a
// channel with its result.
func runServer(ctx context.Context, args ...string) (*syncBuffer, <-chan error) {
	stderr := &syncBuffer{}
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

// TestServerRuns starts the server on loopback, queries it over UDP and
// TCP, and checks that cancelling the context stops it cleanly.
func TestServerRuns(t *testing.T) {
	for attempt := 0; ; attempt++ {
		port := 20000 + rand.IntN(40000)
		ctx, cancel := context.WithCancel(context.Background())
		stderr, done := runServer(ctx, "--ip", "127.0.0.1", "--stun-port", fmt.Sprint(port))
		udpLine := fmt.Sprintf("stun: listening on udp 127.0.0.1:%d\n", port)
		tcpLine := fmt.Sprintf("stun: listening on tcp 127.0.0.1:%d\n", port)
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
		if !strings.Contains(stderr.String(), udpLine) || !strings.Contains(stderr.String(), tcpLine) {
			cancel()
			t.Fatalf("stderr %q lacks %q and %q", stderr, udpLine, tcpLine)
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

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("server did not stop after cancel")
		}
		return
	}
}
