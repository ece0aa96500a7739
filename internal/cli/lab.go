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

	"github.com/punchkit/punch/natlab"
	"github.com/spf13/cobra"
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
	cmd.AddCommand(newLabUpCmd(g), newLabExecCmd(), newLabDownCmd(), newLabListCmd())
	return cmd
}

func natTypeNames() []string {
	var s []string
	for _, t := range natlab.NATTypes {
		s = append(s, string(t))
	}
	return s
}

func newLabUpCmd(g *globals) *cobra.Command {
	var (
		natA, natB, input, rate string
		noPreserve, hairpin     bool
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "up NAME",
		Short: "Build a lab",
		Long: `Build a lab named NAME with two NAT sites, natA (host a) and natB (host b),
and a public server (198.51.100.2 and .3). --input, --rate,
--no-port-preservation and --hairpin set every site; a site's spec can
override them after a colon:

  TYPE[:input=drop|reject|accept,preserve=on|off,hairpin=on|off,rate=RATE,hosts=N]

--input says what a NAT router does with unsolicited packets sent to it:
drop (most home routers), reject (TCP RST and ICMP unreachable, OpenWrt's
default) or accept (bare masquerade: its own stack answers them).`,
		Example: `  punch lab up l1 --nat-a fullcone --nat-b symmetric
  punch lab up l2 --nat-a portrestricted:input=reject --nat-b firewall --rate 100mbit
  punch lab up l3 --nat-a restricted:preserve=off,hairpin=on,hosts=2 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base := natlab.Site{Input: natlab.Input(input), Rate: rate, NoPortPreservation: noPreserve, Hairpin: hairpin}
			cfg := natlab.Config{Name: args[0]}
			for _, site := range []struct{ name, spec string }{{"natA", natA}, {"natB", natB}} {
				s := base
				s.Name = site.name
				if err := natlab.ParseSiteSpec(&s, site.spec); err != nil {
					return usageError{err}
				}
				cfg.Sites = append(cfg.Sites, s)
			}
			lab, err := natlab.New(cmd.Context(), cfg, g.logger(cmd.ErrOrStderr()))
			if errors.Is(err, natlab.ErrConfig) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), lab)
			}
			printLab(cmd.OutOrStdout(), lab)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&natA, "nat-a", "portrestricted", "NAT type and options of site natA (host a)")
	f.StringVar(&natB, "nat-b", "portrestricted", "NAT type and options of site natB (host b)")
	f.StringVar(&input, "input", "drop", "what NAT routers do with unsolicited packets: drop, reject or accept")
	f.StringVar(&rate, "rate", "", "limit every site's link in each direction, e.g. 100mbit or 1gbit (default unlimited)")
	f.BoolVar(&noPreserve, "no-port-preservation", false, "endpoint-independent NATs map to other ports than the local one")
	f.BoolVar(&hairpin, "hairpin", false, "NAT routers loop packets to their own public address back to the LAN")
	f.BoolVar(&asJSON, "json", false, "print the lab as JSON")
	return cmd
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
	return &cobra.Command{
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
			if len(args) == 0 {
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
