package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/forward"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/udppunch"
)

func init() { subcommands = append(subcommands, newUDPCmd) }

// defaultUDPPort is udphp.py's UDP port (seed 002).
const defaultUDPPort = 5555

type udpOptions struct {
	peerOptions
	stunPort int
	debug    bool
}

func newUDPCmd(g *globals) *cobra.Command {
	o := &udpOptions{}
	cmd := &cobra.Command{
		Use:   "udp [flags] [KEY] | udp -c|-l TCP_PORT PEER_IP [UDP_PORT]",
		Short: "Connect to a peer by UDP hole punching, with a QUIC tunnel",
		Long: `udp connects two hosts behind NATs or firewalls by UDP hole punching and
runs an encrypted QUIC tunnel over the punched path, authenticated with the
key: reliable, congestion controlled, many TCP connections at once (a
stream each).

With a rendezvous server (-T, or $` + serverEnv + `), both sides run it with the same KEY
(without KEY one is generated and printed). Each learns the public address
of its UDP socket from the STUN server next to the rendezvous server, so it
works behind NATs that do not keep the local port.

Without a server, as udphp.py (seed 002) takes its arguments: both sides
bind the same UDP port (default 5555) and name the other's public address;
this works behind NATs that keep the local port. The key is then --key, or
one derived from the UDP port, which is not secret: pass --key.

Modes: -c [HOST:]PORT on the side with the service connects every
connection from the peer there; -l [BIND:]PORT on the other side forwards
every connection to local PORT to the peer; with neither, standard input
and output as in punch tcp (-s send only, -r receive only).`,
		Example: `  # seed-compatible: VNC on the server side, client side listens on 5901
  server$ punch udp -c 5901 CLIENT_PUBLIC_IP
  client$ punch udp -l 5901 SERVER_PUBLIC_IP

  # with a rendezvous server
  A$ punch udp -c localhost:22 -T rv.example.net          # prints a key
  B$ punch udp -l 2222 -T rv.example.net KEY & ssh -p 2222 user@localhost
  A$ punch udp -s -T rv.example.net KEY < file
  B$ punch udp -r -T rv.example.net KEY > file`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args) },
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.IntVar(&o.stunPort, "stun-port", stun.DefaultPort, "STUN port on the rendezvous server's host")
	f.BoolVarP(&o.debug, "debug", "d", false, "print debug logs to stderr (as -v)")
	return cmd
}

func (o *udpOptions) check() error {
	if err := o.peerOptions.check(); err != nil {
		return err
	}
	if o.stunPort <= 0 || o.stunPort > 65535 {
		return errors.New("ports are 1 to 65535")
	}
	return nil
}

func (o *udpOptions) run(cmd *cobra.Command, g *globals, args []string) error {
	if err := o.check(); err != nil {
		return usageError{err}
	}
	if o.debug {
		g.verbose = true
	}
	stderr := cmd.ErrOrStderr()
	status := func(format string, a ...any) { fmt.Fprintf(stderr, "punch: "+format+"\n", a...) }
	opts := session.Options{Network: "udp" + o.family(), Timeout: o.timeout, Logger: g.debugLogger(stderr), Status: status}
	bind, err := o.bindAddr()
	if err != nil {
		return err
	}
	opts.Bind = bind
	server := o.serverHost()
	ctx := cmd.Context()
	var t *session.Tunnel
	if peer, port, ok, perr := o.serverless(args, server); perr != nil {
		return usageError{perr}
	} else if ok {
		opts.Key = o.key
		if opts.Key == "" {
			opts.Key = "punch-udp-" + strconv.Itoa(port)
			status("no --key: using a key derived from the port, which is not secret (pass --key on both sides)")
		}
		t, err = session.UDPDirect(ctx, peer, port, opts)
	} else {
		if server == "" {
			return usageError{fmt.Errorf("no rendezvous server: pass -T HOST or set %s, or name the peer's public IP (serverless mode)", serverEnv)}
		}
		if len(args) > 1 {
			return usageError{fmt.Errorf("too many arguments %q: want at most a KEY", args)}
		}
		if len(args) == 1 {
			opts.Key = args[0]
			if err := secure.ValidateKey(opts.Key); err != nil {
				return usageError{err}
			}
		} else {
			opts.Key = secure.NewKey()
			status("generated key: %s   (run the other side with this key)", opts.Key)
		}
		t, err = session.UDP(ctx, net.JoinHostPort(server, strconv.Itoa(o.port)), o.stunPort, opts)
	}
	if err != nil {
		if errors.Is(err, udppunch.ErrTimeout) {
			return fmt.Errorf("%w\nThe peer did not answer: check that it runs with the same key and server; a symmetric NAT (NAT4) on both sides needs a relay", err)
		}
		return err
	}
	defer t.Close()
	role := "responder"
	if t.Initiator {
		role = "initiator"
	}
	status("connected to %v as the %s (UDP, QUIC tunnel, encrypted) in %v", t.Peer, role, t.Punched.Round(time.Millisecond))
	return o.serve(ctx, t, g)
}

// serverless reports whether the arguments ask for the seed's serverless
// mode: PEER_IP [UDP_PORT] with -c or -l (or --key), and no server.
func (o *udpOptions) serverless(args []string, server string) (netip.Addr, int, bool, error) {
	if len(args) == 0 {
		return netip.Addr{}, 0, false, nil
	}
	ip, err := netip.ParseAddr(args[0])
	if err != nil {
		return netip.Addr{}, 0, false, nil // a key
	}
	if len(args) > 2 {
		return netip.Addr{}, 0, false, fmt.Errorf("too many arguments: want PEER_IP [UDP_PORT]")
	}
	port := defaultUDPPort
	if len(args) == 2 {
		if port, err = strconv.Atoi(args[1]); err != nil || port <= 0 || port > 65535 {
			return netip.Addr{}, 0, false, fmt.Errorf("UDP port %q: want 1 to 65535", args[1])
		}
	}
	return ip.Unmap(), port, true, nil
}

// serve runs the chosen mode over the tunnel: forwarding, or standard
// input and output over one stream, opened by the initiator.
func (o *udpOptions) serve(ctx context.Context, t *session.Tunnel, g *globals) error {
	if ok, err := o.forwarding(ctx, t, g.debugLogger(os.Stderr)); ok {
		return err
	}
	return forward.PipeMux(ctx, t, t.Initiator, os.Stdin, os.Stdout, o.direction(), 10*time.Second)
}
