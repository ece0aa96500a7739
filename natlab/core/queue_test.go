package core

import (
	"sync"
	"testing"
	"time"
)

// TestQueueBatches checks that a busy rate-limited queue hands on its
// packets in batches at most every BatchInterval, and still at its rate: a
// burst of 400 full-size packets into a 1 Gbit/s queue takes 4.8 ms to
// serialise, so it leaves in at most 4.8 ms / BatchInterval + 2 hand-overs
// (one per packet if every packet were handed on as it fell due), and its
// last packet no earlier than its serialisation allows.
func TestQueueBatches(t *testing.T) {
	const n, size, rate = 400, 1500, 1e9
	var (
		mu    sync.Mutex
		calls []int
		got   int
		last  int64
		done  = make(chan struct{})
	)
	q := newQueue(Params{Rate: rate}, func(pkts []*packet) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, len(pkts))
		for _, p := range pkts {
			putPacket(p)
		}
		got += len(pkts)
		if got == n {
			last = monotime()
			close(done)
		}
	})
	stop := make(chan struct{})
	defer close(stop)
	go q.run(stop)
	pkts := make([]*packet, n)
	for i := range pkts {
		pkts[i] = getPacket()
		pkts[i].n = size
	}
	start := monotime()
	q.send(pkts)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d packets handed on", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	serialise := int64(n * size * 8 * int64(time.Second) / rate)
	if maxCalls := int(serialise/int64(BatchInterval)) + 2; len(calls) > maxCalls {
		t.Errorf("%d hand-overs (%v), want at most %d", len(calls), calls, maxCalls)
	}
	if took := last - start; took < serialise-int64(SleepSlop) {
		t.Errorf("the burst left in %v, faster than the rate allows (%v)", time.Duration(took), time.Duration(serialise))
	}
}
