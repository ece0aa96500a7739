package udpbatch

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestOffload sends ten datagrams with GSO in one call to a Conn with
// Offload, which reads them as one coalesced buffer, and passes the
// buffer back with QueueSegments, which the client, without GRO, receives
// as the ten datagrams.
func TestOffload(t *testing.T) {
	sock := listenUDP(t, "127.0.0.1:0")
	c := New(sock)
	if !c.Offload() {
		t.Fatal("no UDP GRO/GSO on this Linux")
	}
	client := listenUDP(t, "127.0.0.1:0")
	server := sock.LocalAddr().(*net.UDPAddr)
	const seg, n = 100, 10
	var data []byte
	for i := range n {
		data = append(data, bytes.Repeat([]byte{byte(i)}, seg)...)
	}
	data = data[:len(data)-30] // the last segment is shorter
	if _, _, err := client.WriteMsgUDP(data, appendSegment(nil, seg), server); err != nil {
		t.Fatal(err)
	}
	b := c.NewBatch(1500, 1500)
	got, err := c.Read(b)
	if err != nil || got != 1 {
		t.Fatalf("Read = %d, %v; want one coalesced buffer", got, err)
	}
	p, from := b.Datagram(0)
	if !bytes.Equal(p, data) || b.Segment(0) != seg {
		t.Fatalf("read %d bytes in segments of %d, want %d in segments of %d", len(p), b.Segment(0), len(data), seg)
	}
	b.QueueSegments(p, from, b.Segment(0))
	if err := c.Flush(b, func(to netip.AddrPort, err error) { t.Errorf("send: %v", err) }); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	client.SetReadDeadline(time.Now().Add(3 * time.Second))
	for i := range n {
		k, _, err := client.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		want := data[i*seg : min((i+1)*seg, len(data))]
		if !bytes.Equal(buf[:k], want) {
			t.Fatalf("datagram %d: %d bytes, want %d", i, k, len(want))
		}
	}
}

// TestWriteSegments checks the fallback that sends a coalesced buffer as
// single datagrams.
func TestWriteSegments(t *testing.T) {
	sock := listenUDP(t, "127.0.0.1:0")
	client := listenUDP(t, "127.0.0.1:0")
	c := New(sock)
	to := client.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := c.writeSegments(bytes.Repeat([]byte{7}, 250), to, 100); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	client.SetReadDeadline(time.Now().Add(3 * time.Second))
	for _, want := range []int{100, 100, 50} {
		k, _, err := client.ReadFromUDPAddrPort(buf)
		if err != nil || k != want {
			t.Fatalf("datagram of %d bytes, %v; want %d", k, err, want)
		}
	}
}
