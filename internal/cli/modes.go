package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/punchkit/punch/forward"
	"github.com/punchkit/punch/rendezvous"
)

// pipeOptions are the flags of every command that connects to a peer
// directly: the family, and what to do with the connection (pipe, send,
// receive, forward).
type pipeOptions struct {
	ipv4, ipv6    bool
	send, receive bool
	connect       string
	listen        string
	key           string
}

func (o *pipeOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVarP(&o.ipv4, "ipv4", "4", false, "use IPv4 only")
	f.BoolVarP(&o.ipv6, "ipv6", "6", false, "use IPv6 only")
	f.BoolVarP(&o.send, "send", "s", false, "send only: standard input to the peer")
	f.BoolVarP(&o.receive, "receive", "r", false, "receive only: the peer to standard output")
	f.StringVarP(&o.connect, "connect", "c", "", "forward connections from the peer to [HOST:]PORT")
	f.StringVarP(&o.listen, "listen", "l", "", "forward connections to local [BIND:]PORT to the peer")
}

// check rejects contradictory flags.
func (o *pipeOptions) check() error {
	switch {
	case o.ipv4 && o.ipv6:
		return errors.New("-4 and -6 exclude each other")
	case o.send && o.receive:
		return errors.New("-s and -r exclude each other")
	case o.connect != "" && o.listen != "":
		return errors.New("-c and -l exclude each other: -c on the side with the service, -l on the other")
	case (o.connect != "" || o.listen != "") && (o.send || o.receive):
		return errors.New("-s and -r are for standard input and output, not for forwarding")
	}
	if err := checkAddr("-c", o.connect, false); err != nil {
		return err
	}
	return checkAddr("-l", o.listen, true)
}

// checkAddr rejects a -c or -l value that is not [HOST:]PORT, before the
// punch rather than at the first forwarded connection. Port 0 (any free
// port) is allowed where zeroOK, for -l.
func checkAddr(flag, value string, zeroOK bool) error {
	if value == "" {
		return nil
	}
	_, p, err := net.SplitHostPort(localAddr(value))
	if err != nil {
		return fmt.Errorf("%s %q: want [HOST:]PORT", flag, value)
	}
	port, err := net.LookupPort("tcp", p)
	if err != nil || (port == 0 && !zeroOK) {
		return fmt.Errorf("%s %q: the port must be a number from 1 to 65535 or a service name", flag, value)
	}
	return nil
}

// peerOptions are the flags that punch tcp and punch udp share: those of
// pipeOptions, the rendezvous server, the local address and the punch's
// timeout.
type peerOptions struct {
	pipeOptions
	server  string
	port    int
	bind    string
	timeout time.Duration
}

func (o *peerOptions) addFlags(f *pflag.FlagSet) {
	o.pipeOptions.addFlags(f)
	f.StringVarP(&o.server, "server", "T", "", "rendezvous server host (default $"+serverEnv+")")
	f.IntVarP(&o.port, "port", "P", rendezvous.DefaultPort, "rendezvous server port")
	f.StringVarP(&o.bind, "bind", "H", "", "local address to bind to")
	f.StringVar(&o.key, "key", "", "the key, when no rendezvous server is used")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up punching after this long")
}

// check rejects contradictory flags.
func (o *peerOptions) check() error {
	if err := o.pipeOptions.check(); err != nil {
		return err
	}
	switch {
	case o.timeout <= 0:
		return errors.New("--timeout must be positive")
	case o.port <= 0 || o.port > 65535:
		return errors.New("ports are 1 to 65535")
	}
	return nil
}

// family returns "4", "6" or "" for -4, -6 or neither.
func (o *pipeOptions) family() string {
	switch {
	case o.ipv4:
		return "4"
	case o.ipv6:
		return "6"
	}
	return ""
}

// bindAddr parses -H.
func (o *peerOptions) bindAddr() (netip.Addr, error) {
	if o.bind == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(o.bind)
	if err != nil {
		return netip.Addr{}, usageError{fmt.Errorf("-H %q: not an IP address", o.bind)}
	}
	return a, nil
}

// serverHost returns -T or $PUNCH_SERVER.
func (o *peerOptions) serverHost() string {
	if o.server != "" {
		return o.server
	}
	return os.Getenv(serverEnv)
}

// direction returns the pipe direction of -s and -r.
func (o *pipeOptions) direction() forward.Direction {
	switch {
	case o.send:
		return forward.SendOnly
	case o.receive:
		return forward.ReceiveOnly
	}
	return forward.Duplex
}

// forwarding runs -c or -l over a session and reports true, or reports
// false when neither was given.
func (o *pipeOptions) forwarding(ctx context.Context, m forward.Mux, log *slog.Logger) (bool, error) {
	switch {
	case o.connect != "":
		return true, forward.Serve(ctx, m, localAddr(o.connect), log)
	case o.listen != "":
		ln, err := net.Listen("tcp", localAddr(o.listen))
		if err != nil {
			return true, fmt.Errorf("-l %s: %w", o.listen, err)
		}
		fmt.Fprintf(os.Stderr, "punch: forwarding connections to %v to the peer\n", ln.Addr())
		return true, forward.Listen(ctx, m, ln, log)
	}
	return false, nil
}

// serveStream runs the chosen mode over a stream connection: the pipe, or
// forwarding over a yamux session whose client is the initiator.
func (o *pipeOptions) serveStream(ctx context.Context, conn net.Conn, initiator bool, g *globals) error {
	if o.connect == "" && o.listen == "" {
		return forward.Pipe(ctx, conn, os.Stdin, os.Stdout, o.direction())
	}
	log := g.debugLogger(os.Stderr)
	mux, err := forward.Yamux(conn, initiator, log)
	if err != nil {
		return err
	}
	defer mux.Close()
	_, err = o.forwarding(ctx, mux, log)
	return err
}

// localAddr turns a bare port into a loopback address.
func localAddr(s string) string {
	if _, err := strconv.Atoi(s); err == nil {
		return "127.0.0.1:" + s
	}
	return s
}
