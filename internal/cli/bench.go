package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/internal/bench"
	"github.com/punchkit/punch/stun"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure punch against a baseline",
	}
	cmd.AddCommand(newBenchSTUNCmd())
	return cmd
}

func newBenchSTUNCmd() *cobra.Command {
	cfg := bench.STUNConfig{}
	cmd := &cobra.Command{
		Use:   "stun SERVER[:PORT]...",
		Short: "Load STUN servers with Binding requests and report answers per second",
		Long: `stun sends STUN Binding requests to each server in turn from the same load
generator (--conns sockets, each keeping --window requests outstanding) and
reports how many valid answers per second each gave, so that servers can be
compared side by side in one run.`,
		Example: `  punch server --ip 127.0.0.1 --no-tcp &
  turnserver --stun-only -n --no-cli --listening-port 5478 -L 127.0.0.1 &
  punch bench stun --duration 10s 127.0.0.1:3478 127.0.0.1:5478`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("name at least one STUN server")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Duration < 0 || cfg.Conns < 0 || cfg.Window < 0 {
				return usageError{errors.New("--duration, --conns and --window must not be negative")}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "server\tsent\tanswered\tanswered/s\t")
			for _, s := range args {
				addr, err := stun.ResolveServer(cmd.Context(), "udp", s)
				if err != nil {
					return err
				}
				r, err := bench.STUN(cmd.Context(), addr, &cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t\n", s, r.Sent, r.Answered, r.PerSecond())
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", 5*time.Second, "how long to load each server")
	f.IntVar(&cfg.Conns, "conns", 8, "client sockets")
	f.IntVar(&cfg.Window, "window", 16, "outstanding requests per socket")
	return cmd
}
