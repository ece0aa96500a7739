package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a settable clock for MemoryMatcher.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// notes records the notifications of tickets.
type notes map[*Ticket]string

func (n notes) ticket(key string, port uint16, kind Kind) *Ticket {
	t := &Ticket{
		Key:      key,
		Offer:    Offer{Addr: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), Kind: kind},
		InUseFor: 30 * time.Second,
	}
	t.Notify = func(peer Offer, err error) {
		if _, dup := n[t]; dup {
			panic("notified twice")
		}
		n[t] = fmt.Sprint(peer.Addr.Port(), " ", err)
	}
	return t
}

// TestMemoryMatcher runs sequences of joins, leaves and clock steps.
func TestMemoryMatcher(t *testing.T) {
	type step struct {
		op     string // "join", "leave", "sleep"
		ticket int    // index into the test's tickets
		d      time.Duration
		// join: want paired with port, or err; leave: want ok
		wantPeer uint16
		wantErr  error
		wantOK   bool
	}
	type tk struct {
		key  string
		port uint16
		kind Kind
	}
	tests := []struct {
		name      string
		tickets   []tk
		steps     []step
		notified  map[int]string
		wantAfter int // Len at the end
	}{
		{
			name:      "pair",
			tickets:   []tk{{"k", 1, KindTCP}, {"k", 2, KindTCP}},
			steps:     []step{{op: "join", ticket: 0}, {op: "join", ticket: 1, wantPeer: 1}},
			notified:  map[int]string{0: "2 <nil>"},
			wantAfter: 1, // in use
		},
		{
			name:    "third-in-use",
			tickets: []tk{{"k", 1, KindTCP}, {"k", 2, KindTCP}, {"k", 3, KindTCP}},
			steps: []step{
				{op: "join", ticket: 0}, {op: "join", ticket: 1, wantPeer: 1},
				{op: "sleep", d: 29 * time.Second},
				{op: "join", ticket: 2, wantErr: ErrKeyInUse},
			},
			notified:  map[int]string{0: "2 <nil>"},
			wantAfter: 1,
		},
		{
			name:    "in-use-expires",
			tickets: []tk{{"k", 1, KindTCP}, {"k", 2, KindTCP}, {"k", 3, KindTCP}, {"other", 4, KindTCP}},
			steps: []step{
				{op: "join", ticket: 0}, {op: "join", ticket: 1, wantPeer: 1},
				{op: "sleep", d: 30 * time.Second},
				{op: "join", ticket: 3}, // sweeps "k"
				{op: "join", ticket: 2},
			},
			notified:  map[int]string{0: "2 <nil>"},
			wantAfter: 2,
		},
		{
			name:    "kind-mismatch",
			tickets: []tk{{"k", 1, KindTCP}, {"k", 2, KindUDP}, {"k", 3, KindUDP}},
			steps: []step{
				{op: "join", ticket: 0}, {op: "join", ticket: 1, wantErr: ErrKindMismatch},
				{op: "join", ticket: 2},
			},
			notified:  map[int]string{0: "0 " + ErrKindMismatch.Error()},
			wantAfter: 1,
		},
		{
			name:    "leave-then-join",
			tickets: []tk{{"k", 1, KindTCP}, {"k", 2, KindTCP}},
			steps: []step{
				{op: "join", ticket: 0}, {op: "leave", ticket: 0, wantOK: true},
				{op: "join", ticket: 1}, {op: "leave", ticket: 0, wantOK: false},
			},
			notified:  map[int]string{},
			wantAfter: 1,
		},
		{
			name:    "leave-after-pair",
			tickets: []tk{{"k", 1, KindTCP}, {"k", 2, KindTCP}},
			steps: []step{
				{op: "join", ticket: 0}, {op: "join", ticket: 1, wantPeer: 1},
				{op: "leave", ticket: 0, wantOK: false},
			},
			notified:  map[int]string{0: "2 <nil>"},
			wantAfter: 1,
		},
		{
			name:      "keys-apart",
			tickets:   []tk{{"legacy:aa", 1, ""}, {"v1:aa", 2, KindTCP}},
			steps:     []step{{op: "join", ticket: 0}, {op: "join", ticket: 1}},
			notified:  map[int]string{},
			wantAfter: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{time.Unix(1000, 0)}
			m := NewMemoryMatcher()
			m.now = clock.now
			n := notes{}
			var tickets []*Ticket
			for _, k := range tt.tickets {
				tickets = append(tickets, n.ticket(k.key, k.port, k.kind))
			}
			for i, st := range tt.steps {
				switch st.op {
				case "sleep":
					clock.t = clock.t.Add(st.d)
				case "join":
					peer, paired, err := m.Join(context.Background(), tickets[st.ticket])
					if !errors.Is(err, st.wantErr) || err == nil && st.wantErr != nil {
						t.Fatalf("step %d: join error %v, want %v", i, err, st.wantErr)
					}
					if paired != (st.wantPeer != 0) || peer.Addr.Port() != st.wantPeer {
						t.Fatalf("step %d: join got %v paired=%v, want peer port %d", i, peer.Addr, paired, st.wantPeer)
					}
				case "leave":
					if ok := m.Leave(context.Background(), tickets[st.ticket]); ok != st.wantOK {
						t.Fatalf("step %d: leave %v, want %v", i, ok, st.wantOK)
					}
				}
			}
			if len(n) != len(tt.notified) {
				t.Errorf("%d notifications, want %d", len(n), len(tt.notified))
			}
			for i, want := range tt.notified {
				if got := n[tickets[i]]; got != want {
					t.Errorf("ticket %d notified %q, want %q", i, got, want)
				}
			}
			if got := m.Len(); got != tt.wantAfter {
				t.Errorf("Len %d, want %d", got, tt.wantAfter)
			}
		})
	}
}

// TestMemoryMatcherSweep checks that in-use keys are forgotten once
// expired, a bounded number per Join, and that the queue does not grow
// without bound.
func TestMemoryMatcherSweep(t *testing.T) {
	clock := &fakeClock{time.Unix(1000, 0)}
	m := NewMemoryMatcher()
	m.now = clock.now
	n := notes{}
	const pairs = 1000
	for i := range pairs {
		key := fmt.Sprint("k", i)
		m.Join(context.Background(), n.ticket(key, 1, KindTCP))
		m.Join(context.Background(), n.ticket(key, 2, KindTCP))
	}
	if m.Len() != pairs {
		t.Fatalf("Len %d, want %d", m.Len(), pairs)
	}
	clock.t = clock.t.Add(time.Minute)
	for i := 0; m.Len() > 0; i++ {
		if i > pairs {
			t.Fatalf("sweeping stalled at %d keys", m.Len())
		}
		probe := n.ticket("probe", 1, KindTCP)
		m.Join(context.Background(), probe)
		if !m.Leave(context.Background(), probe) {
			t.Fatal("probe not withdrawn")
		}
	}
	if len(m.inUse)-m.head != 0 || cap(m.inUse) > 2*pairs {
		t.Errorf("queue holds %d marks (cap %d) after sweeping", len(m.inUse)-m.head, cap(m.inUse))
	}
}

// BenchmarkMemoryMatcher measures one pairing in the matcher alone.
func BenchmarkMemoryMatcher(b *testing.B) {
	m := NewMemoryMatcher()
	ctx := context.Background()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("v1:%064x", i)
	}
	a := &Ticket{Notify: func(Offer, error) {}, InUseFor: time.Millisecond}
	c := &Ticket{Notify: func(Offer, error) {}, InUseFor: time.Millisecond}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Key, c.Key = keys[i%len(keys)], keys[i%len(keys)]
		i++
		m.Join(ctx, a)
		if _, paired, err := m.Join(ctx, c); !paired && err == nil {
			b.Fatal("not paired")
		}
	}
}
