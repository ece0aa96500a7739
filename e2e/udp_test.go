package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
)

// TestUDPMatrix punches UDP and runs the QUIC tunnel between hosts behind
// every pairing of fullcone, restricted, portrestricted and firewall, over
// IPv4 and IPv6, with 20 ms links: a file exchange both ways (256 MiB one
// way, 179 MiB the other, at once) and 20 simultaneous forwarded
// connections.
func TestUDPMatrix(t *testing.T) {
	for i, x := range tcpTypes {
		for _, y := range tcpTypes[i:] {
			t.Run(fmt.Sprintf("%s-%s", x, y), func(t *testing.T) {
				lab := tcpLab(t, "--nat-a", string(x), "--nat-b", string(y), "--delay", "20ms")
				for _, family := range []string{"-4", "-6"} {
					t.Run(family, func(t *testing.T) {
						exchangeWith(t, "udp", 256<<20, lab, "a", "b", family)
						forwardingWith(t, "udp", 20, 100<<10, lab, "a", "b", family)
					})
				}
			})
		}
	}
}

// TestUDPUnsolicited punches between two port-restricted NATs that drop,
// reject or accept unsolicited packets, with instant and 20 ms links.
func TestUDPUnsolicited(t *testing.T) {
	for _, in := range natlab.Inputs {
		for _, delay := range []string{"0ms", "20ms"} {
			t.Run(fmt.Sprintf("%s/%s", in, delay), func(t *testing.T) {
				lab := tcpLab(t, "--input", string(in), "--delay", delay)
				exchangeWith(t, "udp", 1<<20, lab, "a", "b", "-4")
			})
		}
	}
}

// TestUDPNoPortPreservation punches behind NATs that do not keep the local
// port, and with a sequential symmetric NAT facing a restricted one: the
// STUN-mapped address of the very socket is the candidate.
func TestUDPNoPortPreservation(t *testing.T) {
	for _, nats := range [][2]string{{"portrestricted:preserve=off", "restricted:preserve=off"}, {"symmetric-seq", "restricted"}} {
		t.Run(nats[0]+"-"+nats[1], func(t *testing.T) {
			lab := tcpLab(t, "--nat-a", nats[0], "--nat-b", nats[1], "--delay", "20ms")
			exchangeWith(t, "udp", 1<<20, lab, "a", "b", "-4")
		})
	}
}

// TestUDPSeedMode runs the serverless, udphp.py-compatible mode between
// two hosts behind port-preserving NATs: -c and -l with the peer's public
// IP and the default UDP port.
func TestUDPSeedMode(t *testing.T) {
	lab := tcpLab(t, "--nat-a", "portrestricted", "--nat-b", "restricted")
	sb := start(t, lab, "b", nil, "udp", "--key", "seed-key", "-c", "7007", "203.0.113.10")
	sa := start(t, lab, "a", nil, "udp", "--key", "seed-key", "-l", "7070", "203.0.113.18")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(sa.stderr.String(), "forwarding connections") {
		if time.Now().After(deadline) {
			t.Fatalf("no forward: %s\n%s", sa.stderr.String(), sb.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(sa.stderr.String(), "203.0.113.18:5555") {
		t.Errorf("not punched on the default UDP port 5555:\n%s", sa.stderr.String())
	}
}

// TestUDPImpaired exchanges files and forwards 20 simultaneous connections
// over links that lose 5%, duplicate 1% and reorder 1% of the packets,
// with 20 ms of delay. Every link loses 5% in each direction, so a packet
// crosses two lossy links each way: about 10% is lost each way, and plain
// TCP (BBR) moves about 22 Mbit/s on this path, the tunnel about 6. The
// sizes keep the test under a minute: 8 MiB one way and 5.6 MiB the other
// at once, then 20 connections of 128 KiB each way.
func TestUDPImpaired(t *testing.T) {
	lab := tcpLab(t, "--delay", "20ms", "--loss", "5%", "--dup", "1%", "--reorder", "1%")
	exchangeWith(t, "udp", 8<<20, lab, "a", "b", "-4")
	forwardingWith(t, "udp", 20, 128<<10, lab, "a", "b", "-4")
}
