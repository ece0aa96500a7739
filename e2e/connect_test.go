package e2e

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/punchkit/punch/internal/labmatrix"
	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// runMatrix runs `punch lab matrix` with args and checks every cell:
// every pair connected on every run (the runner checks the data both
// ways), and only pairs without a direct path were relayed (or, for the
// pairs that need the birthday technique, pairs whose search outlasted
// the grace period: those start relayed). It logs the table.
func runMatrix(t *testing.T, title string, types []natlab.NATType, args ...string) {
	t.Helper()
	labtest.Require(t)
	var names []string
	for _, ty := range types {
		names = append(names, string(ty))
	}
	cmd := exec.Command(punchBin, append([]string{"lab", "matrix", "--json", "--types", strings.Join(names, ",")}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("punch lab matrix: %v\n%s", err, stderr.String())
	}
	var cells []labmatrix.Cell
	if err := json.Unmarshal(out, &cells); err != nil {
		t.Fatalf("matrix JSON: %v\n%s", err, out)
	}
	if want := len(types) * (len(types) + 1) / 2; len(cells) != want {
		t.Fatalf("%d cells, want %d", len(cells), want)
	}
	for _, c := range cells {
		if len(c.Failures) > 0 || len(c.Paths) == 0 {
			t.Errorf("%s-%s failed: %v", c.A, c.B, c.Failures)
		}
		if c.DirectPossible != labmatrix.DirectPossible(c.A, c.B) {
			t.Errorf("%s-%s: direct_possible %v", c.A, c.B, c.DirectPossible)
		}
		if c.DirectPossible && !labmatrix.Birthday(c.A, c.B) && slices.Contains(c.Paths, "relay") {
			t.Errorf("%s-%s relayed (%v), but a direct path exists", c.A, c.B, c.Paths)
		}
	}
	t.Logf("%s (path, median time to connect):\n%s", title, labmatrix.Markdown(types, cells))
}

// TestConnectMatrix runs punch connect between every pair of NAT types,
// with 20 ms links: every pair connects and passes data, directly
// wherever a direct path exists.
func TestConnectMatrix(t *testing.T) {
	runMatrix(t, "punch connect, 20 ms links", natlab.NATTypes)
}

// TestConnectMatrixIPv6 runs the matrix over IPv6 (the lab translates
// IPv6 like IPv4: NAT66), for one NAT type of each kind of mapping.
func TestConnectMatrixIPv6(t *testing.T) {
	types := []natlab.NATType{natlab.None, natlab.PortRestricted, natlab.SymmetricSeq, natlab.Symmetric}
	runMatrix(t, "punch connect over IPv6, 20 ms links", types, "-6")
}

// TestConnectUnsolicited repeats the matrix, without the random
// symmetric NAT, behind NAT routers that reject and that accept
// unsolicited packets.
func TestConnectUnsolicited(t *testing.T) {
	types := slices.DeleteFunc(slices.Clone(natlab.NATTypes), func(n natlab.NATType) bool { return n == natlab.Symmetric })
	for _, in := range []natlab.Input{natlab.Reject, natlab.Accept} {
		t.Run(string(in), func(t *testing.T) {
			runMatrix(t, "punch connect, NATs that "+string(in)+" unsolicited packets", types, "--input", string(in))
		})
	}
}
