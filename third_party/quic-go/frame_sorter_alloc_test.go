package quic

import (
	"testing"

	"github.com/quic-go/quic-go/internal/protocol"
	"github.com/quic-go/quic-go/internal/wire"
)

// TestFrameSorterAllocs checks that passing a STREAM frame through the
// frame sorter in order, as every packet of a bulk transfer does, does not
// allocate (quic-go as released allocated a method value per frame).
func TestFrameSorterAllocs(t *testing.T) {
	s := newFrameSorter()
	var offset protocol.ByteCount
	allocs := testing.AllocsPerRun(1000, func() {
		f := wire.GetStreamFrame()
		f.Data = f.Data[:1000]
		if err := s.Push(f.Data, offset, f); err != nil {
			t.Fatal(err)
		}
		pos, data, done := s.Pop()
		if pos != offset || len(data) != 1000 || done != f {
			t.Fatalf("popped offset %d, %d bytes, frame %p; pushed offset %d, 1000 bytes, frame %p", pos, len(data), done, offset, f)
		}
		done.PutBack()
		offset += 1000
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per frame", allocs)
	}
}
