package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// connectTypes are the NAT types of the connect matrix.
var connectTypes = []natlab.NATType{natlab.None, natlab.FullCone, natlab.Restricted, natlab.PortRestricted,
	natlab.SymmetricSeq, natlab.Symmetric, natlab.Firewall}

// connectedRE finds the winning path and its time in punch connect's
// status line.
var connectedRE = regexp.MustCompile(`connected via (\w+) to \S+ in (\S+)`)

// directExpected reports whether punch connect must find a direct path
// between NAT types x and y: always unless one side maps every
// destination to a new port (symmetric) and the other filters by port
// (port-restricted, firewall) or maps per destination too.
func directExpected(x, y natlab.NATType) bool {
	hard := func(t natlab.NATType) bool { return t == natlab.Symmetric || t == natlab.SymmetricSeq }
	filtersPort := func(t natlab.NATType) bool { return t == natlab.PortRestricted || t == natlab.Firewall || hard(t) }
	return !(hard(x) && filtersPort(y) || hard(y) && filtersPort(x))
}

// matrix collects the cells of a matrix test and prints them.
type matrix struct {
	mu    sync.Mutex
	cells map[[2]natlab.NATType]string
}

func (m *matrix) set(x, y natlab.NATType, cell string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cells == nil {
		m.cells = make(map[[2]natlab.NATType]string)
	}
	m.cells[[2]natlab.NATType{x, y}] = cell
}

// table renders the matrix as Markdown, rows a, columns b.
func (m *matrix) table(types []natlab.NATType) string {
	var b strings.Builder
	b.WriteString("| a \\ b |")
	for _, y := range types {
		fmt.Fprintf(&b, " %s |", y)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(types)) + "\n")
	for _, x := range types {
		fmt.Fprintf(&b, "| %s |", x)
		for _, y := range types {
			cell, ok := m.cells[[2]natlab.NATType{x, y}]
			if !ok {
				cell, ok = m.cells[[2]natlab.NATType{y, x}]
			}
			if !ok {
				cell = ""
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// connectPair runs punch connect between a and b of a lab through
// which the pair x, y is built, checks the data and the path, and returns
// the matrix cell.
func connectPair(t *testing.T, x, y natlab.NATType, args ...string) string {
	lab := tcpLab(t, append([]string{"--nat-a", string(x), "--nat-b", string(y), "--delay", "20ms"}, args...)...)
	key := "connect-" + labtest.Name()
	fileA, fileB := randomBytes(256<<10), randomBytes(100<<10+7)
	sa := start(t, lab, "a", fileA, "connect", "-T", "198.51.100.2", key)
	sb := start(t, lab, "b", fileB, "connect", "-T", "198.51.100.2", key)
	ea, eb := sa.wait(t, 30*time.Second), sb.wait(t, 30*time.Second)
	if ea != nil || eb != nil {
		t.Fatalf("punch connect failed: %v / %v\na: %s\nb: %s", ea, eb, sa.stderr.String(), sb.stderr.String())
	}
	checkFiles(t, fileA, fileB, sb.stdout.Bytes(), sa.stdout.Bytes())
	ma, mb := connectedRE.FindStringSubmatch(sa.stderr.String()), connectedRE.FindStringSubmatch(sb.stderr.String())
	if ma == nil || mb == nil {
		t.Fatalf("no status line:\na: %s\nb: %s", sa.stderr.String(), sb.stderr.String())
	}
	if ma[1] != mb[1] {
		t.Fatalf("the sides chose different paths: %s and %s", ma[1], mb[1])
	}
	if ma[1] == "relay" && directExpected(x, y) {
		t.Errorf("relayed, but a direct path exists between %s and %s:\na: %s\nb: %s", x, y, sa.stderr.String(), sb.stderr.String())
	}
	t.Logf("a: %s", lastStatus(sa.stderr.String()))
	d, _ := time.ParseDuration(ma[2])
	return fmt.Sprintf("%s %dms", ma[1], d.Milliseconds())
}

// lastStatus is the status line that names the winner.
func lastStatus(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "connected via") {
			return l
		}
	}
	return ""
}

// TestConnectMatrix runs punch connect between every pair of NAT types,
// with 20 ms links: every pair connects and passes data, directly
// wherever a direct path exists, and prints the matrix.
func TestConnectMatrix(t *testing.T) {
	var m matrix
	for i, x := range connectTypes {
		for _, y := range connectTypes[i:] {
			t.Run(fmt.Sprintf("%s-%s", x, y), func(t *testing.T) {
				m.set(x, y, "FAIL")
				m.set(x, y, connectPair(t, x, y))
			})
		}
	}
	t.Logf("punch connect, 20 ms links (path, time to connect):\n%s", m.table(connectTypes))
}

// TestConnectUnsolicited repeats the matrix, without the random
// symmetric NAT, behind NAT routers that reject and that accept
// unsolicited packets.
func TestConnectUnsolicited(t *testing.T) {
	types := slices.DeleteFunc(slices.Clone(connectTypes), func(n natlab.NATType) bool { return n == natlab.Symmetric })
	for _, in := range []natlab.Input{natlab.Reject, natlab.Accept} {
		t.Run(string(in), func(t *testing.T) {
			var m matrix
			for i, x := range types {
				for _, y := range types[i:] {
					t.Run(fmt.Sprintf("%s-%s", x, y), func(t *testing.T) {
						m.set(x, y, "FAIL")
						m.set(x, y, connectPair(t, x, y, "--input", string(in)))
					})
				}
			}
			t.Logf("punch connect, NATs that %s unsolicited packets:\n%s", in, m.table(types))
		})
	}
}
