package labmatrix

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/punchkit/punch/natlab"
)

// lookup finds the cell of a pair in either order.
func lookup(cells []Cell, x, y natlab.NATType) (*Cell, bool) {
	for i := range cells {
		c := &cells[i]
		if c.A == x && c.B == y || c.A == y && c.B == x {
			return c, true
		}
	}
	return nil, false
}

// label is a cell's text: the path and the median time, "FAIL" when no
// run succeeded, with the share of successes when some failed.
func (c *Cell) label() string {
	if len(c.Paths) == 0 {
		return "FAIL"
	}
	s := fmt.Sprintf("%s %v", c.Path(), c.Median().Round(time.Millisecond))
	if len(c.Failures) > 0 {
		s += fmt.Sprintf(" (%d/%d)", len(c.Paths), len(c.Paths)+len(c.Failures))
	}
	return s
}

// Markdown renders the cells as a table: rows and columns are NAT types,
// each cell the winning path and the median time to connect.
func Markdown(types []natlab.NATType, cells []Cell) string {
	var b strings.Builder
	b.WriteString("| |")
	for _, y := range types {
		fmt.Fprintf(&b, " %s |", y)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(types)) + "\n")
	for _, x := range types {
		fmt.Fprintf(&b, "| **%s** |", x)
		for _, y := range types {
			label := ""
			if c, ok := lookup(cells, x, y); ok {
				label = c.label()
			}
			fmt.Fprintf(&b, " %s |", label)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// colours of the heat map by path: green for direct paths, amber for the
// relay, red for failures; a direct cell gets darker as it gets slower.
var colours = map[string]string{"reverse": "#1f7a3c", "tcp": "#2e9d4f", "udp": "#4fb36b", "relay": "#f0a830", "": "#d9534f"}

// SVG renders the cells as a heat map: rows and columns are NAT types,
// each cell coloured by the winning path and labelled with it and the
// median time to connect.
func SVG(types []natlab.NATType, cells []Cell, title string) []byte {
	const cw, ch, left, top = 130, 44, 130, 70
	w, h := left+cw*len(types)+10, top+ch*len(types)+50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, t := range types {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", left+cw*i+cw/2, top-10, t)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-weight="bold">%s</text>`+"\n", left-8, top+ch*i+ch/2+4, t)
	}
	for i, x := range types {
		for j, y := range types {
			c, ok := lookup(cells, x, y)
			if !ok {
				continue
			}
			fill := colours[c.Path()]
			opacity := 1.0
			if p := c.Path(); p != "relay" && p != "" {
				// Faster is lighter: 0.45 at 0 s up to 1 at 1 s and more.
				opacity = 0.45 + 0.55*min(1, c.Median().Seconds())
			}
			px, py := left+cw*j, top+ch*i
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" fill-opacity="%.2f" stroke="white"/>`+"\n", px, py, cw, ch, fill, opacity)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", px+cw/2, py+ch/2+4, html.EscapeString(c.label()))
		}
	}
	legend := top + ch*len(types) + 25
	x := left
	for _, p := range []string{"reverse", "tcp", "udp", "relay", ""} {
		name := p
		if p == "" {
			name = "failed"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="14" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, legend-11, colours[p], x+18, legend, name)
		x += 90
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">cell: winning path, median time to connect</text>`+"\n", x, legend)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
