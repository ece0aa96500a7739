package cli

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch"
	"github.com/punchkit/punch/forward"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/stun"
)

func init() { subcommands = append(subcommands, newConnectCmd) }

type connectOptions struct {
	peerOptions
	stunPort   int
	path       string
	relayGrace time.Duration
}

func newConnectCmd(g *globals) *cobra.Command {
	o := &connectOptions{}
	cmd := &cobra.Command{
		Use:   "connect [flags] [KEY]",
		Short: "Connect to a peer by whichever path works: TCP or UDP punching, or the relay",
		Long: `connect reaches the peer that runs it with the same KEY by every path at
once and keeps the first that works: a plain connection to a side that has
no NAT (reverse), TCP simultaneous open, UDP hole punching with a QUIC
tunnel (with port prediction and the birthday technique for symmetric
NATs), and, when none has worked after a grace period (--relay-grace), the
punch server's relay; a relayed session moves to a direct UDP path when
one gets through later. Both sides meet at the
punch server (-T, or $` + serverEnv + `); without KEY, one is generated
and printed for the other side.

Every path is encrypted and authenticated with the key end to end: the
server and the relay see only ciphertext. A status line says which path
won, and what became of the others. --path forces one path.

Modes, as in punch tcp and punch udp: standard input and output (-s send
only, -r receive only); -c [HOST:]PORT on the side that has a service
connects every connection from the peer there; -l [BIND:]PORT on the other
side forwards every connection to local PORT to the peer.`,
		Example: `  A$ punch connect -c localhost:22 -T rv.example.net      # prints a key
  B$ punch connect -l 2222 -T rv.example.net KEY & ssh -p 2222 user@localhost

  A$ punch connect -s -T rv.example.net KEY < file
  B$ punch connect -r -T rv.example.net KEY > file`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args) },
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.IntVar(&o.stunPort, "stun-port", stun.DefaultPort, "STUN port on the server's host")
	f.StringVar(&o.path, "path", "", "use only this path: reverse, tcp, udp or relay")
	f.DurationVar(&o.relayGrace, "relay-grace", punch.DefaultRelayGrace, "how long direct paths run alone before the relay joins")
	return cmd
}

func (o *connectOptions) config(args []string) (*punch.Config, string, error) {
	if err := o.peerOptions.check(); err != nil {
		return nil, "", err
	}
	c := &punch.Config{STUNPort: o.stunPort, RelayGrace: o.relayGrace, Timeout: o.timeout}
	switch {
	case o.stunPort <= 0 || o.stunPort > 65535:
		return nil, "", fmt.Errorf("--stun-port %d: want 1 to 65535", o.stunPort)
	case o.relayGrace <= 0:
		return nil, "", fmt.Errorf("--relay-grace %v: want a positive duration", o.relayGrace)
	case len(args) > 1:
		return nil, "", fmt.Errorf("too many arguments %q: want at most a KEY", args)
	case o.key != "" && len(args) == 1:
		return nil, "", fmt.Errorf("the key is given twice (--key and %q)", args[0])
	}
	if o.path != "" {
		p, err := punch.ParsePath(o.path)
		if err != nil {
			return nil, "", fmt.Errorf("--path %q: want one of %q", o.path, punch.Paths)
		}
		c.Paths = []punch.Path{p}
	}
	server := o.serverHost()
	if server == "" {
		return nil, "", fmt.Errorf("no punch server: pass -T HOST or set %s (run one with `punch server`)", serverEnv)
	}
	c.Server = net.JoinHostPort(strings.Trim(server, "[]"), strconv.Itoa(o.port))
	if o.family() != "" {
		c.Network = "ip" + o.family()
	}
	var err error
	if c.Bind, err = o.bindAddr(); err != nil {
		return nil, "", err
	}
	key := o.key
	if len(args) == 1 {
		key = args[0]
	}
	if key != "" {
		if err := secure.ValidateKey(key); err != nil {
			return nil, "", err
		}
	}
	return c, key, nil
}

func (o *connectOptions) run(cmd *cobra.Command, g *globals, args []string) error {
	c, key, err := o.config(args)
	if err != nil {
		return usageError{err}
	}
	stderr := cmd.ErrOrStderr()
	c.Logger = g.debugLogger(stderr)
	c.Status = func(msg string) { fmt.Fprintf(stderr, "punch: %s\n", msg) }
	if key == "" {
		key = secure.NewKey()
		c.Status("generated key: " + key + "   (run the other side with this key)")
	}
	ctx := cmd.Context()
	s, err := punch.Connect(ctx, key, c)
	if err != nil {
		return err
	}
	defer s.Close()
	if ok, err := o.forwarding(ctx, s, c.Logger); ok {
		return err
	}
	return forward.PipeMux(ctx, s, s.Leader(), os.Stdin, os.Stdout, o.direction(), 10*time.Second)
}
