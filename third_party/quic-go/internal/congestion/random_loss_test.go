package congestion

import (
	"testing"
	"time"

	"github.com/quic-go/quic-go/internal/monotime"
	"github.com/quic-go/quic-go/internal/protocol"
	"github.com/quic-go/quic-go/internal/utils"
)

// TestRandomLossTolerant checks the patch of PATCHES.md: with
// randomLossTolerant set, a loss while the RTT samples of the last round
// trips stay near the minimum leaves the congestion window alone, even if
// the very last sample is late; a loss while a queue stands (every recent
// sample past the threshold), losses of more than 3% of the round's
// packets, and an ECN mark cut it as before; without the option every
// loss cuts it.
func TestRandomLossTolerant(t *testing.T) {
	const minRTT = 80 * time.Millisecond // threshold: 10 ms
	for _, tc := range []struct {
		name     string
		tolerant bool
		rtt      time.Duration // of every sample after the first
		last     time.Duration // of the last sample
		lost     protocol.ByteCount
		losses   int // how many packets are lost
		cut      bool
	}{
		{"random loss", true, minRTT + 9*time.Millisecond, minRTT + 9*time.Millisecond, 1200, 1, false},
		{"random loss after a late sample", true, minRTT + time.Millisecond, minRTT + 30*time.Millisecond, 1200, 1, false},
		{"loss with a queue", true, minRTT + 11*time.Millisecond, minRTT + 11*time.Millisecond, 1200, 1, true},
		{"4 losses in 144 packets", true, minRTT, minRTT, 1200, 4, false},
		{"5 losses in 145 packets", true, minRTT, minRTT, 1200, 5, true},
		{"ECN mark", true, minRTT, minRTT, 0, 1, true},
		{"random loss, option off", false, minRTT, minRTT, 1200, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rtt := utils.NewRTTStats()
			var stats utils.ConnectionStats
			c := NewCubicSender(DefaultClock{}, rtt, &stats, 1200, true, tc.tolerant, nil)
			now := monotime.Now()
			const sent = 200
			for pn := protocol.PacketNumber(1); pn <= sent; pn++ {
				c.OnPacketSent(now, 0, pn, 1200, true)
			}
			// Acknowledgements over four round trips.
			const acked = 140
			for pn := protocol.PacketNumber(1); pn <= acked; pn++ {
				sample := tc.rtt
				switch pn {
				case 1:
					sample = minRTT
				case acked:
					sample = tc.last
				}
				rtt.UpdateRTT(sample, 0)
				c.OnPacketAcked(pn, 1200, sent*1200, now.Add(time.Duration(pn)*minRTT/32))
			}
			before := c.GetCongestionWindow()
			for i := range tc.losses {
				c.OnCongestionEvent(acked+1+protocol.PacketNumber(i), tc.lost, (sent-acked)*1200)
			}
			after := c.GetCongestionWindow()
			if cut := after < before; cut != tc.cut {
				t.Errorf("window %d -> %d: cut %v, want %v", before, after, cut, tc.cut)
			}
			if got := stats.PacketsLost.Load(); got != uint64(tc.losses) {
				t.Errorf("%d losses counted, want %d", got, tc.losses)
			}
		})
	}
}

// TestDeliveryFloor checks that with randomLossTolerant a cut for
// congestion stops at the bandwidth-delay product that the
// acknowledgements measured (their rate times the minimum RTT), and that
// a floor above the window leaves the window as it was: a loss never
// grows it.
func TestDeliveryFloor(t *testing.T) {
	const minRTT = 80 * time.Millisecond
	for _, tc := range []struct {
		name     string
		perMilli protocol.ByteCount // bytes acknowledged each millisecond
		floor    protocol.ByteCount // the window after the cut; 0: before × 0.7
	}{
		{"floor under the cut", 2000, 0},
		{"floor between", 5500, 5500 * 1000 * 80 / 1000},
		{"floor over the window", 12000, 32*1200 + 400*1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rtt := utils.NewRTTStats()
			var stats utils.ConnectionStats
			c := NewCubicSender(DefaultClock{}, rtt, &stats, 1200, true, true, nil)
			now := monotime.Now()
			const sent = 1000
			for pn := protocol.PacketNumber(1); pn <= sent; pn++ {
				c.OnPacketSent(now, 0, pn, 1200, true)
			}
			// 400 ms of acknowledgements, a queue standing after the first.
			for pn := protocol.PacketNumber(1); pn <= 400; pn++ {
				sample := minRTT + 20*time.Millisecond
				if pn == 1 {
					sample = minRTT
				}
				rtt.UpdateRTT(sample, 0)
				c.OnPacketAcked(pn, tc.perMilli, sent*1200, now.Add(time.Duration(pn)*time.Millisecond))
			}
			before := c.GetCongestionWindow()
			c.OnCongestionEvent(401, 1200, 600*1200)
			after := c.GetCongestionWindow()
			want := tc.floor
			if want == 0 {
				want = protocol.ByteCount(float64(before) * renoBeta)
			}
			if diff := float64(after) - float64(want); diff > 0.05*float64(want) || diff < -0.05*float64(want) {
				t.Errorf("window %d -> %d, want about %d", before, after, want)
			}
		})
	}
}

// TestProbeWithoutQueue checks that with randomLossTolerant the window
// grows in congestion avoidance by a quarter of the bytes acknowledged
// while no queue stands, and by NewReno's packet per window while one
// does; without the option, by NewReno's packet per window either way.
func TestProbeWithoutQueue(t *testing.T) {
	const minRTT = 80 * time.Millisecond
	for _, tc := range []struct {
		name     string
		tolerant bool
		rtt      time.Duration // of every sample after the first
		growth   protocol.ByteCount
	}{
		{"no queue", true, minRTT + time.Millisecond, 100 * 1200 / 4},
		{"a queue", true, minRTT + 20*time.Millisecond, 0},
		{"no queue, option off", false, minRTT + time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rtt := utils.NewRTTStats()
			var stats utils.ConnectionStats
			c := NewCubicSender(DefaultClock{}, rtt, &stats, 1200, true, tc.tolerant, nil)
			c.slowStartThreshold = c.congestionWindow // congestion avoidance
			now := monotime.Now()
			cwnd := c.GetCongestionWindow()
			for pn := protocol.PacketNumber(1); pn <= 300; pn++ {
				c.OnPacketSent(now, 0, pn, 1200, true)
			}
			rtt.UpdateRTT(minRTT, 0)
			c.OnPacketAcked(1, 1200, cwnd, now)
			// Acknowledgements over three round trips, then 100 more over
			// two, the sender using its whole window.
			var before protocol.ByteCount
			for pn := protocol.PacketNumber(2); pn <= 251; pn++ {
				if pn == 152 {
					before = c.GetCongestionWindow()
				}
				rtt.UpdateRTT(tc.rtt, 0)
				c.OnPacketAcked(pn, 1200, c.GetCongestionWindow(), now.Add(time.Duration(pn)*minRTT/50))
			}
			got := c.GetCongestionWindow() - before
			switch {
			case tc.growth > 0 && got != tc.growth:
				t.Errorf("window grew by %d, want %d", got, tc.growth)
			case tc.growth == 0 && (got == 0 || got > 3*1200):
				// NewReno: a packet per window of acknowledgements,
				// here 100 of a window of about 40 packets.
				t.Errorf("window grew by %d, want one to three packets", got)
			}
		})
	}
}
