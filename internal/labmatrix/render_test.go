package labmatrix

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
)

func TestRender(t *testing.T) {
	types := []natlab.NATType{natlab.FullCone, natlab.Symmetric}
	cells := []Cell{
		{A: natlab.FullCone, B: natlab.FullCone, Paths: []string{"tcp", "tcp", "udp"}, Times: []time.Duration{300 * time.Millisecond, 310 * time.Millisecond, 500 * time.Millisecond}},
		{A: natlab.FullCone, B: natlab.Symmetric, Paths: []string{"udp"}, Times: []time.Duration{420 * time.Millisecond}, Failures: []string{"timeout"}},
		{A: natlab.Symmetric, B: natlab.Symmetric, Failures: []string{"no path"}},
	}
	md := Markdown(types, cells)
	for _, want := range []string{
		"| **fullcone** | tcp 310ms | udp 420ms (1/2) |",
		"| **symmetric** | udp 420ms (1/2) | FAIL |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	svg := SVG(types, cells, "test <matrix>")
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
	}
	for _, want := range []string{"tcp 310ms", "FAIL", "test &lt;matrix&gt;", colours["relay"]} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestDirectPossible(t *testing.T) {
	for _, c := range []struct {
		x, y natlab.NATType
		want bool
	}{
		{natlab.PortRestricted, natlab.PortRestricted, true},
		{natlab.SymmetricSeq, natlab.PortRestricted, true},
		{natlab.Symmetric, natlab.Restricted, true},
		{natlab.Symmetric, natlab.PortRestricted, true},
		{natlab.Firewall, natlab.Symmetric, true},
		{natlab.SymmetricSeq, natlab.Symmetric, false},
		{natlab.SymmetricSeq, natlab.SymmetricSeq, false},
	} {
		if got := DirectPossible(c.x, c.y); got != c.want {
			t.Errorf("DirectPossible(%s, %s) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	if !Birthday(natlab.Firewall, natlab.Symmetric) || Birthday(natlab.Symmetric, natlab.Restricted) || Birthday(natlab.SymmetricSeq, natlab.PortRestricted) {
		t.Error("Birthday is wrong")
	}
}
