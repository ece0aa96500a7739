package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/stun"
)

func init() { subcommands = append(subcommands, newNatCmd) }

// stunServerEnv names the environment variable that supplies --server.
const stunServerEnv = "PUNCH_STUN_SERVER"

type natOptions struct {
	server  string
	json    bool
	local   string
	timeout time.Duration
}

func newNatCmd(g *globals) *cobra.Command {
	o := &natOptions{}
	cmd := &cobra.Command{
		Use:   "nat --server HOST[:PORT]",
		Short: "Discover the behaviour of the NAT or firewall in front of this host",
		Long: `nat measures the NAT or firewall between this host and a STUN server with
the tests of RFC 5780: public address, mapping and filtering behaviour,
port preservation, hairpinning, and the classic NAT1-NAT4 class, with what
it means for hole punching.

The server must support RFC 5780 (two IP addresses and two ports, such as
one started with 'punch server'); most public STUN servers do not, and then
only the public address, NAT presence, port preservation and hairpinning
can be measured. There is no built-in default server: pass --server or set
` + stunServerEnv + `. The port defaults to 3478.

The socket's address family decides between IPv4 and IPv6: use
--local 0.0.0.0:0 or --local [::]:0 to choose.`,
		Example: `  punch nat --server stun.example.org
  punch nat --server 198.51.100.2:3478 --json
  PUNCH_STUN_SERVER=[2001:db8::2]:3478 punch nat --local [::]:40000`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runNat(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "STUN server with RFC 5780 support, HOST[:PORT] (default $"+stunServerEnv+")")
	f.BoolVar(&o.json, "json", false, "print the report as one JSON object")
	f.StringVar(&o.local, "local", "", "local UDP address to probe from, IP, IP:PORT or :PORT (default: any address, a random port)")
	f.DurationVar(&o.timeout, "timeout", time.Second,
		"how long each round of tests waits for answers; a full run takes up to about twice this")
	return cmd
}

func runNat(cmd *cobra.Command, g *globals, o *natOptions) error {
	server := o.server
	if server == "" {
		server = os.Getenv(stunServerEnv)
	}
	if server == "" {
		return usageError{fmt.Errorf("no STUN server given: pass --server HOST[:PORT] or set %s "+
			"(there is no built-in default; the server should support RFC 5780, e.g. one run with 'punch server')",
			stunServerEnv)}
	}
	if o.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout must be positive, got %v", o.timeout)}
	}
	network, local, err := parseLocal(o.local)
	if err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	addr, err := stun.ResolveServer(ctx, network, server)
	if err != nil {
		return err
	}
	if network == "udp" {
		// Open a socket of the server's family, so that a dual-stack
		// socket does not hide which family is being measured.
		network = "udp4"
		if addr.Addr().Is6() {
			network = "udp6"
		}
	}
	pc, err := net.ListenPacket(network, local)
	if err != nil {
		return fmt.Errorf("cannot open a UDP socket on %q: %w", local, err)
	}
	defer pc.Close()

	log := g.logger(cmd.ErrOrStderr())
	log.Debug("nat: probing", "server", addr, "local", pc.LocalAddr())
	r, err := stun.Discover(ctx, pc, addr, &stun.Config{Timeout: o.timeout, Logger: log})
	if r != nil {
		out := cmd.OutOrStdout()
		if o.json {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(r); jerr != nil {
				return errors.Join(err, jerr)
			}
		} else {
			printNatReport(out, r)
		}
	}
	if errors.Is(err, stun.ErrNoResponse) {
		if server != addr.String() {
			return fmt.Errorf("%w (%s resolved to %s; probed from %s)", err, server, addr, pc.LocalAddr())
		}
		return fmt.Errorf("%w (probed from %s)", err, pc.LocalAddr())
	}
	return err
}

// parseLocal turns --local into a network and an address for
// net.ListenPacket: "udp4" or "udp6" when it names an IP, else "udp" (the
// family is then chosen after the server's address).
func parseLocal(s string) (network, addr string, err error) {
	if s == "" {
		return "udp", ":0", nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return family(ap.Addr()), ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return family(a), netip.AddrPortFrom(a, 0).String(), nil
	}
	if p, ok := strings.CutPrefix(s, ":"); ok {
		if _, err := strconv.ParseUint(p, 10, 16); err == nil {
			return "udp", s, nil
		}
	}
	return "", "", fmt.Errorf("bad --local %q: want IP, IP:PORT or :PORT", s)
}

func family(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "udp4"
	}
	return "udp6"
}

// printNatReport writes the report for people.
func printNatReport(w io.Writer, r *stun.Report) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	server := r.Server.String()
	if r.Other.IsValid() {
		server += " (alternate " + r.Other.String() + ")"
	}
	row := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, v) }
	row("STUN server", server)
	row("Local address", r.Local.String())
	row("Public address", r.Public.String())
	row("NAT", yes(r.NAT))
	row("Mapping", string(r.Mapping))
	row("Filtering", string(r.Filtering))
	row("Port preserved", yes(r.PortPreserving))
	hairpin := yes(r.Hairpin)
	if slices.Contains(r.Skipped, "hairpin") {
		hairpin = "unknown"
	}
	row("Hairpinning", hairpin)
	row("Class", fmt.Sprintf("%s (%s)", r.Class, r.Class.Description()))
	if len(r.Skipped) > 0 {
		row("Not measured", strings.Join(r.Skipped, ", "))
	}
	row("Advice", r.Advice)
}
