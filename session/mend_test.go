package session

import (
	"testing"
	"time"

	"github.com/punchkit/punch/tunnel"
)

// TestSilenceWatch feeds a silenceWatch the counters of a tunnel, tick by
// tick: an idle tunnel whose keepalive is answered within its round trip
// never counts as broken, however long the idle time before it; sending
// unanswered does after minSilence (or eight round trips), counted from
// the first unanswered send; anything heard starts over.
func TestSilenceWatch(t *testing.T) {
	start := time.Now()
	at := func(d time.Duration) time.Time { return start.Add(d) }
	var w silenceWatch
	st := tunnel.Stats{PacketsSent: 10, PacketsReceived: 10, RTT: 80 * time.Millisecond}
	w.reset(st)
	check := func(now time.Duration, want bool) {
		t.Helper()
		if silent, broken := w.observe(at(now), st); broken != want {
			t.Fatalf("at %v (sending unanswered for %v): broken %v, want %v", now, silent, broken, want)
		}
	}
	// 15 s idle both ways.
	for d := time.Duration(0); d < 15*time.Second; d += mendTick {
		check(d, false)
	}
	// A keepalive goes out; the next tick comes before its answer.
	st.PacketsSent++
	check(15*time.Second, false)
	check(15*time.Second+mendTick, false)
	// The answer.
	st.PacketsReceived++
	check(15*time.Second+2*mendTick, false)
	// Sending, unanswered: broken after minSilence from the first send.
	st.PacketsSent += 5
	check(16*time.Second, false)
	st.PacketsSent += 5
	check(16*time.Second+minSilence-mendTick, false)
	check(16*time.Second+minSilence, true)
	// Heard again: starts over.
	st.PacketsReceived++
	check(19*time.Second, false)
	// Eight round trips when that is longer than minSilence.
	st.RTT = time.Second
	st.PacketsSent++
	check(20*time.Second, false)
	check(20*time.Second+minSilence, false)
	check(28*time.Second, true)
}
