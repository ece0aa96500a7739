package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/internal/labmatrix"
	"github.com/punchkit/punch/natlab"
)

// labMatrixOptions are the flags of `punch lab matrix`.
type labMatrixOptions struct {
	types  []string
	input  string
	delay  time.Duration
	runs   int
	ipv6   bool
	out    string
	asJSON bool
}

func newLabMatrixCmd() *cobra.Command {
	o := &labMatrixOptions{}
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Run punch connect between every pair of NAT types and draw the result",
		Long: `matrix builds a lab for every pair of NAT types in turn (a type with itself
included), runs punch server on its server and punch connect on its two
hosts, checks the data both ways, and reports for each pair the path that
won and the median time to connect (from the start of punch connect,
rendezvous included). It prints a Markdown table; with --out it also
writes matrix.md, matrix.svg (a heat map: rows and columns are NAT types,
cells show the path and the time) and matrix.json. Needs root.`,
		Example: `  punch lab matrix --out /tmp/matrix
  punch lab matrix --types portrestricted,symmetric --runs 20 --input reject`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.types, "types", natTypeNames(), "NAT types, comma-separated")
	f.StringVar(&o.input, "input", string(natlab.Drop), "what the NAT routers do with unsolicited packets: drop, reject or accept")
	f.DurationVar(&o.delay, "delay", 20*time.Millisecond, "one-way delay of every lab link")
	f.IntVar(&o.runs, "runs", 1, "connections per pair")
	f.BoolVarP(&o.ipv6, "ipv6", "6", false, "connect over IPv6")
	f.StringVar(&o.out, "out", "", "write matrix.md, matrix.svg and matrix.json to this directory")
	f.BoolVar(&o.asJSON, "json", false, "print the cells as JSON instead of the table")
	return cmd
}

func (o *labMatrixOptions) config() (*labmatrix.Config, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &labmatrix.Config{Bin: bin, Delay: o.delay, Runs: o.runs, IPv6: o.ipv6}
	for _, s := range o.types {
		t, err := natlab.ParseNATType(s)
		if err != nil {
			return nil, err
		}
		c.Types = append(c.Types, t)
	}
	if c.Input, err = natlab.ParseInput(o.input); err != nil {
		return nil, err
	}
	switch {
	case len(c.Types) == 0:
		return nil, fmt.Errorf("--types: want at least one NAT type (%s)", strings.Join(natTypeNames(), ", "))
	case o.runs < 1 || o.runs > 1000:
		return nil, fmt.Errorf("--runs %d: want 1 to 1000", o.runs)
	case o.delay < 0:
		return nil, fmt.Errorf("--delay %v: want 0 or more", o.delay)
	}
	return c, nil
}

func (o *labMatrixOptions) run(cmd *cobra.Command) error {
	c, err := o.config()
	if err != nil {
		return usageError{err}
	}
	if err := natlab.CheckSupported(); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	c.Progress = func(cell labmatrix.Cell) {
		fmt.Fprintf(stderr, "punch: %s-%s: %s\n", cell.A, cell.B, strings.Join(append(cell.Paths, cell.Failures...), ", "))
	}
	cells, err := labmatrix.Run(cmd.Context(), c)
	if err != nil {
		return err
	}
	types := c.Types
	md := labmatrix.Markdown(types, cells)
	js, _ := json.MarshalIndent(cells, "", "  ")
	if o.out != "" {
		title := fmt.Sprintf("punch connect, NATs that %s unsolicited packets, %v links", c.Input, o.delay)
		files := map[string][]byte{"matrix.md": []byte(md), "matrix.svg": labmatrix.SVG(types, cells, title), "matrix.json": js}
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(o.out, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		fmt.Fprintln(out, string(js))
	} else {
		fmt.Fprint(out, md)
	}
	return nil
}
