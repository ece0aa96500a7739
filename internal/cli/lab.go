package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/punchkit/punch/natlab"
)

func init() { subcommands = append(subcommands, newLabCmd) }

func newLabCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a lab of real kernel NATs in network namespaces (root)",
		Long: `punch lab builds a small routed internet in Linux network namespaces: a core
router, a server with two public addresses, and NAT routers (nftables) with
hosts behind them. Use it to try punch, or anything else, behind every kind
of NAT on one machine. Needs root, iproute2 and nftables.

NAT types: ` + strings.Join(natTypeNames(), ", ") + `.`,
		Example: `  punch lab up demo --nat-a portrestricted --nat-b symmetric
  punch lab exec demo a -- ping -c1 198.51.100.2
  punch lab list
  punch lab down demo`,
	}
	cmd.AddCommand(newLabUpCmd(g), newLabExecCmd(), newLabDownCmd(), newLabListCmd(),
		newLabLinkCmd(), newLabFaultCmd(), newLabMatrixCmd(), newLabDaemonCmd(g))
	return cmd
}

func natTypeNames() []string {
	var s []string
	for _, t := range natlab.NATTypes {
		s = append(s, string(t))
	}
	return s
}

// labUpOptions are the flags of `punch lab up`.
type labUpOptions struct {
	natA, natB, input   string
	noPreserve, hairpin bool
	link                []string // SITE:SPEC
	pcap                string
	asJSON, foreground  bool
	defaults            natlab.LinkParams
	linkFlags           map[string]*string // --delay etc.
}

func newLabUpCmd(g *globals) *cobra.Command {
	o := &labUpOptions{}
	cmd := &cobra.Command{
		Use:   "up NAME",
		Short: "Build a lab",
		Long: `Build a lab named NAME with two NAT sites, natA (host a) and natB (host b),
and a public server (198.51.100.2 and .3, 2001:db8::2 and ::3), joined by
a user-space core router. The lab keeps running in the background (a
daemon runs its core) until "punch lab down NAME".

NAT sites. --input, --no-port-preservation and --hairpin set every site; a
site's spec can override them after a colon:

  TYPE[:input=drop|reject|accept,preserve=on|off,hairpin=on|off,hosts=N,LINK...]

--input says what a NAT router does with unsolicited packets sent to it:
drop (most home routers), reject (TCP RST and ICMP unreachable, OpenWrt's
default) or accept (bare masquerade: its own stack answers them).

Links. Every link between a site (natA, natB or server) and the core has,
in each direction, a delay, jitter, loss, duplication, reordering and rate.
--delay, --jitter, --loss, --dup, --reorder and --rate set every link;
--link SITE:key=value,... overrides one link, and a key prefixed with up.
(site to core) or down. (core to site) sets one direction only. A path
between two hosts crosses two links, so --delay 20ms gives an 80 ms round
trip. Change a running link with "punch lab link".

Capture. --pcap DIR writes every link's packets, both directions, to
DIR/SITE.pcap (raw IP), for Wireshark or tshark.`,
		Example: `  punch lab up l1 --nat-a fullcone --nat-b symmetric
  punch lab up l2 --nat-a portrestricted:input=reject --nat-b firewall --rate 100mbit
  punch lab up l3 --nat-a restricted:preserve=off,hairpin=on,hosts=2 --json
  punch lab up l4 --delay 20ms --jitter 5ms --loss 1% --dup 0.5% --reorder 2% --rate 100mbit
  punch lab up l5 --delay 10ms --link natA:delay=80ms,loss=3% --link server:up.rate=10mbit
  punch lab up l6 --nat-b symmetric-seq:delay=40ms --pcap /tmp/l6`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.config(args[0], cmd.Flags().Changed)
			if err != nil {
				return usageError{err}
			}
			var lab *natlab.Lab
			if o.foreground {
				return runLabDaemon(cmd.Context(), cmd.OutOrStdout(), cfg, g)
			}
			if lab, err = startLabDaemon(cmd.Context(), cfg); err != nil {
				return err
			}
			if o.asJSON {
				return writeJSON(cmd.OutOrStdout(), lab)
			}
			printLab(cmd.OutOrStdout(), lab)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.natA, "nat-a", "portrestricted", "NAT type and options of site natA (host a)")
	f.StringVar(&o.natB, "nat-b", "portrestricted", "NAT type and options of site natB (host b)")
	f.StringVar(&o.input, "input", "drop", "what NAT routers do with unsolicited packets: drop, reject or accept")
	f.BoolVar(&o.noPreserve, "no-port-preservation", false, "endpoint-independent NATs map to other ports than the local one")
	f.BoolVar(&o.hairpin, "hairpin", false, "NAT routers loop packets to their own public address back to the LAN")
	o.linkFlags = addLinkFlags(f, "every link")
	f.StringArrayVar(&o.link, "link", nil, "override one link: SITE:key=value,... (SITE is natA, natB or server)")
	f.StringVar(&o.pcap, "pcap", "", "write every link's packets to DIR/SITE.pcap")
	f.BoolVar(&o.asJSON, "json", false, "print the lab as JSON")
	f.BoolVar(&o.foreground, "foreground", false, "run the lab's core in this process until interrupted, then tear the lab down")
	return cmd
}

var linkKeys = []string{"delay", "jitter", "loss", "dup", "reorder", "rate"}

// addLinkFlags adds --delay, --jitter, --loss, --dup, --reorder and --rate,
// whose help says what they apply to.
func addLinkFlags(f *pflag.FlagSet, what string) map[string]*string {
	usage := map[string]string{
		"delay":   "one-way delay of " + what + ", each direction (e.g. 20ms)",
		"jitter":  "the delay of " + what + " varies uniformly by up to this much (e.g. 5ms)",
		"loss":    "share of packets " + what + " drops (e.g. 1%)",
		"dup":     "share of packets " + what + " duplicates (e.g. 0.5%)",
		"reorder": "share of packets " + what + " holds back so that later ones overtake them (e.g. 2%)",
		"rate":    "bit rate of " + what + ", each direction (e.g. 100mbit, 1gbit; 0 for unlimited)",
	}
	flags := map[string]*string{}
	for _, k := range linkKeys {
		flags[k] = f.String(k, "0", usage[k])
	}
	return flags
}

// config turns the flags into a lab configuration.
func (o *labUpOptions) config(name string, changed func(string) bool) (natlab.Config, error) {
	cfg := natlab.Config{Name: name, PcapDir: o.pcap}
	for _, k := range linkKeys {
		if changed(k) {
			if err := o.defaults.Set(k, *o.linkFlags[k]); err != nil {
				return cfg, err
			}
		}
	}
	base := natlab.Site{Input: natlab.Input(o.input), NoPortPreservation: o.noPreserve, Hairpin: o.hairpin, Link: o.defaults}
	for _, site := range []struct{ name, spec string }{{"natA", o.natA}, {"natB", o.natB}} {
		s := base
		s.Name = site.name
		if err := natlab.ParseSiteSpec(&s, site.spec); err != nil {
			return cfg, err
		}
		cfg.Sites = append(cfg.Sites, s)
	}
	cfg.ServerLink = o.defaults
	for _, l := range o.link {
		site, spec, ok := strings.Cut(l, ":")
		if !ok {
			return cfg, fmt.Errorf("--link %q: want SITE:key=value,...", l)
		}
		lp := &cfg.ServerLink
		if site != "server" {
			lp = nil
			for i := range cfg.Sites {
				if cfg.Sites[i].Name == site {
					lp = &cfg.Sites[i].Link
				}
			}
		}
		if lp == nil {
			return cfg, fmt.Errorf("--link %q: no site %q (natA, natB or server)", l, site)
		}
		if err := lp.SetSpec(spec); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

func printLab(w io.Writer, lab *natlab.Lab) {
	fmt.Fprintf(w, "lab %s\n", lab.Config.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tNAT\tNETNS\tADDRESSES\tPUBLIC")
	for _, n := range lab.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.NAT, n.Netns, joinAddrs(n.Addrs), joinAddrs(n.Public))
	}
	tw.Flush()
}

func joinAddrs[T fmt.Stringer](addrs []T) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newLabExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAME NODE -- COMMAND [ARG...]",
		Short: "Run a command on a lab node",
		Long: `Run COMMAND inside the network namespace of NODE (a host such as a or b, a
router such as natA, the server or the core) of lab NAME, with stdin, stdout
and stderr passed through. The exit status is the command's.`,
		Example: `  punch lab exec demo a -- punch nat --server 198.51.100.2
  punch lab exec demo server -- punch server --ip 198.51.100.2 --alt-ip 198.51.100.3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return usageError{errors.New("want NAME NODE -- COMMAND [ARG...]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := natlab.Open(args[0])
			if err != nil {
				return err
			}
			node, err := lab.Node(args[1])
			if err != nil {
				return usageError{err}
			}
			c := node.Command(cmd.Context(), args[2], args[3:]...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			// Pass an interrupt on to the command, and kill it only if it
			// does not end within 10 s.
			c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
			c.WaitDelay = 10 * time.Second
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exitStatus(exit.ExitCode())
			}
			return err
		},
	}
}

func newLabDownCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down NAME... | --all",
		Short: "Remove labs and everything in them",
		Long:  "Kill every process in the lab's namespaces and delete the namespaces, their interfaces and the lab's record.",
		Example: `  punch lab down demo
  punch lab down --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all {
				names, err := natlab.List()
				if err != nil {
					return err
				}
				args = append(args, names...)
			}
			if len(args) == 0 && !all {
				return usageError{errors.New("name a lab, or use --all")}
			}
			var errs []error
			for _, name := range args {
				if _, err := natlab.Open(name); err != nil && !all {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, natlab.Remove(name))
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every lab on this machine")
	return cmd
}

func newLabListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the labs on this machine",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := natlab.List()
			if err != nil {
				return err
			}
			var labs []*natlab.Lab
			for _, n := range names {
				if l, err := natlab.Open(n); err == nil {
					labs = append(labs, l)
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), labs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSITES\tCREATED")
			for _, l := range labs {
				var sites []string
				for _, s := range l.Config.Sites {
					sites = append(sites, s.Name+"="+string(s.NAT)+"/"+string(s.Input))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Config.Name, strings.Join(sites, " "), l.Created.Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the labs as JSON")
	return cmd
}
