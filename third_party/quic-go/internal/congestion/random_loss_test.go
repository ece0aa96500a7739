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
// sample past the threshold) and an ECN mark cut it as before; without the
// option every loss cuts it.
func TestRandomLossTolerant(t *testing.T) {
	const minRTT = 80 * time.Millisecond // threshold: 10 ms
	for _, tc := range []struct {
		name     string
		tolerant bool
		rtt      time.Duration // of every sample after the first
		last     time.Duration // of the last sample
		lost     protocol.ByteCount
		cut      bool
	}{
		{"random loss", true, minRTT + 9*time.Millisecond, minRTT + 9*time.Millisecond, 1200, false},
		{"random loss after a late sample", true, minRTT + time.Millisecond, minRTT + 30*time.Millisecond, 1200, false},
		{"loss with a queue", true, minRTT + 11*time.Millisecond, minRTT + 11*time.Millisecond, 1200, true},
		{"ECN mark", true, minRTT, minRTT, 0, true},
		{"random loss, option off", false, minRTT, minRTT, 1200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rtt := utils.NewRTTStats()
			var stats utils.ConnectionStats
			c := NewCubicSender(DefaultClock{}, rtt, &stats, 1200, true, tc.tolerant, nil)
			now := monotime.Now()
			const sent = 40
			for pn := protocol.PacketNumber(1); pn <= sent; pn++ {
				c.OnPacketSent(now, 0, pn, 1200, true)
			}
			// Acknowledgements over four round trips.
			const acked = 16
			for pn := protocol.PacketNumber(1); pn <= acked; pn++ {
				sample := tc.rtt
				switch pn {
				case 1:
					sample = minRTT
				case acked:
					sample = tc.last
				}
				rtt.UpdateRTT(sample, 0)
				c.OnPacketAcked(pn, 1200, sent*1200, now.Add(time.Duration(pn)*minRTT/4))
			}
			before := c.GetCongestionWindow()
			c.OnCongestionEvent(acked+1, tc.lost, (sent-acked)*1200)
			after := c.GetCongestionWindow()
			if cut := after < before; cut != tc.cut {
				t.Errorf("window %d -> %d: cut %v, want %v", before, after, cut, tc.cut)
			}
			if got := stats.PacketsLost.Load(); got != 1 {
				t.Errorf("%d losses counted, want 1", got)
			}
		})
	}
}
