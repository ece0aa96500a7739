package e2e

import (
	"strings"
	"testing"

	"github.com/punchkit/punch/natlab/labtest"
)

// TestDemo runs `punch demo`, the README's main job, and checks that every
// part of it worked: discovery on loopback and behind each lab NAT, a TCP
// punch through a rejecting NAT, the expected failure against a symmetric
// one, a QUIC tunnel over punched UDP, and punch connect between cone
// NATs, against a symmetric NAT, and through the relay between two NATs
// that map each destination to a new port.
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
		`b received "hello via punch connect from a"`,
		`a received "hello via punch connect from b"`,
		`c received "hello via punch connect from a"`,
		`d received "hello via punch connect from c"`,
		"d: connected via relay",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
