package session

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/tunnel"
	"github.com/punchkit/punch/udppunch"
)

const (
	// mendTick is how often a mender looks at the tunnel's counters.
	mendTick = 250 * time.Millisecond
	// minSilence is the least time this side must send without hearing
	// from the peer before the path counts as broken; eight round trips
	// if that is longer. QUIC acknowledges within a round trip and 25 ms.
	minSilence = 2 * time.Second
	// mendRetry is the pause between failed attempts to mend.
	mendRetry = time.Second
)

// errPathBack ends a meeting that is no longer needed: the peer was
// heard again on the old path.
var errPathBack = errors.New("the peer answers again on the old path")

// A mender keeps a tunnel that [UDP] opened through a rendezvous server
// going when its path breaks in a way QUIC does not survive by itself:
// the peer's NAT filters this side's packets once this side's public
// address changed (its NAT rebound, or dropped the mapping and made a
// new one on another port), and an initiator does not follow a responder
// to a new address. When the peer falls silent while this side sends,
// both sides notice; each learns its public address anew by STUN on the
// tunnel's socket, they meet again at the server under a token of their
// own for that meeting (secure.RejoinToken), punch a new path from the
// same socket, and the initiator moves its QUIC packets to it. The QUIC
// connection and its streams carry on: nothing sent is lost, it only
// waits. A path that comes back by itself (a blackhole that ends) calls
// the meeting off.
type mender struct {
	t      *Tunnel
	nq     net.PacketConn // the socket's non-QUIC side: STUN and punching
	server string         // the rendezvous server, host:port
	stun   netip.AddrPort // the STUN server on its host
	o      Options

	meetings int // meetings after the first so far
}

// run watches the tunnel until it ends, and mends its path when it
// breaks.
func (m *mender) run() {
	ctx := m.t.Context()
	tick := time.NewTicker(mendTick)
	defer tick.Stop()
	var w silenceWatch
	w.reset(m.t.Stats())
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := m.t.Stats()
		silent, broken := w.observe(time.Now(), s)
		if !broken {
			continue
		}
		m.o.status("nothing from the peer for %v of sending: meeting it again at %s to punch a new path...", silent.Round(100*time.Millisecond), m.server)
		m.mend(ctx, s.PacketsReceived)
		w.reset(m.t.Stats())
	}
}

// A silenceWatch tells from a tunnel's counters, read every mendTick,
// whether its path broke: whether this side has been sending without
// hearing anything back for minSilence (or eight round trips). The wait
// counts from the first send after the last packet heard, not from that
// packet, so that an idle tunnel's keepalive, sent after 15 s of silence
// both ways, has its round trip to be answered.
type silenceWatch struct {
	recv, sent   uint64    // the counters when a packet was last heard
	sendingSince time.Time // when a send after that was first seen; zero if none yet
}

func (w *silenceWatch) reset(s tunnel.Stats) {
	*w = silenceWatch{recv: s.PacketsReceived, sent: s.PacketsSent}
}

// observe takes the counters at now and reports how long this side has
// been sending unanswered, and whether that means the path broke.
func (w *silenceWatch) observe(now time.Time, s tunnel.Stats) (time.Duration, bool) {
	switch {
	case s.PacketsReceived != w.recv:
		w.reset(s)
		return 0, false
	case s.PacketsSent == w.sent:
		return 0, false // idle both ways
	case w.sendingSince.IsZero():
		w.sendingSince = now
	}
	silent := now.Sub(w.sendingSince)
	return silent, silent >= max(minSilence, 8*s.RTT)
}

// mend meets the peer again and punches a new path, trying until it
// succeeds, the peer is heard on the old path before a meeting, or the
// tunnel ends (by its idle timeout, if nothing works).
func (m *mender) mend(ctx context.Context, recv uint64) {
	for ctx.Err() == nil {
		match, err := m.meet(ctx, recv)
		switch {
		case errors.Is(err, errPathBack):
			m.o.status("%v", errPathBack)
			return
		case err != nil:
			m.o.log().Debug("session: meeting again failed", "err", err)
		default:
			r, perr := udppunch.Punch(ctx, m.nq, m.o.Key, candidates(match), &udppunch.Config{
				TTL: -1, Timeout: m.o.Timeout, Logger: m.o.Logger,
			})
			if perr == nil {
				if err = m.t.Move(r.Peer); err == nil {
					m.o.status("new path to the peer: %v (punched in %v)", r.Peer, r.Took.Round(time.Millisecond))
					return
				}
			}
			err = errors.Join(perr, err)
			m.o.status("punching a new path failed: %v; trying again", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(mendRetry):
		}
	}
}

// meet learns this side's public address anew and meets the peer at the
// server. It gives up with errPathBack when the tunnel receives again
// (more than recv packets) before the peers have met.
func (m *mender) meet(ctx context.Context, recv uint64) (*rendezvous.Match, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		tick := time.NewTicker(mendTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if m.t.Stats().PacketsReceived != recv {
					cancel(errPathBack)
					return
				}
			}
		}
	}()
	fail := func(err error) (*rendezvous.Match, error) {
		if cause := context.Cause(ctx); errors.Is(cause, errPathBack) {
			return nil, cause
		}
		return nil, err
	}
	mapped, err := publicAddr(ctx, m.nq, m.stun, m.o)
	if err != nil {
		return fail(err)
	}
	conn, err := dialServer(ctx, m.server, m.stun.Addr().Is4())
	if err != nil {
		return fail(err)
	}
	o := m.o
	match, err := Meet(ctx, conn, rendezvous.Request{
		Token: secure.RejoinToken(m.o.Key, m.meetings+1),
		Kind:  rendezvous.KindUDP,
		Local: []netip.AddrPort{localCandidate(conn, m.t.LocalAddr())},
		UDP:   []netip.AddrPort{mapped},
	}, &o)
	if err != nil {
		return fail(err)
	}
	m.meetings++
	return match, nil
}
