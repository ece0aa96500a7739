package stun

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	pionstun "github.com/pion/stun/v4"
)

func TestBind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		local string
		opts  fakeOpts
		sent  int // transmissions expected, 0 = don't check
	}{
		{name: "IPv4", local: "127.0.0.1:0", opts: fakeOpts{mapping: EndpointIndependentMapping}},
		{name: "IPv6", local: "[::1]:0", opts: fakeOpts{mapping: AddressAndPortDependentMapping}},
		{name: "no NAT", local: "127.0.0.1:0"},
		{name: "legacy server", local: "127.0.0.1:0", opts: fakeOpts{mapping: EndpointIndependentMapping, legacy: true}},
		{name: "lossy", local: "127.0.0.1:0", opts: fakeOpts{mapping: EndpointIndependentMapping, dropFirst: 3}},
		{name: "stray packets", local: "127.0.0.1:0", opts: fakeOpts{mapping: EndpointIndependentMapping, strays: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc := listenUDP(t, tt.local)
			s := newFakeServer(t, pc, tt.opts)
			got, err := Bind(context.Background(), pc, s.primary(), testConfig(t))
			if err != nil {
				t.Fatalf("Bind: %v", err)
			}
			if got != s.publicAddr() {
				t.Errorf("Bind = %s, want %s", got, s.publicAddr())
			}
		})
	}
}

func TestBindUnmatched(t *testing.T) {
	t.Parallel()
	pc := listenUDP(t, "127.0.0.1:0")
	s := newFakeServer(t, pc, fakeOpts{mapping: EndpointIndependentMapping, strays: true})
	var (
		mu   sync.Mutex
		seen []string
	)
	cfg := testConfig(t)
	cfg.Unmatched = func(p []byte, from netip.AddrPort) {
		mu.Lock()
		defer mu.Unlock()
		if from != s.primary() {
			t.Errorf("stray from %s, want %s", from, s.primary())
		}
		seen = append(seen, string(p[:4]))
	}
	if _, err := Bind(context.Background(), pc, s.primary(), cfg); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Errorf("Unmatched got %d packets (%q), want the 2 strays", len(seen), seen)
	}
}

func TestBindRetransmits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		dropFirst int
		wantErr   error
	}{
		{"answered on the 4th try", Config{RTO: 10 * time.Millisecond, Timeout: time.Second}, 3, nil},
		{"attempts exhausted", Config{RTO: 10 * time.Millisecond, Attempts: 3, Timeout: 300 * time.Millisecond}, 3, ErrNoResponse},
		{"timeout first", Config{RTO: 100 * time.Millisecond, Timeout: 250 * time.Millisecond}, 3, ErrNoResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc := listenUDP(t, "127.0.0.1:0")
			s := newFakeServer(t, pc, fakeOpts{dropFirst: tt.dropFirst})
			_, err := Bind(context.Background(), pc, s.primary(), &tt.cfg)
			if !errors.Is(err, tt.wantErr) && (err != nil || tt.wantErr != nil) {
				t.Errorf("Bind error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBindErrors(t *testing.T) {
	t.Parallel()
	t.Run("no server", func(t *testing.T) {
		t.Parallel()
		pc := listenUDP(t, "127.0.0.1:0")
		_, err := Bind(context.Background(), pc, blackhole(t, "127.0.0.1"), testConfig(t))
		if !errors.Is(err, ErrNoResponse) {
			t.Errorf("Bind error %v, want ErrNoResponse", err)
		}
	})
	t.Run("unreachable family", func(t *testing.T) {
		t.Parallel()
		pc := listenUDP(t, "0.0.0.0:0") // an IPv4 socket
		_, err := Bind(context.Background(), pc, netip.MustParseAddrPort("[::1]:3478"), testConfig(t))
		if !errors.Is(err, ErrNoResponse) {
			t.Errorf("Bind error %v, want ErrNoResponse", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		pc := listenUDP(t, "127.0.0.1:0")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := Bind(ctx, pc, blackhole(t, "127.0.0.1"), &Config{Timeout: 10 * time.Second})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Bind error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("cancellation took %v", d)
		}
	})
	t.Run("closed socket", func(t *testing.T) {
		t.Parallel()
		pc := listenUDP(t, "127.0.0.1:0")
		pc.Close()
		if _, err := Bind(context.Background(), pc, blackhole(t, "127.0.0.1"), testConfig(t)); err == nil {
			t.Error("Bind on a closed socket succeeded")
		}
	})
}

// tcpServer answers STUN binding requests over TCP the way the test case
// says.
func tcpServer(t testing.TB, mode string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := readMessage(c)
				if err != nil {
					return
				}
				req := &pionstun.Message{Raw: b}
				if req.Decode() != nil {
					return
				}
				from := addrPortOf(c.RemoteAddr())
				answer := func(id pionstun.Setter) {
					m := pionstun.MustBuild(id, pionstun.BindingSuccess,
						&pionstun.XORMappedAddress{IP: from.Addr().AsSlice(), Port: int(from.Port())},
						pionstun.Fingerprint)
					_, _ = c.Write(m.Raw)
				}
				switch mode {
				case "ok":
					answer(pionstun.TransactionID) // someone else's, skipped
					answer(pionstun.NewTransactionIDSetter(req.TransactionID))
				case "error":
					m := pionstun.MustBuild(pionstun.NewTransactionIDSetter(req.TransactionID),
						pionstun.BindingError, pionstun.CodeBadRequest)
					_, _ = c.Write(m.Raw)
				case "garbage":
					_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				case "close":
					return
				case "silent":
					time.Sleep(time.Second)
				}
			}()
		}
	}()
	return addrPortOf(ln.Addr())
}

func TestBindTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    string
		wantErr error
	}{
		{"ok", nil},
		{"error", ErrErrorResponse},
		{"garbage", ErrMalformed},
		{"close", ErrNoResponse},
		{"silent", ErrNoResponse},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			server := tcpServer(t, tt.mode)
			conn, err := net.Dial("tcp", server.String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got, err := BindTCP(context.Background(), conn, &Config{Timeout: 200 * time.Millisecond})
			if !errors.Is(err, tt.wantErr) && (err != nil || tt.wantErr != nil) {
				t.Fatalf("BindTCP error %v, want %v", err, tt.wantErr)
			}
			if want := addrPortOf(conn.LocalAddr()); err == nil && got != want {
				t.Errorf("BindTCP = %s, want %s", got, want)
			}
		})
	}
}

func TestResolveServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network, in string
		want        string
		wantErr     bool
	}{
		{"udp", "192.0.2.1", "192.0.2.1:3478", false},
		{"udp", "192.0.2.1:3479", "192.0.2.1:3479", false},
		{"udp", "2001:db8::1", "[2001:db8::1]:3478", false},
		{"udp", "[2001:db8::1]", "[2001:db8::1]:3478", false},
		{"udp6", "[2001:db8::1]:19302", "[2001:db8::1]:19302", false},
		{"udp", "localhost", "127.0.0.1:3478", false},
		{"udp4", "2001:db8::1", "", true},
		{"udp", "192.0.2.1:0", "", true},
		{"udp", "192.0.2.1:http", "", true},
		{"udp", "192.0.2.1:70000", "", true},
		{"udp", ":3478", "", true},
		{"ip", "192.0.2.1", "", true},
		{"udp", "no-such-host.invalid", "", true},
	}
	for _, tt := range tests {
		got, err := ResolveServer(context.Background(), tt.network, tt.in)
		if tt.wantErr {
			if err == nil || !errors.Is(err, ErrResolve) {
				t.Errorf("ResolveServer(%q, %q) = %v, %v; want an ErrResolve", tt.network, tt.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ResolveServer(%q, %q) = %v, %v; want %s", tt.network, tt.in, got, err, tt.want)
		}
	}
}

// TestBindPair checks that BindPair learns the mappings toward the
// server's two ports in one round, tells a NAT that keeps one mapping from
// one that maps per destination, and gives no second mapping when the
// server names no alternate port.
func TestBindPair(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     fakeOpts
		second   bool
		sameAddr bool
	}{
		{"one mapping", fakeOpts{mapping: EndpointIndependentMapping}, true, true},
		{"per destination", fakeOpts{mapping: AddressAndPortDependentMapping}, true, false},
		{"no alternate", fakeOpts{mapping: EndpointIndependentMapping, noOther: true}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			s := newFakeServer(t, pc, c.opts)
			first, second, err := BindPair(context.Background(), pc, s.addrs[0][0], testConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			if (second != nil) != c.second {
				t.Fatalf("second = %+v, want one: %v", second, c.second)
			}
			if second != nil && (first.Mapped == second.Mapped) != c.sameAddr {
				t.Errorf("mappings %v and %v", first.Mapped, second.Mapped)
			}
		})
	}
}
