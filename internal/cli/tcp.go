package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/tcppunch"
)

func init() { subcommands = append(subcommands, newTCPCmd) }

// serverEnv names the environment variable with the default rendezvous
// server host.
const serverEnv = "PUNCH_SERVER"

type tcpOptions struct {
	peerOptions
	plain      bool
	sourcePort int
}

func newTCPCmd(g *globals) *cobra.Command {
	o := &tcpOptions{}
	cmd := &cobra.Command{
		Use:   "tcp [flags] [KEY] | tcp --source-port PORT [flags] HOST PORT",
		Short: "Connect to a peer by TCP hole punching (simultaneous open)",
		Long: `tcp connects two hosts behind NATs or firewalls by TCP simultaneous open.
Both sides run it with the same KEY; they meet at a rendezvous server
(punch server, T-STUN on port 3477), which tells each the other's public
address, and both connect to each other at once from the port the server
saw. Without KEY, a new key is generated and printed for the other side.

The connection is encrypted and authenticated with the key (TLS 1.3 and a
PAKE): a peer that does not know the key is refused before any data flows;
the server never sees the key. --plain turns that off.

Like ncat, it copies standard input to the peer and the peer to standard
output; the end of standard input half-closes the connection, so
"< file" on one side and "> file" on the other copies a file, in both
directions at once if both sides do it. -s sends only, -r receives only.

Port forwarding: -c HOST:PORT on the side that has the service connects
every connection from the peer to HOST:PORT; -l [BIND:]PORT on the other
side forwards every connection to local PORT to the peer. Many
connections share the one punched connection (a stream each).

Manual mode needs no server: both sides name each other's public address
and the port the other binds, as ncat --source-port does; with --plain the
other side can be ncat or socat.`,
		Example: `  # chat; the first side prints a key to give to the second
  punch tcp -T rv.example.net
  punch tcp -T rv.example.net KEY

  # send a file from A to B
  A$ punch tcp -s -T rv.example.net KEY < file
  B$ punch tcp -r -T rv.example.net KEY > file

  # ssh to A through the NATs
  A$ punch tcp -c localhost:22 -T rv.example.net KEY
  B$ punch tcp -l 2222 -T rv.example.net KEY &  ssh -p 2222 user@localhost

  # manual mode, against ncat on the other side
  A$ punch tcp --plain --source-port 12345 HOST_B 54321
  B$ ncat --source-port 54321 HOST_A 12345`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args) },
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.BoolVar(&o.plain, "plain", false, "no encryption: raw TCP, for ncat and socat")
	f.IntVar(&o.sourcePort, "source-port", 0, "manual mode: bind this port and punch to HOST PORT")
	return cmd
}

func (o *tcpOptions) check(args []string) error {
	if err := o.peerOptions.check(); err != nil {
		return err
	}
	switch {
	case o.sourcePort != 0 && len(args) != 2:
		return errors.New("manual mode takes HOST PORT: punch tcp --source-port PORT HOST PORT")
	case o.sourcePort == 0 && len(args) > 1:
		return fmt.Errorf("too many arguments %q: want at most a KEY", args)
	case o.sourcePort < 0 || o.sourcePort > 65535:
		return errors.New("ports are 1 to 65535")
	}
	return nil
}

func (o *tcpOptions) network() string { return "tcp" + o.family() }

func (o *tcpOptions) run(cmd *cobra.Command, g *globals, args []string) error {
	if err := o.check(args); err != nil {
		return usageError{err}
	}
	stderr := cmd.ErrOrStderr()
	status := func(format string, a ...any) { fmt.Fprintf(stderr, "punch: "+format+"\n", a...) }
	opts := session.Options{Plain: o.plain, Network: o.network(), Timeout: o.timeout, Logger: g.debugLogger(stderr), Status: status}
	bind, err := o.bindAddr()
	if err != nil {
		return err
	}
	opts.Bind = bind
	ctx := cmd.Context()
	var s *session.Session
	if o.sourcePort != 0 {
		s, err = o.manual(ctx, args, opts)
	} else {
		s, err = o.rendezvous(ctx, args, opts, status)
	}
	if err != nil {
		return o.explain(ctx, err)
	}
	defer s.Conn.Close()
	how := "encrypted"
	if o.plain {
		how = "plain, not encrypted"
	}
	status("connected to %v (%s) in %v", s.Peer, how, s.Punched.Round(time.Millisecond))
	return o.serveStream(ctx, s.Conn, s.Initiator, g)
}

func (o *tcpOptions) manual(ctx context.Context, args []string, opts session.Options) (*session.Session, error) {
	host, portStr := args[0], args[1]
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, usageError{fmt.Errorf("port %q: want 1 to 65535", portStr)}
	}
	if !o.plain && o.key == "" {
		return nil, usageError{errors.New("manual mode needs --key KEY (the same on both sides), or --plain")}
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[o.network()], host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("cannot resolve %q: %v", host, err)
	}
	remote := netip.AddrPortFrom(ips[0].Unmap(), uint16(port))
	local := opts.Bind
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
		if remote.Addr().Is6() {
			local = netip.IPv6Unspecified()
		}
	}
	opts.Key = o.key
	return session.Manual(ctx, netip.AddrPortFrom(local, uint16(o.sourcePort)), remote, opts)
}

func (o *tcpOptions) rendezvous(ctx context.Context, args []string, opts session.Options, status func(string, ...any)) (*session.Session, error) {
	server := o.serverHost()
	if server == "" {
		return nil, usageError{fmt.Errorf("no rendezvous server: pass -T HOST or set %s (run one with `punch server`), or use manual mode with --source-port", serverEnv)}
	}
	if len(args) == 1 {
		opts.Key = args[0]
		if err := secure.ValidateKey(opts.Key); err != nil {
			return nil, usageError{err}
		}
	} else {
		opts.Key = secure.NewKey()
		status("generated key: %s   (run the other side with this key)", opts.Key)
	}
	return session.TCP(ctx, net.JoinHostPort(server, strconv.Itoa(o.port)), opts)
}

// explain turns a punching failure into advice.
func (o *tcpOptions) explain(ctx context.Context, err error) error {
	var u usageError
	if errors.As(err, &u) {
		return err
	}
	switch {
	case errors.Is(err, tcppunch.ErrRefused):
		return fmt.Errorf("%w\nThe NAT or firewall in front of the peer (or this host) answers unsolicited SYNs with RST, so TCP simultaneous open cannot work through it; try `punch udp` instead", err)
	case errors.Is(err, tcppunch.ErrTimeout):
		return fmt.Errorf("%w\n%s", err, o.natHint(ctx))
	case errors.Is(err, secure.ErrAuth):
		return fmt.Errorf("%w\nBoth sides must use the same key", err)
	}
	return err
}

// natHint names the NAT in front of this host, measured against the STUN
// server that `punch server` runs next to the rendezvous server.
func (o *tcpOptions) natHint(ctx context.Context) string {
	server := o.serverHost()
	hint := "If either side is behind a symmetric NAT (NAT4), TCP hole punching cannot work; try `punch udp`, which predicts ports, or a relay."
	if server == "" || o.sourcePort != 0 {
		return hint
	}
	network := map[string]string{"tcp": "udp", "tcp4": "udp4", "tcp6": "udp6"}[o.network()]
	addr, err := stun.ResolveServer(ctx, network, server)
	if err != nil {
		return hint
	}
	pc, err := net.ListenPacket(map[bool]string{true: "udp4", false: "udp6"}[addr.Addr().Is4()], ":0")
	if err != nil {
		return hint
	}
	defer pc.Close()
	r, _ := stun.Discover(ctx, pc, addr, &stun.Config{Timeout: 500 * time.Millisecond})
	if r == nil || r.Class == stun.ClassUnknown {
		return hint
	}
	return fmt.Sprintf("This host is behind %s (%s): %s\n%s", r.Class, r.Class.Description(), r.Advice, hint)
}
