package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// natReport is the part of `punch nat --json` this test checks.
type natReport struct {
	Public         string `json:"public"`
	NAT            bool   `json:"nat"`
	Mapping        string `json:"mapping"`
	Filtering      string `json:"filtering"`
	PortPreserving bool   `json:"port_preserving"`
	Class          string `json:"class"`
}

var wantNAT = map[natlab.NATType]natReport{
	natlab.None:           {NAT: false, Mapping: "endpoint-independent", Filtering: "endpoint-independent", PortPreserving: true, Class: "open"},
	natlab.FullCone:       {NAT: true, Mapping: "endpoint-independent", Filtering: "endpoint-independent", PortPreserving: true, Class: "NAT1"},
	natlab.Restricted:     {NAT: true, Mapping: "endpoint-independent", Filtering: "address-dependent", PortPreserving: true, Class: "NAT2"},
	natlab.PortRestricted: {NAT: true, Mapping: "endpoint-independent", Filtering: "address-and-port-dependent", PortPreserving: true, Class: "NAT3"},
	natlab.SymmetricSeq:   {NAT: true, Mapping: "address-and-port-dependent", Filtering: "address-and-port-dependent", PortPreserving: false, Class: "NAT4"},
	natlab.Symmetric:      {NAT: true, Mapping: "address-and-port-dependent", Filtering: "address-and-port-dependent", PortPreserving: false, Class: "NAT4"},
	natlab.Firewall:       {NAT: false, Mapping: "endpoint-independent", Filtering: "address-and-port-dependent", PortPreserving: true, Class: "firewall"},
}

const coturnPort = "5478" // coturn's primary port; punch server has 3478

// TestNATDiscovery runs `punch nat` behind every lab NAT type against
// `punch server` and against coturn's turnserver, and cross-checks both
// servers with coturn's own RFC 5780 client, turnutils_natdiscovery: the
// third-party client must classify the NAT the same way against either
// server, and that classification must match punch nat's.
func TestNATDiscovery(t *testing.T) {
	labtest.Require(t)
	coturn := haveCoturn(t)
	name := labtest.Name()
	types := natlab.NATTypes
	// punch lab up builds two sites: one lab per pair of types.
	for i := 0; i < len(types); i += 2 {
		pair := types[i:min(i+2, len(types))]
		up := []string{"lab", "up", name, "--nat-a", string(pair[0])}
		if len(pair) > 1 {
			up = append(up, "--nat-b", string(pair[1]))
		}
		mustPunch(t, up...)
		func() {
			defer mustPunch(t, "lab", "down", name)
			background(t, "lab", "exec", name, "server", "--", punchBin, "server", "--ip", "198.51.100.2", "--alt-ip", "198.51.100.3", "--ip", "2001:db8::2", "--alt-ip", "2001:db8::3")
			ports := []string{"3478"}
			if coturn {
				startCoturn(t, name)
				ports = append(ports, coturnPort)
			}
			waitSTUN(t, name, ports)
			for j, typ := range pair {
				host := string(rune('a' + j))
				t.Run(string(typ), func(t *testing.T) {
					checkNAT(t, name, host, typ, coturn)
				})
			}
		}()
	}
}

func checkNAT(t *testing.T, lab, host string, typ natlab.NATType, coturn bool) {
	want := wantNAT[typ]
	servers := map[string]string{"punch server": "198.51.100.2", "punch server, IPv6": "[2001:db8::2]:3478"}
	if coturn {
		servers["coturn"] = "198.51.100.2:" + coturnPort
	}
	for label, server := range servers {
		out := mustPunch(t, "lab", "exec", lab, host, "--", punchBin, "nat", "--server", server, "--json")
		var got natReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("punch nat against %s: %v\n%s", label, err, out)
		}
		got.Public = ""
		if got != want {
			t.Errorf("punch nat against %s behind %s:\n got %+v\nwant %+v", label, typ, got, want)
		}
	}
	if !coturn {
		return
	}
	for _, test := range []string{"-m", "-f"} {
		against := map[string]string{}
		for label, port := range map[string]string{"punch server": "3478", "coturn": coturnPort} {
			against[label] = natdiscovery(t, lab, host, test, port)
		}
		if against["punch server"] != against["coturn"] {
			t.Errorf("turnutils_natdiscovery %s behind %s: %q against punch server, %q against coturn", test, typ, against["punch server"], against["coturn"])
		}
		wantLine := want.Mapping
		if test == "-f" {
			wantLine = want.Filtering
		}
		if got := against["punch server"]; got != wantLine {
			t.Errorf("turnutils_natdiscovery %s behind %s says %q, punch nat says %q", test, typ, got, wantLine)
		}
	}
}

var natdiscoveryRE = regexp.MustCompile(`(Endpoint Independent|Address and Port Dependent|Address Dependent) (Mapping|Filtering)`)

// natdiscovery runs coturn's RFC 5780 client behind host and returns its
// verdict in punch's words (e.g. "address-dependent").
func natdiscovery(t *testing.T, lab, host, test, port string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := runCmd(t, exec.CommandContext(ctx, punchBin, "lab", "exec", lab, host, "--", "turnutils_natdiscovery", test, "-p", port, "198.51.100.2"))
	m := natdiscoveryRE.FindAllStringSubmatch(r.stdout+r.stderr, -1)
	if len(m) == 0 {
		t.Fatalf("turnutils_natdiscovery %s -p %s gave no verdict:\n%s%s", test, port, r.stdout, r.stderr)
	}
	last := m[len(m)-1]
	return strings.ReplaceAll(strings.ToLower(last[1]), " ", "-")
}

// haveCoturn reports whether coturn's tools are installed; where labs are
// required (CI), they must be.
func haveCoturn(t *testing.T) bool {
	_, err1 := exec.LookPath("turnserver")
	_, err2 := exec.LookPath("turnutils_natdiscovery")
	if err1 == nil && err2 == nil {
		return true
	}
	if labtest.Required() {
		t.Fatal("coturn is required for the cross-check (apt-get install coturn; make test does it)")
	}
	t.Log("coturn not installed: skipping the cross-check with turnutils_natdiscovery and turnserver")
	return false
}

// startCoturn runs coturn's STUN server on the lab's server host with two
// listening addresses, ports 5478 and 5479.
func startCoturn(t *testing.T, lab string) {
	cmd := exec.Command(punchBin, "lab", "exec", lab, "server", "--", "turnserver", "--stun-only", "-n", "--no-cli",
		"--no-tls", "--no-dtls", "--log-file", "stdout", "--listening-port", coturnPort,
		"-L", "198.51.100.2", "-L", "198.51.100.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// waitSTUN waits until the STUN servers answer on the lab's server host.
func waitSTUN(t *testing.T, lab string, ports []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, port := range ports {
		for {
			r := punch(t, "lab", "exec", lab, "server", "--", punchBin, "nat", "--server", "198.51.100.2:"+port, "--json", "--timeout", "200ms")
			if strings.Contains(r.stdout, `"public"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no STUN server answers on port %s: %s", port, r.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
