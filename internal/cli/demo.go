package cli

import (
	"github.com/spf13/cobra"

	"github.com/punchkit/punch/internal/demo"
	"github.com/punchkit/punch/natlab"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd(g *globals) *cobra.Command {
	var natA, natB string
	var noLab bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show punch working on this one machine",
		Long: `demo runs an embedded STUN server on loopback and discovers the NAT in front
of a loopback socket (none). Run as root, it then builds a lab of real kernel
NATs in network namespaces, runs the server on the lab's public server host,
and shows what each host behind a NAT learns about its NAT.`,
		Example: `  sudo punch demo
  sudo punch demo --nat-a fullcone --nat-b symmetric-seq`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := natlab.ParseNATType(natA)
			if err != nil {
				return usageError{err}
			}
			b, err := natlab.ParseNATType(natB)
			if err != nil {
				return usageError{err}
			}
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), &demo.Config{
				Types: [2]natlab.NATType{a, b}, NoLab: noLab, Logger: g.debugLogger(cmd.ErrOrStderr()),
			})
		},
	}
	cmd.Flags().StringVar(&natA, "nat-a", "portrestricted", "NAT type in front of host a")
	cmd.Flags().StringVar(&natB, "nat-b", "restricted", "NAT type in front of host b")
	cmd.Flags().BoolVar(&noLab, "no-lab", false, "only the loopback part")
	return cmd
}
