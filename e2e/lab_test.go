package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// TestLabCLI drives `punch lab` as a user does: up, list, exec, a
// duplicate name, bad input, down.
func TestLabCLI(t *testing.T) {
	labtest.Require(t)
	name := labtest.Name()
	t.Cleanup(func() { punch(t, "lab", "down", name) })

	out := mustPunch(t, "lab", "up", name, "--nat-a", "fullcone:input=reject", "--nat-b", "symmetric", "--rate", "1gbit", "--json")
	var lab natlab.Lab
	if err := json.Unmarshal([]byte(out), &lab); err != nil {
		t.Fatalf("lab up --json: %v\n%s", err, out)
	}
	a, err := lab.Node("a")
	if err != nil || a.NAT != natlab.FullCone || a.PublicAddr(true).String() != "203.0.113.10" {
		t.Fatalf("host a: %+v, %v", a, err)
	}
	if s, _ := lab.Site("natA"); s.Input != natlab.Reject || s.Link.Up.Rate != 1e9 || s.Link.Down.Rate != 1e9 {
		t.Errorf("site natA: %+v", s)
	}
	if list := mustPunch(t, "lab", "list"); !strings.Contains(list, name) {
		t.Errorf("lab list does not show %s:\n%s", name, list)
	}
	if r := punch(t, "lab", "up", name); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("a second lab with the same name: exit %d, %q", r.code, r.stderr)
	}
	if out := mustPunch(t, "lab", "exec", name, "a", "--", "ping", "-c1", "-W2", "198.51.100.2"); !strings.Contains(out, "1 received") {
		t.Errorf("host a cannot reach the server:\n%s", out)
	}
	if r := punch(t, "lab", "exec", name, "b", "--", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("lab exec did not pass the exit status on: %d", r.code)
	}
	if r := punch(t, "lab", "exec", name, "nosuch", "--", "true"); r.code != 2 || !strings.Contains(r.stderr, "no node") {
		t.Errorf("lab exec on a missing node: exit %d, %q", r.code, r.stderr)
	}

	mustPunch(t, "lab", "down", name)
	if left := netnsWithPrefix("pl-" + name + "-"); len(left) > 0 {
		t.Errorf("lab down left namespaces behind: %v", left)
	}
	if list := mustPunch(t, "lab", "list"); strings.Contains(list, name) {
		t.Errorf("lab list still shows %s", name)
	}
	if r := punch(t, "lab", "down", name); r.code == 0 {
		t.Error("lab down of a missing lab succeeded")
	}
	if r := punch(t, "lab", "down"); r.code != 2 {
		t.Errorf("lab down without a name: exit %d, want 2", r.code)
	}
	if r := punch(t, "lab", "down", "--all"); r.code != 0 {
		t.Errorf("lab down --all: exit %d: %s", r.code, r.stderr)
	}
}

// TestLabUpBadInput checks that bad specifications fail with a usage error
// and leave nothing behind.
func TestLabUpBadInput(t *testing.T) {
	labtest.Require(t)
	name := labtest.Name()
	for _, args := range [][]string{
		{"--nat-a", "nosuchnat"},
		{"--input", "maybe"},
		{"--nat-b", "fullcone:hairpin=perhaps"},
		{"--nat-b", "fullcone:colour=blue"},
		{"--rate", "fast"},
		{"--loss", "150%"},
		{"--link", "natC:delay=1ms"},
		{"--link", "natA:delay"},
		{"--delay", "-5ms"},
		{"--nat-a", "firewall:hosts=9"},
	} {
		r := punch(t, append([]string{"lab", "up", name}, args...)...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("lab up %v: exit %d, stderr %q; want exit 2 and a message", args, r.code, r.stderr)
		}
		if left := netnsWithPrefix("pl-" + name + "-"); len(left) > 0 {
			t.Errorf("lab up %v left namespaces behind: %v", args, left)
			punch(t, "lab", "down", name)
		}
	}
	if r := punch(t, "lab", "up", "bad name!"); r.code != 2 {
		t.Errorf("lab up with a bad name: exit %d", r.code)
	}
}

// TestLabLinkAndFault drives `punch lab link` and `punch lab fault` against
// a running lab: a delay set on a running link shows in the round trip,
// and flush-nat gives a flow through a symmetric NAT a new public port, as
// `punch nat` from a fixed local port sees it.
func TestLabLinkAndFault(t *testing.T) {
	labtest.Require(t)
	name := labtest.Name()
	t.Cleanup(func() { punch(t, "lab", "down", name) })
	mustPunch(t, "lab", "up", name, "--nat-a", "symmetric", "--delay", "10ms")
	background(t, "lab", "exec", name, "server", "--", punchBin, "server", "--ip", "198.51.100.2", "--alt-ip", "198.51.100.3")
	waitSTUN(t, name, []string{"3478"})

	rtt := func() string {
		out := mustPunch(t, "lab", "exec", name, "a", "--", "ping", "-c", "3", "-i", "0.2", "-q", "198.51.100.2")
		return out[strings.LastIndex(out, "="):]
	}
	t.Logf("round trip with 10 ms links: %s", rtt())
	out := mustPunch(t, "lab", "link", name, "natA", "--delay", "50ms", "--loss", "0%")
	if !strings.Contains(out, "delay=50ms") {
		t.Errorf("lab link did not report the new delay:\n%s", out)
	}
	// natA's link now adds 100 ms, the server's 20 ms.
	if r := rtt(); !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(r, "=")), "12") {
		t.Errorf("round trip after lab link: %s, want about 120 ms", r)
	}
	if r := punch(t, "lab", "link", name, "natA", "--delay", "soon"); r.code != 2 {
		t.Errorf("lab link with a bad delay: exit %d", r.code)
	}

	public := func() string {
		out := mustPunch(t, "lab", "exec", name, "a", "--", punchBin, "nat", "--server", "198.51.100.2", "--local", ":40000", "--json")
		var r natReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r.Public
	}
	p1, p2 := public(), public()
	if p1 != p2 {
		t.Fatalf("the mapping changed without a fault: %s, %s", p1, p2)
	}
	mustPunch(t, "lab", "fault", name, "natA", "flush-nat")
	if p3 := public(); p3 == p1 {
		t.Errorf("after flush-nat the public address is still %s", p3)
	}
	for _, args := range [][]string{{"natA", "blackhole"}, {"natA", "melt"}, {"natA", "restart", "soon"}, {"nosuch", "flush-nat"}} {
		if r := punch(t, append([]string{"lab", "fault", name}, args...)...); r.code == 0 {
			t.Errorf("lab fault %v succeeded", args)
		}
	}
	mustPunch(t, "lab", "fault", name, "natA", "blackhole", "300ms")
}
