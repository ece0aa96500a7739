package quic

import (
	"testing"

	"github.com/quic-go/quic-go/internal/protocol"
)

// TestGSOBatch checks punch's fourth patch (PATCHES.md): one GSO send
// carries as many full-size packets as fit in one UDP datagram of IPv4
// (65,535 bytes with the 20-byte IP and 8-byte UDP headers), at least 40,
// as a TCP segmentation offload carries about 44 segments, instead of the
// 14 of quic-go's 20 KiB.
func TestGSOBatch(t *testing.T) {
	n := protocol.MaxLargePacketBufferSize / protocol.MaxPacketBufferSize
	if n < 40 {
		t.Errorf("a GSO send carries %d full-size packets, want at least 40", n)
	}
	if total := protocol.MaxLargePacketBufferSize + 20 + 8; total > 65535 {
		t.Errorf("a full GSO send is an IPv4 datagram of %d bytes, over 65,535", total)
	}
	if n > 64 {
		t.Errorf("%d segments, over the kernel's 64 (UDP_MAX_SEGMENTS)", n)
	}
	b := getLargePacketBuffer()
	if b.Cap() != protocol.MaxLargePacketBufferSize {
		t.Errorf("large buffer of %d bytes", b.Cap())
	}
	b.Release()
}
