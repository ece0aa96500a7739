package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/core"
)

func newLabLinkCmd() *cobra.Command {
	var direction string
	var flags map[string]*string
	cmd := &cobra.Command{
		Use:   "link NAME SITE [flags]",
		Short: "Show or change a running link's delay, jitter, loss, duplication, reordering and rate",
		Long: `Show the impairments and counters of the link between SITE (natA, natB or
server) and the core in lab NAME, after changing those given as flags, in
the directions given by --direction (up: site to core, down: core to site,
both by default). Settings not given keep their values.`,
		Example: `  punch lab link demo natA
  punch lab link demo natA --delay 100ms --loss 0%
  punch lab link demo server --direction down --rate 10mbit`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := natlab.Open(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := lab.LinkState(ctx, args[1])
			if err != nil {
				return err
			}
			var up, down *core.Params
			switch direction {
			case "both":
				up, down = &st.Up, &st.Down
			case "up":
				up = &st.Up
			case "down":
				down = &st.Down
			default:
				return usageError{fmt.Errorf("--direction %q: want up, down or both", direction)}
			}
			changed := false
			for _, k := range linkKeys {
				if !cmd.Flags().Changed(k) {
					continue
				}
				changed = true
				for _, p := range []*core.Params{up, down} {
					if p != nil {
						if err := p.Set(k, *flags[k]); err != nil {
							return usageError{err}
						}
					}
				}
			}
			if changed {
				if err := lab.SetLink(ctx, args[1], up, down); err != nil {
					return err
				}
				if st, err = lab.LinkState(ctx, args[1]); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s up   (site to core): %s\n", st.Name, st.Up)
			fmt.Fprintf(w, "%s down (core to site): %s\n", st.Name, st.Down)
			fmt.Fprintf(w, "up:   %+v\ndown: %+v\n", st.UpStats, st.DownStats)
			return nil
		},
	}
	cmd.Flags().StringVar(&direction, "direction", "both", "which direction to change: up, down or both")
	flags = addLinkFlags(cmd.Flags(), "the link")
	return cmd
}

func newLabFaultCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fault NAME SITE FAULT [DURATION]",
		Short: "Inflict a fault on a site: blackhole, flush-nat, rebind or restart",
		Long: `Inflict a fault on SITE of lab NAME:

  blackhole DURATION  the site's link drops everything, then recovers
                      (SITE may also be server)
  flush-nat           the NAT forgets every mapping (conntrack flush), so the
                      next outgoing packet of a flow may get a new public port
  rebind              the NAT moves to its other public address (.2 <-> .3 of
                      its WAN link) and forgets every mapping: existing flows
                      continue from a new public address
  restart DURATION    the router loses all state and drops every packet for
                      DURATION, then comes back

The command returns at once; the lab ends timed faults by itself.`,
		Example: `  punch lab fault demo natA blackhole 10s
  punch lab fault demo natB flush-nat
  punch lab fault demo natA rebind
  punch lab fault demo natB restart 5s`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return usageError{errors.New("want NAME SITE FAULT [DURATION]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := natlab.ParseFault(args[2])
			if err != nil {
				return usageError{err}
			}
			var d time.Duration
			if len(args) == 4 {
				if d, err = time.ParseDuration(args[3]); err != nil || d <= 0 {
					return usageError{fmt.Errorf("duration %q: want a positive duration such as 10s", args[3])}
				}
			}
			lab, err := natlab.Open(args[0])
			if err != nil {
				return err
			}
			err = lab.Inflict(cmd.Context(), args[1], f, d)
			if errors.Is(err, natlab.ErrConfig) {
				return usageError{err}
			}
			return err
		},
	}
}
