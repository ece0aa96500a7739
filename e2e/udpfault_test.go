package e2e

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestUDPFaults moves a file through the tunnel while the lab inflicts a
// fault on one of the NATs mid-transfer, and checks that every byte
// arrives: a 10 s blackhole, and a NAT flush on either side. (A NAT rebind
// to a new public address is not survived yet: the other side's NAT drops
// packets from the new address until the peers punch again.)
func TestUDPFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault []string
	}{
		{"blackhole-natA", []string{"natA", "blackhole", "10s"}},
		{"flush-nat-natA", []string{"natA", "flush-nat"}},
		{"flush-nat-natB", []string{"natB", "flush-nat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := tcpLab(t, "--rate", "50mbit", "--delay", "5ms")
			file := randomBytes(32 << 20) // about 5 s at 50 Mbit/s
			key := "fault-" + tc.name
			rx := start(t, lab, "b", nil, "udp", "-4", "-r", "-T", "198.51.100.2", key)
			tx := start(t, lab, "a", file, "udp", "-4", "-s", "-T", "198.51.100.2", key)
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(tx.stderr.String(), "connected") {
				if time.Now().After(deadline) {
					t.Fatalf("no connection: %s", tx.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(1500 * time.Millisecond)
			mustPunch(t, append([]string{"lab", "fault", lab.Config.Name}, tc.fault...)...)
			if err := rx.wait(t, 90*time.Second); err != nil {
				t.Fatalf("receiver: %v\n%s\nsender: %s", err, rx.stderr.String(), tx.stderr.String())
			}
			tx.wait(t, 30*time.Second)
			if got := rx.stdout.Bytes(); sha256.Sum256(got) != sha256.Sum256(file) {
				t.Fatalf("received %d of %d bytes, or different bytes\nreceiver: %s\nsender: %s", len(got), len(file), rx.stderr.String(), tx.stderr.String())
			}
		})
	}
}
