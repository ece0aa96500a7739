package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// kernel has the host's kernel forward the datagrams of joined pairs, with
// nftables, instead of the relay's socket: a datagram from one side to
// the relay's address is rewritten, statelessly and untracked, to go to
// the other side (prerouting: destination; postrouting: the relay's
// address as the source), so that it never reaches user space. The table
// holds one element per side in two sets (counted: packets in, and packets
// that made it out, which shows that the host forwards them) and two maps
// (the other side's address and port). Control messages (first payload
// byte 0) still reach the relay.
//
// It needs root (CAP_NET_ADMIN), the nft command, and a host that forwards
// IP (sysctl net.ipv4.ip_forward or net.ipv6.conf.all.forwarding), which
// newKernel checks.
type kernel struct {
	family string // nftables family: "ip" or "ip6"
	table  string
	relay  netip.AddrPort
}

// nftTimeout bounds one nft command.
const nftTimeout = 5 * time.Second

// newKernel sets up kernel forwarding for the pair relay at relay, or
// says why it cannot.
func newKernel(relay netip.AddrPort) (*kernel, error) {
	k := &kernel{family: "ip", relay: relay}
	addrType, sysctl := "ipv4_addr", "/proc/sys/net/ipv4/ip_forward"
	if !relay.Addr().Is4() {
		k.family, addrType, sysctl = "ip6", "ipv6_addr", "/proc/sys/net/ipv6/conf/all/forwarding"
	}
	if !relay.Addr().IsValid() || relay.Addr().IsUnspecified() {
		return nil, errors.New("the relay's socket is not bound to one address")
	}
	if b, err := os.ReadFile(sysctl); err != nil || strings.TrimSpace(string(b)) != "1" {
		return nil, fmt.Errorf("this host does not forward IP (%s is not 1)", sysctl)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("no nft command (Debian package nftables)")
	}
	h := fnv.New32a()
	h.Write([]byte(relay.String()))
	k.table = fmt.Sprintf("punch_pair_%08x", h.Sum32())
	a, p := relay.Addr().String(), relay.Port()
	// The table is made anew: one left by a relay that did not close
	// goes first.
	script := fmt.Sprintf(`table %[1]s %[2]s {}
delete table %[1]s %[2]s
table %[1]s %[2]s {
	set in { type %[3]s . inet_service; counter; }
	set out { type %[3]s . inet_service; counter; }
	map daddr { type %[3]s . inet_service : %[3]s; }
	map dport { type %[3]s . inet_service : inet_service; }
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		%[1]s daddr %[4]s udp dport %[5]d @th,64,8 != 0 %[1]s saddr . udp sport @in notrack %[1]s daddr set %[1]s saddr . udp sport map @daddr udp dport set %[1]s saddr . udp sport map @dport
	}
	chain post {
		type filter hook postrouting priority srcnat; policy accept;
		%[1]s saddr . udp sport @out %[1]s saddr set %[4]s udp sport set %[5]d
	}
}
`, k.family, k.table, addrType, a, p)
	if err := k.nft(script); err != nil {
		return nil, err
	}
	return k, nil
}

// nft runs an nft script.
func (k *kernel) nft(script string) error {
	_, err := k.run([]string{"-f", "-"}, script)
	return err
}

// run runs nft with args and stdin, and returns its output.
func (k *kernel) run(args []string, stdin string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// elements returns the nft elements of the sets and maps for one side,
// from and to the other side's address.
func (k *kernel) elements(op string, from, to netip.AddrPort) string {
	key := fmt.Sprintf("%s . %d", from.Addr(), from.Port())
	var b strings.Builder
	for _, set := range []string{"in", "out"} {
		fmt.Fprintf(&b, "%s element %s %s %s { %s }\n", op, k.family, k.table, set, key)
	}
	if op == "add" {
		fmt.Fprintf(&b, "add element %s %s daddr { %s : %s }\n", k.family, k.table, key, to.Addr())
		fmt.Fprintf(&b, "add element %s %s dport { %s : %d }\n", k.family, k.table, key, to.Port())
	} else {
		fmt.Fprintf(&b, "delete element %s %s daddr { %s }\n", k.family, k.table, key)
		fmt.Fprintf(&b, "delete element %s %s dport { %s }\n", k.family, k.table, key)
	}
	return b.String()
}

// add forwards a pair: a's datagrams to b, b's to a.
func (k *kernel) add(a, b netip.AddrPort) error {
	return k.nft(k.elements("add", a, b) + k.elements("add", b, a))
}

// remove stops forwarding the sides at addrs.
func (k *kernel) remove(addrs ...netip.AddrPort) error {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(k.elements("delete", a, netip.AddrPort{}))
	}
	return k.nft(b.String())
}

// sideCount are the counters of one side: datagrams that came in to be
// forwarded, and those that went out.
type sideCount struct{ in, out uint64 }

// counters returns the counters of every side forwarded, from one
// listing of the table.
func (k *kernel) counters() (map[netip.AddrPort]sideCount, error) {
	out, err := k.run([]string{"-j", "list", "table", k.family, k.table}, "")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Name string `json:"name"`
				Elem []struct {
					Elem struct {
						Val struct {
							Concat []json.RawMessage `json:"concat"`
						} `json:"val"`
						Counter struct {
							Packets uint64 `json:"packets"`
						} `json:"counter"`
					} `json:"elem"`
				} `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft -j list table: %w", err)
	}
	counts := make(map[netip.AddrPort]sideCount)
	for _, o := range doc.Nftables {
		if o.Set == nil || (o.Set.Name != "in" && o.Set.Name != "out") {
			continue
		}
		for _, e := range o.Set.Elem {
			var (
				ip   string
				port uint16
			)
			if len(e.Elem.Val.Concat) != 2 || json.Unmarshal(e.Elem.Val.Concat[0], &ip) != nil || json.Unmarshal(e.Elem.Val.Concat[1], &port) != nil {
				continue
			}
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			ap := netip.AddrPortFrom(addr, port)
			c := counts[ap]
			if o.Set.Name == "in" {
				c.in = e.Elem.Counter.Packets
			} else {
				c.out = e.Elem.Counter.Packets
			}
			counts[ap] = c
		}
	}
	return counts, nil
}

// close removes the table.
func (k *kernel) close() error {
	return k.nft(fmt.Sprintf("delete table %s %s\n", k.family, k.table))
}
