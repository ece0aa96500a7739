// Package demo runs punch's one-machine demonstration: an embedded STUN
// server on loopback and, when the machine can build a NAT lab (root,
// iproute2, nftables), hosts behind real kernel NATs that discover what
// kind of NAT they sit behind.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/stunserver"
)

// Config tunes the demo; the zero value works.
type Config struct {
	// Types are the NAT types of the lab's two sites. Default:
	// portrestricted and symmetric.
	Types [2]natlab.NATType
	// NoLab skips the lab part even where a lab can be built.
	NoLab bool
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
}

// Run runs the demo and writes what happens to w.
func Run(ctx context.Context, w io.Writer, cfg *Config) error {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Types[0] == "" {
		c.Types = [2]natlab.NATType{natlab.PortRestricted, natlab.Symmetric}
	}
	fmt.Fprintln(w, "== 1. STUN server on loopback (127.0.0.1 and 127.0.0.2, RFC 5780)")
	if err := loopback(ctx, w, c.Logger); err != nil {
		return err
	}
	if c.NoLab {
		return nil
	}
	if err := natlab.CheckSupported(); err != nil {
		fmt.Fprintf(w, "\n== 2. NAT lab skipped: %v\n   Run the demo as root to see hosts behind real kernel NATs.\n", err)
		return nil
	}
	fmt.Fprintf(w, "\n== 2. Hosts behind real kernel NATs (%s and %s) in a network-namespace lab\n", c.Types[0], c.Types[1])
	return lab(ctx, w, c)
}

// loopback serves STUN on two loopback addresses and discovers the
// (absent) NAT in front of a loopback socket.
func loopback(ctx context.Context, w io.Writer, log *slog.Logger) error {
	socks, err := stunserver.Listen(ctx, &stunserver.ListenConfig{
		IPs:    []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		AltIPs: []netip.Addr{netip.MustParseAddr("127.0.0.2")},
		Port:   34780, AltPort: 34781, NoTCP: true,
	})
	if err != nil {
		return fmt.Errorf("starting the embedded STUN server: %w", err)
	}
	stop := serve(ctx, socks, log)
	defer stop()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer pc.Close()
	r, err := stun.Discover(ctx, pc, netip.MustParseAddrPort("127.0.0.1:34780"), &stun.Config{Timeout: 300 * time.Millisecond, Logger: log})
	if err != nil {
		return err
	}
	printReport(w, "loopback", r)
	return nil
}

func serve(ctx context.Context, socks *stunserver.Sockets, log *slog.Logger) (stop func()) {
	srv := stunserver.New(&stunserver.Config{Logger: log})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(ctx, socks); close(done) }()
	return func() { cancel(); srv.Close(); <-done }
}

// lab builds a two-site lab, runs the STUN server on its server host and
// discovers each site's NAT from its host.
func lab(ctx context.Context, w io.Writer, c Config) error {
	l, err := natlab.New(ctx, natlab.Config{
		Name:  fmt.Sprintf("demo%d", os.Getpid()),
		Sites: []natlab.Site{{Name: "natA", NAT: c.Types[0]}, {Name: "natB", NAT: c.Types[1]}},
	}, c.Logger)
	if err != nil {
		return err
	}
	defer l.Close()
	server, _ := l.Node("server")
	fmt.Fprintf(w, "   lab %s: server %s and %s; host a behind natA, host b behind natB\n", l.Config.Name, server.Addrs[0], server.Addrs[1])
	var socks *stunserver.Sockets
	if err := server.Do(func() (err error) {
		socks, err = stunserver.Listen(ctx, &stunserver.ListenConfig{
			IPs: []netip.Addr{server.Addrs[0]}, AltIPs: []netip.Addr{server.Addrs[1]}, NoTCP: true,
		})
		return err
	}); err != nil {
		return err
	}
	stop := serve(ctx, socks, c.Logger)
	defer stop()
	for _, name := range []string{"a", "b"} {
		host, _ := l.Node(name)
		var pc net.PacketConn
		if err := host.Do(func() (err error) { pc, err = net.ListenPacket("udp4", host.Addr(true).String()+":0"); return err }); err != nil {
			return err
		}
		r, err := stun.Discover(ctx, pc, netip.AddrPortFrom(server.Addrs[0], stun.DefaultPort), &stun.Config{Timeout: 300 * time.Millisecond, Logger: c.Logger})
		pc.Close()
		if err != nil {
			return fmt.Errorf("host %s: %w", name, err)
		}
		printReport(w, fmt.Sprintf("host %s (%s)", name, host.NAT), r)
	}
	fmt.Fprintln(w, "   (the lab is torn down when the demo ends; build your own with `punch lab up`)")
	return nil
}

func printReport(w io.Writer, who string, r *stun.Report) {
	fmt.Fprintf(w, "   %s: local %s, public %s\n", who, r.Local, r.Public)
	fmt.Fprintf(w, "     mapping %s, filtering %s, port preserved %v -> %s (%s)\n",
		r.Mapping, r.Filtering, r.PortPreserving, r.Class, r.Class.Description())
	fmt.Fprintf(w, "     %s\n", r.Advice)
}
