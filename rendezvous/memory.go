package rendezvous

import (
	"context"
	"sync"
	"time"
)

// MemoryMatcher is a Matcher that keeps its state in this process: the
// default, for a server that runs alone. Its zero value is not usable; call
// NewMemoryMatcher.
//
// It holds one small map entry per key that waits or is in use. Keys in
// use are forgotten lazily, as later Joins pass their expiry, so a server
// that goes quiet after a burst keeps the burst's entries (some tens of
// bytes each) until the next Join.
type MemoryMatcher struct {
	now func() time.Time // time.Now; tests replace it

	mu    sync.Mutex
	keys  map[string]memEntry
	inUse []inUseMark // in order of marking, for expiry
	head  int         // first live mark in inUse
}

// memEntry is the state of one key: a waiting ticket, or in use until a
// time.
type memEntry struct {
	waiting *Ticket
	until   time.Time
}

// inUseMark records when a key's in-use state ends.
type inUseMark struct {
	key   string
	until time.Time
}

// maxSweep bounds the expired marks one Join removes, so that no Join
// pays for a whole burst.
const maxSweep = 64

// NewMemoryMatcher returns an empty MemoryMatcher.
func NewMemoryMatcher() *MemoryMatcher {
	return &MemoryMatcher{now: time.Now, keys: make(map[string]memEntry)}
}

// Join implements Matcher. It never blocks and ignores ctx.
func (m *MemoryMatcher) Join(_ context.Context, t *Ticket) (Offer, bool, error) {
	now := m.now()
	m.mu.Lock()
	m.sweep(now)
	e, ok := m.keys[t.Key]
	switch {
	case ok && e.waiting != nil && e.waiting.Offer.Kind != t.Offer.Kind:
		delete(m.keys, t.Key)
		m.mu.Unlock()
		e.waiting.Notify(Offer{}, ErrKindMismatch)
		return Offer{}, false, ErrKindMismatch
	case ok && e.waiting != nil:
		if t.InUseFor > 0 {
			until := now.Add(t.InUseFor)
			m.keys[t.Key] = memEntry{until: until}
			m.inUse = append(m.inUse, inUseMark{t.Key, until})
		} else {
			delete(m.keys, t.Key)
		}
		m.mu.Unlock()
		e.waiting.Notify(t.Offer, nil)
		return e.waiting.Offer, true, nil
	case ok && now.Before(e.until):
		m.mu.Unlock()
		return Offer{}, false, ErrKeyInUse
	}
	m.keys[t.Key] = memEntry{waiting: t}
	m.mu.Unlock()
	return Offer{}, false, nil
}

// Leave implements Matcher. It never blocks and ignores ctx.
func (m *MemoryMatcher) Leave(_ context.Context, t *Ticket) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.keys[t.Key]; ok && e.waiting == t {
		delete(m.keys, t.Key)
		return true
	}
	return false
}

// Len reports how many keys have a waiting ticket or are in use.
func (m *MemoryMatcher) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// sweep forgets up to maxSweep keys whose in-use state ended before now.
// m.mu is held.
func (m *MemoryMatcher) sweep(now time.Time) {
	for i := 0; i < maxSweep && m.head < len(m.inUse); i++ {
		mark := m.inUse[m.head]
		if now.Before(mark.until) {
			break
		}
		if e, ok := m.keys[mark.key]; ok && e.waiting == nil && e.until.Equal(mark.until) {
			delete(m.keys, mark.key)
		}
		m.inUse[m.head] = inUseMark{}
		m.head++
	}
	// Reuse the queue's space once it is half dead.
	if m.head > 0 && m.head >= len(m.inUse)/2 {
		n := copy(m.inUse, m.inUse[m.head:])
		clear(m.inUse[n:])
		m.inUse = m.inUse[:n]
		m.head = 0
	}
}
