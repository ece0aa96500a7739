package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	pionstun "github.com/pion/stun/v4"

	"github.com/punchkit/punch/stun"
)

// runPunch runs the command line args and returns stdout, stderr and the
// error.
func runPunch(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := New()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// plainSTUN starts a STUN server without RFC 5780 support on loopback.
func plainSTUN(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &pionstun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != pionstun.BindingRequest {
				continue
			}
			a := from.(*net.UDPAddr)
			m := pionstun.MustBuild(pionstun.NewTransactionIDSetter(req.TransactionID), pionstun.BindingSuccess,
				&pionstun.XORMappedAddress{IP: a.IP, Port: a.Port}, pionstun.Fingerprint)
			_, _ = pc.WriteTo(m.Raw, from)
		}
	}()
	return pc.LocalAddr().String()
}

// silentUDP returns the address of a UDP socket that never answers.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestNatUsage(t *testing.T) {
	t.Setenv(stunServerEnv, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"nat"}, stunServerEnv},
		{"bad local", []string{"nat", "--server", "127.0.0.1", "--local", "nowhere"}, "--local"},
		{"bad timeout", []string{"nat", "--server", "127.0.0.1", "--timeout", "-1s"}, "--timeout"},
		{"bad flag", []string{"nat", "--bogus"}, "bogus"},
		{"extra argument", []string{"nat", "--server", "127.0.0.1", "extra"}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runPunch(t, tt.args...)
			if err == nil || Report(io.Discard, err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v (exit %d), want a usage error mentioning %q", err, Report(io.Discard, err), tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestNatNoServer(t *testing.T) {
	t.Setenv(stunServerEnv, silentUDP(t))
	out, _, err := runPunch(t, "nat", "--json", "--timeout", "200ms")
	if err == nil || Report(io.Discard, err) != 1 || !strings.Contains(err.Error(), "no STUN server reachable") {
		t.Errorf("err %v, want no STUN server reachable", err)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing without a report", out)
	}
}

func TestNatNoRFC5780(t *testing.T) {
	server := plainSTUN(t)
	t.Run("json", func(t *testing.T) {
		out, _, err := runPunch(t, "nat", "--server", server, "--json", "--timeout", "200ms", "--local", "127.0.0.1")
		if err == nil || Report(io.Discard, err) != 1 || !strings.Contains(err.Error(), "RFC 5780") ||
			!strings.Contains(err.Error(), "mapping, filtering") {
			t.Errorf("err %v, want one naming RFC 5780 and the skipped tests", err)
		}
		var r map[string]any
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out)
		}
		if dec.More() {
			t.Errorf("stdout holds more than one JSON value:\n%s", out)
		}
		if r["nat"] != false || r["mapping"] != "unknown" || r["class"] != "unknown" ||
			!strings.HasPrefix(r["public"].(string), "127.0.0.1:") {
			t.Errorf("report %v", r)
		}
	})
	t.Run("text", func(t *testing.T) {
		out, _, err := runPunch(t, "nat", "--server", server, "--timeout", "200ms")
		if err == nil {
			t.Error("no error")
		}
		for _, want := range []string{"Public address", "Not measured     mapping, filtering", "Advice"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestPrintNatReport(t *testing.T) {
	r := &stun.Report{
		Local:          netip.MustParseAddrPort("10.0.1.2:40000"),
		Server:         netip.MustParseAddrPort("198.51.100.2:3478"),
		Other:          netip.MustParseAddrPort("198.51.100.3:3479"),
		Public:         netip.MustParseAddrPort("203.0.113.10:40000"),
		NAT:            true,
		Mapping:        stun.EndpointIndependentMapping,
		Filtering:      stun.AddressAndPortDependentFiltering,
		PortPreserving: true,
		Class:          stun.ClassNAT3,
		Advice:         stun.ClassNAT3.Advice(),
	}
	var b bytes.Buffer
	printNatReport(&b, r)
	want := `STUN server      198.51.100.2:3478 (alternate 198.51.100.3:3479)
Local address    10.0.1.2:40000
Public address   203.0.113.10:40000
NAT              yes
Mapping          endpoint-independent
Filtering        address-and-port-dependent
Port preserved   yes
Hairpinning      no
Class            NAT3 (port-restricted cone)
Advice           ` + stun.ClassNAT3.Advice() + "\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestParseLocal(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"", "udp", ":0"},
		{"0.0.0.0:0", "udp4", "0.0.0.0:0"},
		{"10.0.0.1", "udp4", "10.0.0.1:0"},
		{"[::]:4000", "udp6", "[::]:4000"},
		{"::1", "udp6", "[::1]:0"},
		{"[fd00::1]", "udp6", "[fd00::1]:0"},
		{":5000", "udp", ":5000"},
		{"x", "", ""},
		{":x", "", ""},
	}
	for _, tt := range tests {
		network, addr, err := parseLocal(tt.in)
		if network != tt.network || addr != tt.addr || (err != nil) != (tt.network == "") {
			t.Errorf("parseLocal(%q) = %q, %q, %v; want %q, %q", tt.in, network, addr, err, tt.network, tt.addr)
		}
	}
}
