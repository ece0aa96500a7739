// Package demo runs punch's one-machine demonstration: an embedded STUN
// server on loopback and, when the machine can build a NAT lab (root,
// iproute2, nftables), hosts behind real kernel NATs that discover what
// kind of NAT they sit behind, punch TCP connections to each other and
// open a QUIC tunnel over punched UDP, and punch connect races every path.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/core"
	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/stunserver"
)

// Config tunes the demo; the zero value works.
type Config struct {
	// Types are the NAT types of the lab's first two sites, whose hosts
	// punch a TCP connection; a third site is always symmetric. Default:
	// portrestricted (rejecting unsolicited packets, the hard case) and
	// restricted.
	Types [2]natlab.NATType
	// Bin is the punch binary, which runs punch server and punch connect
	// in the lab. Default: the running executable.
	Bin string
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
		c.Types = [2]natlab.NATType{natlab.PortRestricted, natlab.Restricted}
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
	fmt.Fprintf(w, "\n== 2. Hosts behind real kernel NATs in a network-namespace lab (20 ms per link)\n")
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
	delay := natlab.LinkParams{Up: core.Params{Delay: 20 * time.Millisecond}, Down: core.Params{Delay: 20 * time.Millisecond}}
	l, err := natlab.New(ctx, natlab.Config{
		Name: fmt.Sprintf("demo%d", os.Getpid()),
		Sites: []natlab.Site{
			{Name: "natA", NAT: c.Types[0], Input: natlab.Reject, Link: delay},
			{Name: "natB", NAT: c.Types[1], Link: delay},
			{Name: "natC", NAT: natlab.Symmetric, Link: delay},
			{Name: "natD", NAT: natlab.SymmetricSeq, Link: delay},
		},
		ServerLink: delay,
	}, c.Logger)
	if err != nil {
		return err
	}
	defer l.Close()
	server, _ := l.Node("server")
	fmt.Fprintf(w, "   lab %s: server %s and %s; hosts a, b, c and d behind natA (%s, rejects unsolicited packets), natB (%s), natC (symmetric) and natD (symmetric, sequential ports)\n",
		l.Config.Name, server.Addrs[0], server.Addrs[1], c.Types[0], c.Types[1])
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
	for _, name := range []string{"a", "b", "c", "d"} {
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
	fmt.Fprintln(w, "\n== 3. punch tcp: TCP simultaneous open through both NATs, met at the rendezvous server")
	stopRV, err := serveRendezvous(ctx, server)
	if err != nil {
		return err
	}
	defer stopRV()
	for _, pair := range [][2]string{{"a", "b"}, {"a", "c"}} {
		tcpPunch(ctx, w, l, pair, c.Logger)
	}
	fmt.Fprintln(w, "\n== 4. punch udp: UDP hole punching and a QUIC tunnel, STUN-mapped candidates")
	udpPunch(ctx, w, l, [2]string{"a", "b"}, c.Logger)
	fmt.Fprintln(w, "\n== 5. punch connect: TCP, UDP and (after 1 s) the relay raced; the first path to authenticate wins")
	if err := connect(ctx, w, l, c.Bin); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n   (the lab is torn down when the demo ends; build your own with `punch lab up`)")
	return nil
}

// serveRendezvous runs the rendezvous server on the lab's server host.
func serveRendezvous(ctx context.Context, server *natlab.Node) (func(), error) {
	var lns []net.Listener
	if err := server.Do(func() (err error) {
		lns, err = rendezvous.Listen(ctx, []netip.Addr{server.Addrs[0]}, rendezvous.DefaultPort)
		return err
	}); err != nil {
		return nil, err
	}
	srv := rendezvous.New(nil)
	for _, ln := range lns {
		go srv.Serve(ctx, ln)
	}
	return func() { srv.Close() }, nil
}

// tcpPunch connects two lab hosts with punch tcp's flow and sends a
// greeting across.
func tcpPunch(ctx context.Context, w io.Writer, l *natlab.Lab, pair [2]string, log *slog.Logger) {
	key := secure.NewKey()
	type result struct {
		s   *session.Session
		err error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for i, name := range pair {
		host, _ := l.Node(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			host.Do(func() error {
				results[i].s, results[i].err = session.TCP(ctx, "198.51.100.2:3477",
					session.Options{Key: key, Network: "tcp4", Timeout: 3 * time.Second, Logger: log})
				return nil
			})
		}()
	}
	wg.Wait()
	a, _ := l.Node(pair[0])
	b, _ := l.Node(pair[1])
	label := fmt.Sprintf("   %s (%s) <-> %s (%s): ", pair[0], a.NAT, pair[1], b.NAT)
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "%sno connection, as expected for a symmetric NAT: %v\n", label, firstLine(r.err))
			for _, r := range results {
				if r.s != nil {
					r.s.Conn.Close()
				}
			}
			return
		}
		defer r.s.Conn.Close()
	}
	msg := "hello from " + pair[0]
	go results[0].s.Conn.Write([]byte(msg))
	buf := make([]byte, len(msg))
	results[1].s.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(results[1].s.Conn, buf); err != nil {
		fmt.Fprintf(w, "%sconnected, but the message did not arrive: %v\n", label, err)
		return
	}
	fmt.Fprintf(w, "%sconnected in %v (encrypted, key-authenticated); %s received %q\n",
		label, time.Since(start).Round(time.Millisecond), pair[1], buf)
}

// udpPunch opens a QUIC tunnel between two lab hosts with punch udp's flow
// and moves a greeting through a stream.
func udpPunch(ctx context.Context, w io.Writer, l *natlab.Lab, pair [2]string, log *slog.Logger) {
	key := secure.NewKey()
	tunnels := make([]*session.Tunnel, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for i, name := range pair {
		host, _ := l.Node(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			host.Do(func() error {
				tunnels[i], errs[i] = session.UDP(ctx, "198.51.100.2:3477", stun.DefaultPort,
					session.Options{Key: key, Network: "udp4", Timeout: 5 * time.Second, Logger: log})
				return nil
			})
		}()
	}
	wg.Wait()
	label := fmt.Sprintf("   %s <-> %s: ", pair[0], pair[1])
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(w, "%sno tunnel: %v\n", label, firstLine(err))
			for _, t := range tunnels {
				if t != nil {
					t.Close()
				}
			}
			return
		}
		defer tunnels[i].Close()
	}
	opener, acceptor := tunnels[0], tunnels[1]
	msg := "hello over QUIC from " + pair[0]
	go func() {
		if st, err := opener.Open(ctx); err == nil {
			st.Write([]byte(msg))
			st.Close()
		}
	}()
	st, err := acceptor.Accept(ctx)
	if err != nil {
		fmt.Fprintf(w, "%stunnel up, but no stream: %v\n", label, err)
		return
	}
	buf := make([]byte, len(msg))
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(st, buf); err != nil {
		fmt.Fprintf(w, "%stunnel up, but the message did not arrive: %v\n", label, err)
		return
	}
	fmt.Fprintf(w, "%stunnel up in %v (QUIC over the punched UDP socket, key-authenticated); %s received %q\n",
		label, time.Since(start).Round(time.Millisecond), pair[1], buf)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func printReport(w io.Writer, who string, r *stun.Report) {
	fmt.Fprintf(w, "   %s: local %s, public %s\n", who, r.Local, r.Public)
	fmt.Fprintf(w, "     mapping %s, filtering %s, port preserved %v -> %s (%s)\n",
		r.Mapping, r.Filtering, r.PortPreserving, r.Class, r.Class.Description())
	fmt.Fprintf(w, "     %s\n", r.Advice)
}
