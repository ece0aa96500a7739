package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// kernelRelayed returns how many bytes the pair relay's kernel forwarding
// on the lab's server has taken in and sent out, over every pair it
// holds, from the counters of its nftables sets. (The packet counters
// count the kernel's buffers, which hold many datagrams where the kernel
// coalesced them.)
func kernelRelayed(t *testing.T, server *natlab.Node) (in, out uint64) {
	t.Helper()
	b, err := server.Command(context.Background(), "nft", "-j", "list", "sets").Output()
	if err != nil {
		t.Fatalf("nft -j list sets: %v", err)
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Name  string `json:"name"`
				Table string `json:"table"`
				Elem  []struct {
					Elem struct {
						Counter struct {
							Bytes uint64 `json:"bytes"`
						} `json:"counter"`
					} `json:"elem"`
				} `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, o := range doc.Nftables {
		if o.Set == nil || !strings.HasPrefix(o.Set.Table, "punch_pair_") {
			continue
		}
		for _, e := range o.Set.Elem {
			switch o.Set.Name {
			case "in":
				in += e.Elem.Counter.Bytes
			case "out":
				out += e.Elem.Counter.Bytes
			}
		}
	}
	return in, out
}

// TestRelayKernel exchanges files both ways through the pair relay of
// punch server on the lab's server, which forwards IP and so has the
// kernel forward the pair's datagrams: over IPv4 and IPv6, checking the
// kernel's counters; then with a firewall on the server that drops
// forwarded packets, where the relay must take the pair back and copy
// its datagrams itself.
func TestRelayKernel(t *testing.T) {
	lab := tcpLab(t)
	server := labtest.Node(t, lab, "server")
	for _, family := range []string{"-4", "-6"} {
		t.Run(family, func(t *testing.T) {
			in0, out0 := kernelRelayed(t, server)
			exchangeWith(t, "connect", 4<<20, lab, "a", "b", family, "--path", "relay")
			in, out := kernelRelayed(t, server)
			// 4 MiB one way and 2.8 MiB the other, nearly all of it
			// after the kernel took the pair over.
			if in-in0 < 6<<20 || out-out0 < 6<<20 {
				t.Fatalf("the kernel forwarded %d bytes in and %d out, want at least 6 MiB each", in-in0, out-out0)
			}
			t.Logf("kernel forwarding: %d bytes in, %d out", in-in0, out-out0)
		})
	}
	t.Run("firewall", func(t *testing.T) {
		cmd := server.Command(context.Background(), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader("table inet dropforward {\n chain forward_drop {\n  type filter hook forward priority 0; policy drop;\n }\n}\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
		t.Cleanup(func() { server.Command(context.Background(), "nft", "delete", "table", "inet", "dropforward").Run() })
		exchangeWith(t, "connect", 4<<20, lab, "a", "b", "--path", "relay")
	})
}
