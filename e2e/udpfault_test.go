package e2e

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestUDPFaults moves a file through the tunnel while the lab inflicts a
// fault on one of the NATs mid-transfer, and checks that every byte
// arrives: a 10 s blackhole, a NAT flush on either side, and a NAT that
// rebinds to its other public address, on the initiator's side and on the
// responder's. A rebind needs the peers to meet again and punch a new
// path (the other side's NAT drops packets from the new address until
// then); the test checks that they did.
func TestUDPFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault []string // the fault; NAT "" is the side named by role
		role  string   // initiator or responder
	}{
		{"blackhole-natA", []string{"natA", "blackhole", "10s"}, ""},
		{"flush-nat-natA", []string{"natA", "flush-nat"}, ""},
		{"flush-nat-natB", []string{"natB", "flush-nat"}, ""},
		{"rebind-initiator", []string{"", "rebind"}, "initiator"},
		{"rebind-responder", []string{"", "rebind"}, "responder"},
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
			fault := append([]string{}, tc.fault...)
			if fault[0] == "" {
				fault[0] = "natB"
				if strings.Contains(tx.stderr.String(), "as the "+tc.role) {
					fault[0] = "natA"
				}
			}
			mustPunch(t, append([]string{"lab", "fault", lab.Config.Name}, fault...)...)
			if err := rx.wait(t, 90*time.Second); err != nil {
				t.Fatalf("receiver: %v\n%s\nsender: %s", err, rx.stderr.String(), tx.stderr.String())
			}
			tx.wait(t, 30*time.Second)
			if got := rx.stdout.Bytes(); sha256.Sum256(got) != sha256.Sum256(file) {
				t.Fatalf("received %d of %d bytes, or different bytes\nreceiver: %s\nsender: %s", len(got), len(file), rx.stderr.String(), tx.stderr.String())
			}
			if tc.role != "" {
				for _, s := range []*side{tx, rx} {
					if !strings.Contains(s.stderr.String(), "new path to the peer") {
						t.Errorf("no new path punched after the rebind of %s:\n%s", fault[0], s.stderr.String())
					}
				}
			}
			t.Logf("%s on %s\nreceiver: %s\nsender: %s", fault[1], fault[0], rx.stderr.String(), tx.stderr.String())
		})
	}
}
