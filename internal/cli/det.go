package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/detpunch"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/stun"
)

func init() { subcommands = append(subcommands, newDetCmd) }

type detOptions struct {
	pipeOptions
	plain         bool
	myIP          string
	stunServer    string
	maxClockError time.Duration
	runWindow     time.Duration
	clockOffset   time.Duration
	timeout       time.Duration
	ports         int
}

func newDetCmd(g *globals) *cobra.Command {
	o := &detOptions{}
	cmd := &cobra.Command{
		Use:   "det [flags] PEER_IP",
		Short: "Connect to a peer knowing only its IP: TCP hole punching from a shared clock (seed 001)",
		Long: `det connects two hosts behind NATs with no server of any kind: each side
names the other's public IP, and both derive the rest from their clocks.
Time is cut into buckets (2 × --max-clock-error + 2 s long); each side
takes its bucket and the neighbouring one nearer to its clock, derives
--ports ports from each, and connects from every port to the peer's IP
and the same port, again and again, until a connection comes up. Both
sides must start within --run-window of each other, with clocks less
than --max-clock-error apart, behind NATs that keep the local port as the
public one (port preservation).

The side with the greater IP leads: it picks the connection. This side's
public IP comes from --my-ip, or from a STUN server (--stun).

The connection is encrypted and authenticated (TLS 1.3 and a PAKE) with
--key when given. Without --key, the key is derived from the bucket and
both IPs: that keeps out those who do not know the scheme, not those who
do. --plain turns encryption off.

Once connected it works as punch tcp: standard input and output (-s,
-r), or port forwarding (-c on the side with the service, -l on the
other).`,
		Example: `  # chat: each side names the other
  A$ punch det --my-ip 198.51.100.7 203.0.113.9
  B$ punch det --my-ip 203.0.113.9 198.51.100.7

  # send a file, with a key, learning the public IP from a STUN server
  A$ punch det -s --key KEY --stun stun.example.net 203.0.113.9 < file
  B$ punch det -r --key KEY --stun stun.example.net 198.51.100.7 > file

  # ssh to A
  A$ punch det -c localhost:22 --key KEY --my-ip 198.51.100.7 203.0.113.9
  B$ punch det -l 2222 --key KEY --my-ip 203.0.113.9 198.51.100.7 & ssh -p 2222 user@localhost`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, g, args[0]) },
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.BoolVar(&o.plain, "plain", false, "no encryption: raw TCP")
	f.StringVar(&o.key, "key", "", "the key both sides share (default: derived from the bucket and both IPs, not secret)")
	f.StringVar(&o.myIP, "my-ip", "", "this side's public IP")
	f.StringVar(&o.stunServer, "stun", "", "learn this side's public IP from this STUN server (HOST[:PORT])")
	f.DurationVar(&o.maxClockError, "max-clock-error", detpunch.DefaultMaxClockError, "the largest difference between the two clocks")
	f.DurationVar(&o.runWindow, "run-window", detpunch.DefaultRunWindow, "the largest gap between the two sides' starts")
	f.IntVar(&o.ports, "ports", detpunch.DefaultPorts, "ports per bucket")
	f.DurationVar(&o.clockOffset, "clock-offset", 0, "add this to this side's clock")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: the run window + 5s)")
	return cmd
}

// config checks the flags and PEER_IP and returns the punch's
// configuration.
func (o *detOptions) config(ctx context.Context, peerArg string) (netip.Addr, *detpunch.Config, error) {
	if err := o.pipeOptions.check(); err != nil {
		return netip.Addr{}, nil, usageError{err}
	}
	peer, err := netip.ParseAddr(peerArg)
	if err != nil {
		return netip.Addr{}, nil, usageError{fmt.Errorf("PEER_IP %q: not an IP address", peerArg)}
	}
	peer = peer.Unmap()
	switch {
	case o.ipv4 && !peer.Is4(), o.ipv6 && peer.Is4():
		return netip.Addr{}, nil, usageError{fmt.Errorf("PEER_IP %v is not of the family -%s asks for", peer, o.family())}
	case o.maxClockError <= 0 || o.runWindow <= 0:
		return netip.Addr{}, nil, usageError{errors.New("--max-clock-error and --run-window must be positive")}
	case o.timeout < 0:
		return netip.Addr{}, nil, usageError{errors.New("--timeout must not be negative")}
	case o.ports < 1 || o.ports > detpunch.MaxPorts:
		return netip.Addr{}, nil, usageError{fmt.Errorf("--ports %d: want 1 to %d", o.ports, detpunch.MaxPorts)}
	case o.myIP == "" && o.stunServer == "":
		return netip.Addr{}, nil, usageError{errors.New("punch det needs this side's public IP: give --my-ip IP, or --stun HOST[:PORT] to learn it from a STUN server")}
	case o.key != "":
		if err := secure.ValidateKey(o.key); err != nil {
			return netip.Addr{}, nil, usageError{err}
		}
	}
	c := &detpunch.Config{MaxClockError: o.maxClockError, RunWindow: o.runWindow, Ports: o.ports, ClockOffset: o.clockOffset, Timeout: o.timeout}
	if o.myIP != "" {
		if c.MyIP, err = netip.ParseAddr(o.myIP); err != nil {
			return netip.Addr{}, nil, usageError{fmt.Errorf("--my-ip %q: not an IP address", o.myIP)}
		}
	} else {
		network := map[bool]string{true: "udp4", false: "udp6"}[peer.Is4()]
		if c.STUN, err = stun.ResolveServer(ctx, network, o.stunServer); err != nil {
			return netip.Addr{}, nil, fmt.Errorf("--stun %s: %w", o.stunServer, err)
		}
	}
	return peer, c, nil
}

func (o *detOptions) run(cmd *cobra.Command, g *globals, peerArg string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	status := func(format string, a ...any) { fmt.Fprintf(stderr, "punch: "+format+"\n", a...) }
	peer, cfg, err := o.config(ctx, peerArg)
	if err != nil {
		return err
	}
	cfg.Logger = g.debugLogger(stderr)
	r, err := detpunch.Prepare(ctx, peer, cfg)
	if errors.Is(err, detpunch.ErrConfig) || errors.Is(err, detpunch.ErrSameIP) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	role := "follower"
	if r.Leader {
		role = "leader: the greater IP"
	}
	status("punching from %v to %v (%s), buckets %d and %d, %d ports each, until %s",
		r.MyIP, peer, role, r.Plan.Buckets[0], r.Plan.Buckets[1], len(r.Plan.Ports[0]), r.Deadline().Format("15:04:05"))
	if preserved, known := r.PortsPreserved(); known && !preserved {
		status("warning: this side's NAT changed the port of a UDP test (%d became %d); punch det needs ports preserved", r.STUNLocal.Port(), r.STUNMapped.Port())
	}
	if !o.plain && o.key == "" {
		status("no --key: the encryption key is derived from the bucket and both IPs; anyone who knows the scheme can derive it too")
	}
	res, err := r.Punch(ctx)
	if err != nil {
		return o.explain(err)
	}
	defer r.Close()
	defer res.Conn.Close()
	var conn net.Conn = res.Conn
	how := "plain, not encrypted"
	if !o.plain {
		key := o.key
		if key == "" {
			key = detpunch.Key(res.Bucket, r.MyIP, peer)
		}
		sc, err := secure.Handshake(ctx, res.Conn, key, &secure.Config{Initiator: r.Leader, Logger: cfg.Logger})
		if err != nil {
			return o.explain(err)
		}
		defer sc.Close()
		conn, how = sc, "encrypted"
	}
	status("connected to %v (%s) on port %d of bucket %d after %v", res.Conn.RemoteAddr(), how, res.Port, res.Bucket, time.Since(r.Start).Round(time.Millisecond))
	return o.serveStream(ctx, conn, r.Leader, g)
}

// explain adds advice to a failure.
func (o *detOptions) explain(err error) error {
	switch {
	case errors.Is(err, detpunch.ErrTimeout):
		return fmt.Errorf("%w\npunch det needs both NATs to preserve ports (the local port is the public port: \"equal-delta\" mapping), "+
			"and the peer to start within %v of this side with a clock less than %v apart. "+
			"Through a NAT that does not preserve ports, seed 001's technique cannot work: use punch tcp or punch udp with a rendezvous server (punch server)",
			err, o.runWindow, o.maxClockError)
	case errors.Is(err, secure.ErrAuth):
		return fmt.Errorf("%w\nBoth sides must use the same --key, or both none", err)
	}
	return err
}
