package core

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"
)

// packet is one IP packet in flight; buf holds it at buf[offset:offset+n].
type packet struct {
	buf  []byte
	n    int
	due  int64 // CLOCK_MONOTONIC ns when it leaves the current queue
	seq  uint64
	next *link // the link it leaves the core by
}

func (p *packet) data() []byte { return p.buf[offset : offset+p.n] }

// offset is the headroom before each packet, for the TUN device's virtio
// header.
const offset = 16

// bufSize holds the largest packet the devices carry plus the headroom.
const bufSize = offset + 2048

var pool = sync.Pool{New: func() any { return &packet{buf: make([]byte, bufSize)} }}

func getPacket() *packet { return pool.Get().(*packet) }

func putPacket(p *packet) {
	p.next = nil
	pool.Put(p)
}

// QueueLimit bounds a rate-limited queue: a packet that would wait longer
// than this for transmission is dropped (tail drop).
const QueueLimit = 50 * time.Millisecond

// BatchInterval is how often a busy rate-limited queue hands on the packets
// that are due, as a network card that moderates its interrupts does: a
// packet that reaches an idle queue leaves on time, and the packets behind
// it wait up to BatchInterval to leave together. The core writes each
// hand-over to the site's device in one system call, and the kernel's cost
// is per call more than per packet: at 1 Gbit/s of full-size packets,
// handing on each packet as it fell due cost the core about twice the CPU
// per GB of an unlimited link.
const BatchInterval = 250 * time.Microsecond

// ReorderDelay is how long a packet picked for reordering is held back
// beyond its due time (or twice the jitter, if that is longer): packets
// that follow within that time overtake it.
const ReorderDelay = 3 * time.Millisecond

// Stats counts what a queue did.
type Stats struct {
	Packets    uint64 `json:"packets"`    // packets that entered
	Bytes      uint64 `json:"bytes"`      // bytes that entered
	Lost       uint64 `json:"lost"`       // dropped by the loss probability
	Overflow   uint64 `json:"overflow"`   // dropped because the rate queue was full
	Blackholed uint64 `json:"blackholed"` // dropped by a blackhole fault
	Duplicated uint64 `json:"duplicated"` // copies added
	Reordered  uint64 `json:"reordered"`  // packets held back
	Failed     uint64 `json:"failed"`     // packets the site's device refused
}

// batch is packets that reached a queue together, at a CLOCK_MONOTONIC
// time in ns.
type batch struct {
	pkts []*packet
	at   int64
}

// queue is one direction of a link: it holds packets until they are due
// and then hands them to out, in batches.
type queue struct {
	in  chan batch
	out func([]*packet)

	mu       sync.Mutex
	params   Params
	stats    Stats
	lastTx   int64 // when the rate queue's last packet finishes transmission
	lastDue  int64 // due time of the last packet that was not held back
	rng      *rand.Rand
	seq      uint64
	fifo     []*packet  // packets in due order: all but those held back
	held     packetHeap // packets held back for reordering, by due time
	released []*packet
}

func newQueue(p Params, out func([]*packet)) *queue {
	return &queue{
		in:     make(chan batch, 1024),
		out:    out,
		params: p,
		rng:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

func (q *queue) setParams(p Params) {
	q.mu.Lock()
	q.params = p
	q.mu.Unlock()
}

func (q *queue) snapshot() (Params, Stats) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.params, q.stats
}

// admit applies loss, rate, delay, jitter, reordering and duplication to a
// batch of packets and queues those that survive. Times count from the
// batch's arrival, however late the queue's goroutine takes it in.
func (q *queue) admit(b batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.params
	now := b.at
	for _, pk := range b.pkts {
		q.stats.Packets++
		q.stats.Bytes += uint64(pk.n)
		if p.Loss > 0 && q.rng.Float64() < p.Loss {
			q.stats.Lost++
			putPacket(pk)
			continue
		}
		depart := now
		if p.Rate > 0 {
			start := max(now, q.lastTx)
			if start-now > int64(QueueLimit) {
				q.stats.Overflow++
				putPacket(pk)
				continue
			}
			q.lastTx = start + int64(pk.n)*8*int64(time.Second)/p.Rate
			depart = q.lastTx
		}
		due := depart + int64(p.Delay)
		if p.Jitter > 0 {
			due += q.rng.Int64N(2*int64(p.Jitter)+1) - int64(p.Jitter)
		}
		due = max(due, q.lastDue, now)
		held := p.Reorder > 0 && q.rng.Float64() < p.Reorder
		if held {
			q.stats.Reordered++
			pk.due = due + max(int64(ReorderDelay), 2*int64(p.Jitter))
		} else {
			q.lastDue = due
			pk.due = due
		}
		q.push(pk, held)
		if p.Dup > 0 && q.rng.Float64() < p.Dup {
			q.stats.Duplicated++
			c := getPacket()
			c.n, c.next = pk.n, pk.next
			copy(c.buf[offset:offset+pk.n], pk.data())
			c.due = pk.due
			q.push(c, held)
		}
	}
}

// push queues a packet: in the FIFO, whose due times never decrease, or
// among the held-back packets.
func (q *queue) push(pk *packet, held bool) {
	q.seq++
	pk.seq = q.seq
	if held {
		heap.Push(&q.held, pk)
	} else {
		q.fifo = append(q.fifo, pk)
	}
}

// head returns the packet due first, and whether it is a held one.
func (q *queue) head() (*packet, bool) {
	switch {
	case len(q.fifo) == 0 && len(q.held) == 0:
		return nil, false
	case len(q.held) == 0:
		return q.fifo[0], false
	case len(q.fifo) == 0 || q.held.Less2(q.held[0], q.fifo[0]):
		return q.held[0], true
	}
	return q.fifo[0], false
}

// release pops every packet due by the deadline, in order, and returns the
// due time of the next one (or -1) and whether the queue has a rate.
func (q *queue) release(deadline int64) ([]*packet, int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	paced := q.params.Rate > 0
	q.released = q.released[:0]
	for {
		pk, held := q.head()
		if pk == nil {
			break
		}
		if pk.due > deadline {
			return q.released, pk.due, paced
		}
		if held {
			heap.Pop(&q.held)
		} else {
			q.fifo[0] = nil
			q.fifo = q.fifo[1:]
		}
		q.released = append(q.released, pk)
	}
	if cap(q.fifo) > 4096 {
		q.fifo = nil // let a long-emptied backing array go
	}
	return q.released, -1, paced
}

// dropAll empties the queue (the link went dead).
func (q *queue) dropAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, pk := range append(q.fifo, q.held...) {
		q.stats.Blackholed++
		putPacket(pk)
	}
	q.fifo, q.held = nil, q.held[:0]
}

// send hands a batch of packets that arrive now to the queue.
func (q *queue) send(pkts []*packet) { q.in <- batch{pkts, monotime()} }

// run moves packets until done is closed.
func (q *queue) run(done <-chan struct{}) {
	next := int64(-1)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next < 0 {
			select {
			case b := <-q.in:
				q.admit(b)
			case <-done:
				return
			}
		} else if wait := time.Duration(next - monotime()); wait > preciseSleepMax {
			timer.Reset(wait - preciseSleepMax)
			select {
			case b := <-q.in:
				q.admit(b)
			case <-timer.C:
			case <-done:
				return
			}
		} else if wait > SleepSlop {
			sleepUntil(next)
		}
		q.drain()
		now := monotime()
		out, due, paced := q.release(now + int64(SleepSlop))
		next = due
		if len(out) > 0 {
			q.out(out)
			if paced && next >= 0 {
				// A busy rate-limited queue hands on what is due at most
				// every BatchInterval.
				next = max(next, now+int64(BatchInterval))
			}
		}
	}
}

// drain admits every batch waiting on the input channel.
func (q *queue) drain() {
	for {
		select {
		case b := <-q.in:
			q.admit(b)
		default:
			return
		}
	}
}

// packetHeap orders packets by due time, then by arrival.
type packetHeap []*packet

func (h packetHeap) Len() int           { return len(h) }
func (h packetHeap) Less(i, j int) bool { return h.Less2(h[i], h[j]) }

// Less2 orders two packets by due time, then by arrival.
func (packetHeap) Less2(a, b *packet) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
