//go:build linux

package quic

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadGRO checks punch's UDP GRO patch (PATCHES.md): datagrams the
// kernel hands over together, here one UDP_SEGMENT send of five segments
// on loopback, come out of ReadPacket one by one, in order and intact, the
// last one shorter, each in a packet buffer of its own; a single datagram
// that follows comes out whole. With GRO disabled (QUIC_GO_DISABLE_GRO)
// the same datagrams arrive through the unpatched path.
func TestReadGRO(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		name := "gro"
		if disabled {
			name = "disabled"
			t.Setenv("QUIC_GO_DISABLE_GRO", "1")
		}
		t.Run(name, func(t *testing.T) {
			recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer recv.Close()
			c, err := newConn(recv, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.groBuffers != nil; got == disabled {
				t.Fatalf("GRO enabled: %v, want %v", got, !disabled)
			}
			send, err := net.DialUDP("udp4", nil, recv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer send.Close()

			const segSize = 1200
			var want [][]byte
			var all []byte
			for i := range 5 {
				n := segSize
				if i == 4 {
					n = 500
				}
				seg := bytes.Repeat([]byte{byte('a' + i)}, n)
				want = append(want, seg)
				all = append(all, seg...)
			}
			oob := appendUDPSegmentSizeMsg(nil, segSize)
			if _, _, err := send.WriteMsgUDP(all, oob, nil); err != nil {
				t.Fatal(err)
			}
			single := []byte("a datagram on its own")
			want = append(want, single)
			if _, err := send.Write(single); err != nil {
				t.Fatal(err)
			}

			seen := map[*packetBuffer]bool{}
			for i, w := range want {
				p, err := c.ReadPacket()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.data, w) {
					t.Fatalf("packet %d: %d bytes %.10q..., want %d bytes %.10q...", i, len(p.data), p.data, len(w), w)
				}
				if seen[p.buffer] {
					t.Fatalf("packet %d shares its buffer with an earlier one", i)
				}
				seen[p.buffer] = true
				if p.remoteAddr.String() != send.LocalAddr().String() {
					t.Fatalf("packet %d from %v, want %v", i, p.remoteAddr, send.LocalAddr())
				}
				if i == 0 && !disabled {
					// The kernel handed the five segments over as one
					// message: four wait in the GRO state.
					if rest := len(c.gro.rest); rest != 3*segSize+500 {
						t.Fatalf("after the first segment %d bytes wait, want %d (segments not received together)", rest, 3*segSize+500)
					}
				}
			}
		})
	}
}

// TestGROSegmentSize checks the parsing of the UDP_GRO control message.
func TestGROSegmentSize(t *testing.T) {
	body := binary.NativeEndian.AppendUint32(nil, 1350)
	n, ok := groSegmentSize(unix.Cmsghdr{Level: unix.IPPROTO_UDP, Type: unix.UDP_GRO}, body)
	if !ok || n != 1350 {
		t.Fatalf("got %d, %v; want 1350, true", n, ok)
	}
	if _, ok := groSegmentSize(unix.Cmsghdr{Level: unix.IPPROTO_IP, Type: unix.UDP_GRO}, body); ok {
		t.Fatal("took a control message of another level")
	}
	if _, ok := groSegmentSize(unix.Cmsghdr{Level: unix.IPPROTO_UDP, Type: unix.UDP_GRO}, body[:2]); ok {
		t.Fatal("took a short body")
	}
}
