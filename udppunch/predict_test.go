package udppunch

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestPredict(t *testing.T) {
	list := func(s string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, f := range strings.Fields(s) {
			out = append(out, netip.MustParseAddrPort(f))
		}
		return out
	}
	for _, c := range []struct {
		name       string
		udp, other string
		n          int
		want       string
	}{
		{"step 1", "203.0.113.5:20000 203.0.113.5:20001", "", 3, "[203.0.113.5:20002 203.0.113.5:20003 203.0.113.5:20004]"},
		{"shared counter", "203.0.113.5:20000 203.0.113.5:20002", "203.0.113.5:20001", 2, "[203.0.113.5:20003 203.0.113.5:20004]"},
		{"own TCP counter", "203.0.113.5:20000 203.0.113.5:20001", "203.0.113.5:49094", 1, "[203.0.113.5:20002]"},
		{"step 256", "203.0.113.5:20000 203.0.113.5:20256", "", 2, "[203.0.113.5:20512 203.0.113.5:20768]"},
		{"port space ends", "203.0.113.5:65533 203.0.113.5:65534", "", 4, "[203.0.113.5:65535]"},
		{"one mapping for all", "203.0.113.5:4000 203.0.113.5:4000", "203.0.113.5:4000", 4, "[]"},
		{"random", "203.0.113.5:4000 203.0.113.5:51234", "", 4, "[]"},
		{"one sample", "203.0.113.5:4000", "203.0.113.5:4001", 4, "[]"},
		{"other address ignored", "203.0.113.5:4000 203.0.113.5:4002", "198.51.100.9:4001", 1, "[203.0.113.5:4004]"},
		{"IPv6", "[2001:db8::5]:7000 [2001:db8::5]:7001", "", 1, "[[2001:db8::5]:7002]"},
	} {
		got := fmt.Sprint(Predict(list(c.udp), list(c.other), c.n))
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}
