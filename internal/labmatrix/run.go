package labmatrix

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/punchkit/punch/natlab"
)

// Config says what to run. Bin is required; the zero value of every other
// field works.
type Config struct {
	// Bin is the punch binary.
	Bin string
	// Types are the NAT types, rows and columns. Default: all of them.
	Types []natlab.NATType
	// Input is what the NAT routers do with unsolicited packets. Default:
	// drop.
	Input natlab.Input
	// Delay is the one-way delay of each lab link. Default: 20 ms.
	Delay time.Duration
	// Runs is the number of connections per pair. Default: 1.
	Runs int
	// IPv6 runs over IPv6 instead of IPv4.
	IPv6 bool
	// Progress, if set, is told about each pair when it is done.
	Progress func(Cell)
}

// Cell is the outcome for one pair of NAT types.
type Cell struct {
	A, B natlab.NATType
	// Paths are the paths that won, one per successful run.
	Paths []string `json:"paths"`
	// Times are the times to connect of the successful runs, from the
	// start of punch connect (rendezvous included), the later side's.
	Times []time.Duration `json:"times"`
	// Failures are the errors of the failed runs.
	Failures []string `json:"failures,omitempty"`
	// DirectPossible says whether a direct path exists between A and B
	// (see DirectPossible).
	DirectPossible bool `json:"direct_possible"`
}

// Path is the path of most runs, "" when none succeeded.
func (c *Cell) Path() string {
	best, n := "", 0
	for _, p := range c.Paths {
		if k := count(c.Paths, p); k > n {
			best, n = p, k
		}
	}
	return best
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// Median is the median time to connect of the successful runs.
func (c *Cell) Median() time.Duration {
	if len(c.Times) == 0 {
		return 0
	}
	t := slices.Clone(c.Times)
	slices.Sort(t)
	return t[len(t)/2]
}

// DirectPossible reports whether two hosts behind NATs of types x and y
// can reach each other without a relay by the techniques punch uses: all
// but two NATs that both map each destination to a new port.
func DirectPossible(x, y natlab.NATType) bool {
	return !(perDestination(x) && perDestination(y))
}

// Birthday reports whether the direct path between x and y needs the
// birthday technique (a random symmetric NAT against one that filters by
// port), which may take longer than the relay's grace period: such a
// session may start relayed and move to the direct path when it is found.
func Birthday(x, y natlab.NATType) bool {
	filtersPort := func(t natlab.NATType) bool { return t == natlab.PortRestricted || t == natlab.Firewall }
	return x == natlab.Symmetric && filtersPort(y) || y == natlab.Symmetric && filtersPort(x)
}

func perDestination(t natlab.NATType) bool { return t == natlab.Symmetric || t == natlab.SymmetricSeq }

func (c *Config) withDefaults() Config {
	out := *c
	if len(out.Types) == 0 {
		out.Types = natlab.NATTypes
	}
	if out.Input == "" {
		out.Input = natlab.Drop
	}
	if out.Delay <= 0 {
		out.Delay = 20 * time.Millisecond
	}
	if out.Runs <= 0 {
		out.Runs = 1
	}
	return out
}

// Run runs every unordered pair of types (a type with itself included)
// and returns the cells in order. It fails only when a lab cannot be
// built; a pair that does not connect is a cell with failures.
func Run(ctx context.Context, cfg *Config) ([]Cell, error) {
	c := cfg.withDefaults()
	var cells []Cell
	for i, x := range c.Types {
		for _, y := range c.Types[i:] {
			cell, err := c.pair(ctx, x, y)
			if err != nil {
				return cells, err
			}
			if c.Progress != nil {
				c.Progress(cell)
			}
			cells = append(cells, cell)
		}
	}
	return cells, nil
}

// pair builds a lab for x and y, runs the server and Runs connections.
func (c *Config) pair(ctx context.Context, x, y natlab.NATType) (Cell, error) {
	cell := Cell{A: x, B: y, DirectPossible: DirectPossible(x, y)}
	name := fmt.Sprintf("mx%s", randomHex(3))
	up := exec.CommandContext(ctx, c.Bin, "lab", "up", name, "--nat-a", string(x), "--nat-b", string(y),
		"--delay", c.Delay.String(), "--input", string(c.Input))
	if out, err := up.CombinedOutput(); err != nil {
		return cell, fmt.Errorf("lab up %s-%s: %v: %s", x, y, err, out)
	}
	defer exec.Command(c.Bin, "lab", "down", name).Run()
	srv := exec.CommandContext(ctx, c.Bin, "lab", "exec", name, "server", "--", c.Bin, "server",
		"--ip", "198.51.100.2", "--alt-ip", "198.51.100.3", "--ip", "2001:db8::2", "--alt-ip", "2001:db8::3")
	if err := srv.Start(); err != nil {
		return cell, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	if err := waitServer(name); err != nil {
		return cell, err
	}
	for range c.Runs {
		path, took, err := c.connect(ctx, name)
		if err != nil {
			cell.Failures = append(cell.Failures, err.Error())
			continue
		}
		cell.Paths = append(cell.Paths, path)
		cell.Times = append(cell.Times, took)
	}
	return cell, ctx.Err()
}

// server is the lab server's rendezvous address of each family.
var server = map[bool]string{false: "198.51.100.2", true: "2001:db8::2"}

// waitServer waits until the lab's punch server accepts connections.
func waitServer(name string) error {
	lab, err := natlab.Open(name)
	if err != nil {
		return err
	}
	node, err := lab.Node("server")
	if err != nil {
		return err
	}
	return node.WaitTCP("198.51.100.2:3477", 10*time.Second)
}

// connectedRE finds the winning path and its time in punch connect's
// status line.
var connectedRE = regexp.MustCompile(`connected via (\w+) to \S+ in (\S+)`)

// connect runs punch connect on hosts a and b with one key, each sending
// the other random data, and checks what arrived.
func (c *Config) connect(ctx context.Context, name string) (string, time.Duration, error) {
	key := "matrix-" + randomHex(8)
	type side struct {
		cmd            *exec.Cmd
		in             []byte
		stdout, stderr bytes.Buffer
	}
	var sides [2]*side
	for i, host := range []string{"a", "b"} {
		s := &side{in: make([]byte, 64<<10+i)}
		rand.Read(s.in)
		args := []string{"lab", "exec", name, host, "--", c.Bin, "connect", "-T", server[c.IPv6], "--timeout", "10s", key}
		s.cmd = exec.CommandContext(ctx, c.Bin, args...)
		s.cmd.Stdin = bytes.NewReader(s.in)
		s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
		s.cmd.WaitDelay = time.Second
		if err := s.cmd.Start(); err != nil {
			return "", 0, err
		}
		sides[i] = s
	}
	timer := time.AfterFunc(40*time.Second, func() {
		for _, s := range sides {
			s.cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	var errs []string
	for _, s := range sides {
		if err := s.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Sprintf("%v: %s", err, lastLine(s.stderr.String())))
		}
	}
	if errs != nil {
		return "", 0, fmt.Errorf("%s", strings.Join(errs, " / "))
	}
	if sha256.Sum256(sides[0].stdout.Bytes()) != sha256.Sum256(sides[1].in) ||
		sha256.Sum256(sides[1].stdout.Bytes()) != sha256.Sum256(sides[0].in) {
		return "", 0, fmt.Errorf("data corrupted: a got %d of %d bytes, b %d of %d",
			sides[0].stdout.Len(), len(sides[1].in), sides[1].stdout.Len(), len(sides[0].in))
	}
	ma, mb := connectedRE.FindStringSubmatch(sides[0].stderr.String()), connectedRE.FindStringSubmatch(sides[1].stderr.String())
	if ma == nil || mb == nil {
		return "", 0, fmt.Errorf("no status line: %q / %q", sides[0].stderr.String(), sides[1].stderr.String())
	}
	if ma[1] != mb[1] {
		return "", 0, fmt.Errorf("the sides chose different paths: %s and %s", ma[1], mb[1])
	}
	// Each side's time runs from its start to its connection; the pair
	// is connected when the later side is.
	ta, _ := time.ParseDuration(ma[2])
	tb, _ := time.ParseDuration(mb[2])
	return ma[1], max(ta, tb), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
