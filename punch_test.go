package punch

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/punchkit/punch/relay"
	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/stunserver"
)

// testServer runs a rendezvous server, a STUN server and the relays (TURN
// and pair) on loopback and returns a Config for them.
func testServer(tb testing.TB) *Config {
	tb.Helper()
	cfg, stop, err := loopbackServer()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return cfg
}

// loopbackServer runs a rendezvous server, a STUN server and the relays
// (TURN and pair) on 127.0.0.1 and returns a Config for them and a
// function that stops them.
func loopbackServer() (*Config, func(), error) { return loopbackServerPair(netip.AddrPort{}) }

// loopbackServerPair is loopbackServer whose rendezvous grants pair as
// the pair relay's address, if valid, in place of its own pair relay's.
func loopbackServerPair(pair netip.AddrPort) (*Config, func(), error) {
	rpc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	rs, err := relay.NewServer(rpc, &relay.ServerConfig{AllowPrivatePeers: true})
	if err != nil {
		rpc.Close()
		return nil, nil, err
	}
	ppc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		rs.Close()
		return nil, nil, err
	}
	ps, err := relay.NewPairServer(ppc, &relay.PairConfig{Issuer: rs.Issuer()})
	if err != nil {
		rs.Close()
		return nil, nil, err
	}
	rcfg := &rendezvous.Config{Grant: func(kind rendezvous.Kind, token string) *rendezvous.Grant {
		c := rs.Issuer().Issue(token)
		p := ps.Addr()
		if pair.IsValid() {
			p = pair
		}
		return &rendezvous.Grant{Addrs: []netip.AddrPort{rs.Addr()}, Username: c.Username, Password: c.Password, Pair: []netip.AddrPort{p}}
	}}
	lns, err := rendezvous.Listen(context.Background(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, 0)
	if err != nil {
		rs.Close()
		ps.Close()
		return nil, nil, err
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		lns[0].Close()
		rs.Close()
		ps.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rv := rendezvous.New(rcfg)
	st := stunserver.New(nil)
	done := make(chan struct{}, 2)
	go func() { rv.Serve(ctx, lns[0]); done <- struct{}{} }()
	go func() { st.ServeUDP(ctx, stunserver.UDPSocket{Conn: pc}); done <- struct{}{} }()
	stop := func() {
		cancel()
		<-done
		<-done
		rs.Close()
		ps.Close()
	}
	return &Config{Server: lns[0].Addr().String(), STUNPort: pc.LocalAddr().(*net.UDPAddr).Port}, stop, nil
}

// pair runs Dial and Listen with one key and returns both connections.
func pair(tb testing.TB, cfg *Config) (dialed, listened *Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := secure.NewKey()
	type res struct {
		c   *Conn
		err error
	}
	lch := make(chan res, 1)
	go func() {
		c, err := Listen(ctx, key, cfg)
		lch <- res{c, err}
	}()
	d, err := Dial(ctx, key, cfg)
	l := <-lch
	if err != nil || l.err != nil {
		if d != nil {
			d.Close()
		}
		if l.c != nil {
			l.c.Close()
		}
		tb.Fatalf("dial: %v; listen: %v", err, l.err)
	}
	tb.Cleanup(func() { d.Close(); l.c.Close() })
	return d, l.c
}

// exchange sends n random bytes each way at once and checks them.
func exchange(tb testing.TB, a, b net.Conn, n int) {
	tb.Helper()
	da, db := make([]byte, n), make([]byte, n)
	rand.Read(da)
	rand.Read(db)
	errs := make(chan error, 2)
	for _, c := range []struct {
		w    net.Conn
		data []byte
	}{{a, da}, {b, db}} {
		go func() { _, err := c.w.Write(c.data); errs <- err }()
	}
	for _, c := range []struct {
		r    net.Conn
		want []byte
	}{{b, da}, {a, db}} {
		got := make([]byte, n)
		c.r.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c.r, got); err != nil {
			tb.Fatal(err)
		}
		if !bytes.Equal(got, c.want) {
			tb.Fatal("data corrupted")
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

func TestDialListen(t *testing.T) {
	for _, paths := range [][]Path{{PathReverse}, {PathTCP}, {PathUDP}, {PathRelay}, {PathRelay, "turn"}, nil} {
		name := "all"
		if paths != nil {
			name = string(paths[0])
		}
		turn := len(paths) == 2 // the relay through TURN, not the pair relay
		if turn {
			paths, name = paths[:1], "relay-turn"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testServer(t)
			cfg.Paths = paths
			cfg.RelayTURN = turn
			d, l := pair(t, cfg)
			if d.Path() != l.Path() {
				t.Fatalf("the two sides use different paths: %s and %s", d.Path(), l.Path())
			}
			if paths != nil && d.Path() != paths[0] {
				t.Fatalf("path %s, want %s", d.Path(), paths[0])
			}
			t.Logf("dialer: %v; listener: %v", d.Session().Attempts(), l.Session().Attempts())
			exchange(t, d, l, 1<<20)
			for _, c := range []*Conn{d, l} {
				if n := c.NATs(); n != (NATs{MappingNone, MappingNone}) {
					t.Errorf("NATs on loopback: %+v", n)
				}
				won := 0
				for _, a := range c.Session().Attempts() {
					if a.Won {
						won++
						if a.Path != c.Path() {
							t.Errorf("attempt %v won, but the path is %s", a, c.Path())
						}
					} else if a.Err == nil {
						t.Errorf("attempt %v lost without a reason", a)
					}
				}
				if won != 1 {
					t.Errorf("%d attempts won: %v", won, c.Session().Attempts())
				}
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	key := secure.NewKey()
	for _, c := range []struct {
		name string
		key  string
		cfg  *Config
		want error
	}{
		{"bad key", "", &Config{Server: "127.0.0.1"}, secure.ErrInvalidKey},
		{"no server", key, &Config{}, ErrConfig},
		{"bad network", key, &Config{Server: "127.0.0.1", Network: "ipx"}, ErrConfig},
		{"bad path", key, &Config{Server: "127.0.0.1", Paths: []Path{"carrier-pigeon"}}, ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(ServerEnv, "")
			_, err := Connect(ctx, c.key, c.cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, err = Connect(ctx, key, &Config{Server: "127.0.0.1:" + strconv.Itoa(port), Paths: []Path{PathTCP}})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("cannot reach")) {
			t.Fatalf("got %v, want a 'cannot reach' error", err)
		}
	})
}

// TestRelayPairSilent grants a pair relay that never answers (its port
// blocked, as by a firewall in front of the server): both sides must take
// the TURN relay instead, after a short wait, and connect through it.
func TestRelayPairSilent(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go io.Copy(io.Discard, readerOf(silent))
	cfg, stop, err := loopbackServerPair(silent.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg.Paths = []Path{PathRelay}
	d, l := pair(t, cfg)
	if d.Path() != PathRelay || l.Path() != PathRelay {
		t.Fatalf("paths %s and %s, want relay", d.Path(), l.Path())
	}
	if peer := d.Session().Peer(); peer.Port() == silent.LocalAddr().(*net.UDPAddr).AddrPort().Port() {
		t.Fatalf("connected through the silent pair relay %v", peer)
	}
	exchange(t, d, l, 1<<20)
}

// readerOf reads a packet connection's datagrams as a stream, until it is
// closed.
type packetReader struct{ pc net.PacketConn }

func readerOf(pc net.PacketConn) io.Reader { return packetReader{pc} }

func (r packetReader) Read(b []byte) (int, error) {
	n, _, err := r.pc.ReadFrom(b)
	return n, err
}
