package quic

import (
	"testing"

	"github.com/quic-go/quic-go/internal/protocol"
)

// TestReceiveQueueDepth checks punch's third patch (PATCHES.md): a
// connection queues thousands of received packets while its goroutine is
// busy, not quic-go's 256, which a burst read with UDP GRO (up to 8
// messages of 64 datagrams) overflows, and which at 400 Mbit/s in punch's
// lab dropped about 2% of the packets on the receiver, on top of the
// path's loss. The queue refuses a packet only beyond the limit.
func TestReceiveQueueDepth(t *testing.T) {
	if protocol.MaxConnUnprocessedPackets < 4096 {
		t.Fatalf("a connection queues %d packets, want at least 4096", protocol.MaxConnUnprocessedPackets)
	}
	active := &pathReceiver{}
	var q receivedPacketQueue
	q.Init(active)
	for i := range protocol.MaxConnUnprocessedPackets {
		if !q.Push(receivedPacket{data: []byte{byte(i)}}, active) {
			t.Fatalf("packet %d refused", i)
		}
	}
	if q.Push(receivedPacket{}, active) {
		t.Fatal("a packet beyond the limit was queued")
	}
	for i := range protocol.MaxConnUnprocessedPackets {
		p, _, ok := q.Pop()
		if !ok || p.data[0] != byte(i) {
			t.Fatalf("packet %d: %v, %v", i, p.data, ok)
		}
	}
}
