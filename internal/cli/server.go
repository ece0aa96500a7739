package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/relay"
	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/stunserver"
)

func init() { subcommands = append(subcommands, newServerCmd) }

// serverOptions are the flags of `punch server`.
type serverOptions struct {
	ips        []string
	altIPs     []string
	stunPort   int
	altPort    int
	noTCP      bool
	tcpTimeout time.Duration

	rendezvousPort  int
	waitTimeout     time.Duration
	maxWaitingPerIP int
	noRendezvous    bool

	relayPort int
	pairPort  int
	kernelFwd bool
	noRelay   bool

	// relayIPs are the addresses the relay serves and relays from, set
	// by checkRelay: the --ip addresses, or the host's global ones.
	relayIPs []netip.Addr

	// relayIssuer makes the credentials the relays accept: one random
	// secret per process, so the rendezvous server that hands
	// credentials to paired peers must use this very Issuer. Set by run
	// before any service opens; nil when no relay runs.
	relayIssuer *relay.Issuer
}

func newServerCmd(g *globals) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the punch servers: STUN (RFC 8489, RFC 5780), rendezvous (T-STUN) and relay (TURN)",
		Long: `server runs the infrastructure that punch clients use to find their way
through NATs, in one process: a STUN server, a rendezvous server and a
relay.

The STUN server answers Binding requests over UDP and TCP on port 3478 with
the client's public address (XOR-MAPPED-ADDRESS and MAPPED-ADDRESS), and
answers classic RFC 3489 clients too. Given a second IP address with
--alt-ip, it also serves RFC 5780 NAT behaviour discovery: it listens on two
ports (--stun-port and --alt-port) on both addresses, tells clients the other
address (OTHER-ADDRESS), and answers a CHANGE-REQUEST from the other IP
and/or port, which lets a client tell how its NAT maps and filters. Both
addresses must belong to this host and reach the internet directly (not
through a NAT).

The STUN server never answers with more than a small fixed number of bytes
on top of the request, and drops anything that is not a STUN Binding
request, so it cannot be used to amplify attacks.

The rendezvous server (T-STUN) pairs the two peers of a session on TCP port
3477 of the same addresses: each sends the same key (punch clients send a
token derived from it, never the key), and once both are there each learns
the other's public address and port, to punch from the port it reached the
server from. It speaks the legacy T-STUN protocol (a 32-byte key, answered
with "IP PORT") and punch's own versioned protocol (docs/rendezvous.md). A
peer waits at most --wait-timeout for the other; at most
--max-waiting-per-ip sessions wait from one IPv4 address or IPv6 /64; a
key that has just paired is refused to a third client for 30 s. The server
answers once per connection and closes it; it speaks TCP only, so it cannot
be used to reflect or amplify attacks either.

The relay (TURN, RFC 8656, over UDP) carries the traffic of two peers that
no direct technique connects, on UDP port 3480 (--relay-port) of each --ip
address (without --ip: of each global address of the host), relaying from
that same address. Only peers the rendezvous server paired can use it: it
gives each time-limited credentials signed with a secret drawn when the
server starts (docs/relay.md). The relay carries only the peers'
end-to-end encrypted tunnel, which it cannot read. One set of credentials
holds at most 4 allocations on each address, and each address at most
10,000; the relay relays only to public addresses, never into its own
network. On UDP port 3481 (--pair-port; 0 for none) of the same addresses,
the pair relay takes the same credentials from punch's own clients and
forwards each pair's datagrams as they are, several times faster than
TURN; where the host forwards IP (sysctl net.ipv4.ip_forward) and punch
runs as root with nft, it has the kernel forward them (--kernel-forward).

It prints one line per listening address to stderr and runs until
interrupted (Ctrl-C).`,
		Example: `  # STUN on port 3478 of every address, UDP and TCP, IPv4 and IPv6,
  # rendezvous on port 3477, TCP, and the relays on ports 3480 and 3481, UDP
  punch server

  # RFC 5780: two public IPs, ports 3478 and 3479 on each
  punch server --ip 203.0.113.5 --alt-ip 203.0.113.6

  # the same over IPv6 and IPv4 at once
  punch server --ip 203.0.113.5 --alt-ip 203.0.113.6 \
      --ip 2001:db8::5 --alt-ip 2001:db8::6

  # UDP only, on another port, debug logs
  punch server -v --ip 192.0.2.1 --stun-port 19302 --no-tcp

  # rendezvous on another port, peers wait up to two minutes
  punch server --rendezvous-port 8477 --wait-timeout 2m

  # the relay on another port
  punch server --relay-port 3490

  # STUN only
  punch server --no-rendezvous --no-relay`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("server takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), g.logger(cmd.ErrOrStderr()), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.ips, "ip", nil, "address to serve on, repeatable (default: all addresses, 0.0.0.0 and ::)")
	f.StringSliceVar(&o.altIPs, "alt-ip", nil, "second address of this host: enables RFC 5780 with the --ip of the same family, repeatable once per family")
	f.IntVar(&o.stunPort, "stun-port", stunserver.DefaultPort, "STUN port, UDP and TCP")
	f.IntVar(&o.altPort, "alt-port", 0, "second STUN port, with --alt-ip (default: --stun-port + 1)")
	f.BoolVar(&o.noTCP, "no-tcp", false, "serve STUN over UDP only")
	f.DurationVar(&o.tcpTimeout, "tcp-timeout", stunserver.DefaultTCPIdleTimeout, "drop a STUN TCP client that takes longer than this to send a request")
	f.IntVar(&o.rendezvousPort, "rendezvous-port", rendezvous.DefaultPort, "rendezvous (T-STUN) port, TCP")
	f.DurationVar(&o.waitTimeout, "wait-timeout", rendezvous.DefaultWaitTimeout, "how long a rendezvous client waits for its peer")
	f.IntVar(&o.maxWaitingPerIP, "max-waiting-per-ip", rendezvous.DefaultMaxWaitingPerIP, "rendezvous sessions that may wait at once from one IPv4 address or IPv6 /64")
	f.BoolVar(&o.noRendezvous, "no-rendezvous", false, "run no rendezvous server")
	f.IntVar(&o.relayPort, "relay-port", relay.DefaultPort, "relay (TURN) port, UDP")
	f.IntVar(&o.pairPort, "pair-port", relay.DefaultPairPort, "pair relay port, UDP (0: run no pair relay, only TURN)")
	f.BoolVar(&o.kernelFwd, "kernel-forward", true, "have the kernel forward the pair relay's datagrams where the host allows (root, nft, IP forwarding on)")
	f.BoolVar(&o.noRelay, "no-relay", false, "run no relay")
	return cmd
}

// service is one server that `punch server` runs, its sockets open. serve
// blocks until ctx is cancelled and then releases everything it holds;
// close releases it all without serving.
type service struct {
	name  string
	serve func(ctx context.Context) error
	close func()
}

// run opens every service's sockets, so that a bad flag or a busy port
// fails before anything runs, then serves them all until ctx is cancelled.
// A new server (rendezvous, relay) adds its opener to the list.
func (o *serverOptions) run(ctx context.Context, log *slog.Logger, stderr io.Writer) error {
	openers := []func(context.Context, *slog.Logger, io.Writer) (service, error){
		o.stunService,
	}
	if !o.noRelay {
		if err := o.checkRelay(); err != nil {
			return err
		}
		if len(o.relayIPs) == 0 {
			fmt.Fprintln(stderr, "relay: not started: this host has no global address to relay from (give --ip)")
		} else {
			o.relayIssuer = relay.NewIssuer(nil, 0)
			openers = append(openers, o.relayService)
		}
	}
	if !o.noRendezvous {
		if err := o.checkRendezvous(); err != nil {
			return err
		}
		openers = append(openers, o.rendezvousService)
	}
	var services []service
	for _, open := range openers {
		s, err := open(ctx, log, stderr)
		if err != nil {
			for _, s := range services {
				s.close()
			}
			return err
		}
		services = append(services, s)
	}
	return runServices(ctx, services)
}

// stunService validates the STUN flags, opens the STUN sockets and prints
// their addresses.
func (o *serverOptions) stunService(ctx context.Context, log *slog.Logger, stderr io.Writer) (service, error) {
	lc, err := o.listenConfig()
	if err != nil {
		return service{}, err
	}
	ss, err := stunserver.Listen(ctx, lc)
	if errors.Is(err, stunserver.ErrBadConfig) {
		return service{}, usageError{err}
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return service{}, fmt.Errorf("stun: %w (another server has the port: stop it or pick another --stun-port)", err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return service{}, fmt.Errorf("stun: %w (--ip and --alt-ip must be addresses of this host)", err)
	case err != nil:
		return service{}, fmt.Errorf("stun: %w", err)
	}
	for _, g := range ss.UDP {
		for _, sk := range g {
			role := ""
			if len(g) > 1 {
				role = " (" + sk.Role.String() + ")"
			}
			fmt.Fprintf(stderr, "stun: listening on udp %v%s\n", sk.Conn.LocalAddr(), role)
		}
	}
	for _, ln := range ss.TCP {
		fmt.Fprintf(stderr, "stun: listening on tcp %v\n", ln.Addr())
	}
	srv := stunserver.New(&stunserver.Config{
		Software:       "punch " + Version,
		TCPIdleTimeout: o.tcpTimeout,
		Logger:         log,
	})
	return service{
		name: "stun",
		serve: func(ctx context.Context) error {
			defer srv.Close()
			return srv.Serve(ctx, ss)
		},
		close: func() { ss.Close() },
	}, nil
}

// checkRendezvous validates the rendezvous flags.
func (o *serverOptions) checkRendezvous() error {
	if o.rendezvousPort < 1 || o.rendezvousPort > 65535 {
		return usageError{fmt.Errorf("--rendezvous-port %d: want a port from 1 to 65535", o.rendezvousPort)}
	}
	if !o.noTCP {
		altPort := o.altPort
		if altPort == 0 && len(o.altIPs) > 0 {
			altPort = o.stunPort + 1
		}
		if o.rendezvousPort == o.stunPort || o.rendezvousPort == altPort {
			return usageError{fmt.Errorf("--rendezvous-port %d is a STUN port, which STUN serves over TCP too: pick another (or --no-tcp)", o.rendezvousPort)}
		}
	}
	if o.waitTimeout <= 0 {
		return usageError{fmt.Errorf("--wait-timeout %v: want a positive duration", o.waitTimeout)}
	}
	if o.maxWaitingPerIP < 1 {
		return usageError{fmt.Errorf("--max-waiting-per-ip %d: want at least 1", o.maxWaitingPerIP)}
	}
	return nil
}

// rendezvousService opens the rendezvous listeners, on the --ip addresses
// or every address, and prints their addresses.
func (o *serverOptions) rendezvousService(ctx context.Context, log *slog.Logger, stderr io.Writer) (service, error) {
	ips, err := parseIPs("--ip", o.ips)
	if err != nil {
		return service{}, err
	}
	lns, err := rendezvous.Listen(ctx, ips, o.rendezvousPort)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return service{}, fmt.Errorf("%w (another server has the port: stop it or pick another --rendezvous-port)", err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return service{}, fmt.Errorf("%w (--ip must be addresses of this host)", err)
	case err != nil:
		return service{}, err
	}
	for _, ln := range lns {
		fmt.Fprintf(stderr, "rendezvous: listening on tcp %v\n", ln.Addr())
	}
	if on, known := rendezvous.FastOpen(); known && !on {
		fmt.Fprintf(stderr, "rendezvous: TCP Fast Open is off for listeners on this host; `sysctl -w net.ipv4.tcp_fastopen=3` saves clients a round trip\n")
	}
	srv := rendezvous.New(&rendezvous.Config{
		WaitTimeout:     o.waitTimeout,
		MaxWaitingPerIP: o.maxWaitingPerIP,
		Grant:           o.grant(),
		Logger:          log,
	})
	return service{
		name: "rendezvous",
		serve: func(ctx context.Context) error {
			defer srv.Close()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errs := make(chan error, len(lns))
			for _, ln := range lns {
				go func() { errs <- srv.Serve(ctx, ln) }()
			}
			var first error
			for range lns {
				if err := <-errs; err != nil && ctx.Err() == nil {
					first = err
					cancel() // one listener failed: stop the others
				}
			}
			return first
		},
		close: func() {
			for _, ln := range lns {
				ln.Close()
			}
		},
	}, nil
}

// grant returns the rendezvous server's hook that hands paired connect
// clients credentials for the relay (the first relay address of each
// family), or nil when no relay runs.
func (o *serverOptions) grant() func(rendezvous.Kind, string) *rendezvous.Grant {
	if o.relayIssuer == nil {
		return nil
	}
	var addrs, pairs []netip.AddrPort
	for _, is4 := range []bool{true, false} {
		for _, ip := range o.relayIPs {
			if ip.Is4() == is4 {
				addrs = append(addrs, netip.AddrPortFrom(ip, uint16(o.relayPort)))
				if o.pairPort != 0 {
					pairs = append(pairs, netip.AddrPortFrom(ip, uint16(o.pairPort)))
				}
				break
			}
		}
	}
	return func(kind rendezvous.Kind, token string) *rendezvous.Grant {
		if kind != rendezvous.KindConnect && kind != rendezvous.KindRelay {
			return nil
		}
		c := o.relayIssuer.Issue(token)
		return &rendezvous.Grant{Addrs: addrs, Username: c.Username, Password: c.Password, Pair: pairs}
	}
}

// checkRelay validates the relay flags and sets relayIPs.
func (o *serverOptions) checkRelay() error {
	if o.relayPort < 1 || o.relayPort > 65535 {
		return usageError{fmt.Errorf("--relay-port %d: want a port from 1 to 65535", o.relayPort)}
	}
	altPort := o.altPort
	if altPort == 0 && len(o.altIPs) > 0 {
		altPort = o.stunPort + 1
	}
	if o.relayPort == o.stunPort || o.relayPort == altPort {
		return usageError{fmt.Errorf("--relay-port %d is a STUN port, UDP too: pick another", o.relayPort)}
	}
	switch {
	case o.pairPort < 0 || o.pairPort > 65535:
		return usageError{fmt.Errorf("--pair-port %d: want a port from 1 to 65535, or 0 for none", o.pairPort)}
	case o.pairPort != 0 && (o.pairPort == o.stunPort || o.pairPort == altPort || o.pairPort == o.relayPort):
		return usageError{fmt.Errorf("--pair-port %d is the STUN or the TURN port, UDP too: pick another", o.pairPort)}
	}
	ips, err := parseIPs("--ip", o.ips)
	if err != nil {
		return err
	}
	if len(ips) == 0 {
		if ips, err = globalAddrs(); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	o.relayIPs = ips
	return nil
}

// globalAddrs returns the global unicast addresses of the host's
// interfaces.
func globalAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	var ips []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() {
			ips = append(ips, p.Addr())
		}
	}
	return ips, nil
}

// relayService opens a TURN relay and a pair relay on each relay
// address, all checking credentials with relayIssuer, and prints their
// addresses.
func (o *serverOptions) relayService(ctx context.Context, log *slog.Logger, stderr io.Writer) (service, error) {
	var servers []io.Closer
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	var lc net.ListenConfig
	for _, ip := range o.relayIPs {
		network := "udp6"
		if ip.Is4() {
			network = "udp4"
		}
		flag := "--relay-port"
		pc, err := lc.ListenPacket(ctx, network, netip.AddrPortFrom(ip, uint16(o.relayPort)).String())
		if err == nil {
			var s *relay.Server
			if s, err = relay.NewServer(pc, &relay.ServerConfig{Issuer: o.relayIssuer, Logger: log}); err == nil {
				servers = append(servers, s)
				fmt.Fprintf(stderr, "relay: listening on udp %v (TURN)\n", s.Addr())
				if o.pairPort == 0 {
					continue
				}
				flag = "--pair-port"
				if pc, err = lc.ListenPacket(ctx, network, netip.AddrPortFrom(ip, uint16(o.pairPort)).String()); err == nil {
					var ps *relay.PairServer
					if ps, err = relay.NewPairServer(pc, &relay.PairConfig{Issuer: o.relayIssuer, Kernel: o.kernelFwd, Logger: log}); err == nil {
						servers = append(servers, ps)
						fmt.Fprintf(stderr, "relay: listening on udp %v (pair relay)\n", ps.Addr())
						continue
					}
				}
			}
		}
		closeAll()
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return service{}, fmt.Errorf("relay: %w (another server has the port: stop it or pick another %s)", err, flag)
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return service{}, fmt.Errorf("relay: %w (--ip must be addresses of this host)", err)
		}
		return service{}, fmt.Errorf("relay: %w", err)
	}
	return service{
		name: "relay",
		serve: func(ctx context.Context) error {
			<-ctx.Done()
			closeAll()
			return nil
		},
		close: closeAll,
	}, nil
}

// listenConfig turns the STUN flags into a stunserver.ListenConfig.
func (o *serverOptions) listenConfig() (*stunserver.ListenConfig, error) {
	lc := &stunserver.ListenConfig{NoTCP: o.noTCP}
	var err error
	if lc.IPs, err = parseIPs("--ip", o.ips); err != nil {
		return nil, err
	}
	if lc.AltIPs, err = parseIPs("--alt-ip", o.altIPs); err != nil {
		return nil, err
	}
	if o.stunPort < 1 || o.stunPort > 65535 {
		return nil, usageError{fmt.Errorf("--stun-port %d: want a port from 1 to 65535", o.stunPort)}
	}
	lc.Port = o.stunPort
	if o.altPort != 0 {
		if len(o.altIPs) == 0 {
			return nil, usageError{errors.New("--alt-port needs --alt-ip: the second port serves RFC 5780 only")}
		}
		if o.altPort < 1 || o.altPort > 65535 || o.altPort == o.stunPort {
			return nil, usageError{fmt.Errorf("--alt-port %d: want a port from 1 to 65535 other than --stun-port", o.altPort)}
		}
		lc.AltPort = o.altPort
	} else if len(o.altIPs) > 0 && o.stunPort == 65535 {
		return nil, usageError{errors.New("--stun-port 65535 leaves no room for the second port: set --alt-port")}
	}
	for _, alt := range lc.AltIPs {
		for _, ip := range lc.IPs {
			if ip.Unmap() == alt.Unmap() {
				return nil, usageError{fmt.Errorf("--alt-ip %v is also given as --ip: the alternate address must be a second address of this host", alt)}
			}
		}
	}
	if len(lc.AltIPs) > 0 && len(lc.IPs) == 0 {
		return nil, usageError{errors.New("--alt-ip needs --ip: give the primary address of the same family")}
	}
	if o.tcpTimeout <= 0 {
		return nil, usageError{fmt.Errorf("--tcp-timeout %v: want a positive duration", o.tcpTimeout)}
	}
	return lc, nil
}

// parseIPs parses the values of an IP flag.
func parseIPs(flag string, values []string) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, v := range values {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s %q: not an IP address", flag, v)}
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

// runServices runs every service until ctx is cancelled, or until one of
// them fails, which stops the others. It returns nil after cancellation,
// and the first failure otherwise.
func runServices(ctx context.Context, services []service) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.serve(ctx)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s server: %w", s.name, err)
				}
				mu.Unlock()
			}
			cancel()
		}()
	}
	wg.Wait()
	if first == nil && parent.Err() == nil {
		// every service returned without failing or being cancelled
		return errors.New("servers stopped unexpectedly")
	}
	return first
}
