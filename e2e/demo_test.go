package e2e

import (
	"strings"
	"testing"

	"github.com/punchkit/punch/natlab/labtest"
)

// TestDemo runs `punch demo`, the README's main job, and checks that every
// part of it worked: discovery on loopback and behind each lab NAT, a TCP
// punch through a rejecting NAT, the expected failure against a symmetric
// one, and a QUIC tunnel over punched UDP.
func TestDemo(t *testing.T) {
	labtest.Require(t)
	out := mustPunch(t, "demo")
	for _, want := range []string{
		"-> open (no NAT, no firewall)",
		"-> NAT3 (port-restricted cone)",
		"-> NAT2 (restricted cone)",
		"-> NAT4 (symmetric)",
		`b received "hello from a"`,
		"no connection, as expected for a symmetric NAT",
		`b received "hello over QUIC from a"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
