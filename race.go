package punch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/tunnel"
	"github.com/punchkit/punch/udppunch"
)

// predictions is how many ports after a sequential NAT's last mapping the
// UDP path probes.
const predictions = 16

// aLongTimeAgo is a deadline in the past, to wake a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// outcome is one path's result in the race.
type outcome struct {
	path Path
	l    link
	err  error
	took time.Duration
}

// race starts every path at once (the relay after its grace period) and
// returns the session over the one the leader chooses: its first link to
// come up. The follower takes the link on which the choice arrives.
func race(ctx context.Context, c *Config, g *gathered, m *rendezvous.Match) (*Session, error) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	results := make(chan outcome, len(c.Paths))
	for _, p := range c.Paths {
		go func() {
			l, err := c.run(rctx, p, g, m)
			results <- outcome{p, l, err, time.Since(start)}
		}()
	}
	chosen := make(chan outcome, len(c.Paths))
	attempts := make(map[Path]Attempt)
	var win outcome
	running, waiting := len(c.Paths), 0
	for win.l == nil && running+waiting > 0 {
		var o outcome
		select {
		case o = <-results:
			running--
			if o.err == nil && m.Leader {
				if o.err = o.l.choose(rctx); o.err == nil {
					win = o
					continue
				}
			} else if o.err == nil {
				waiting++
				go func() {
					err := o.l.chosen(rctx)
					chosen <- outcome{o.path, o.l, err, o.took}
				}()
				continue
			}
		case o = <-chosen:
			waiting--
			if o.err == nil {
				win = o
				continue
			}
		}
		if o.l != nil {
			o.l.close()
		}
		attempts[o.path] = Attempt{Path: o.path, Err: o.err, Took: o.took}
		c.Logger.Debug("punch: path failed", "path", o.path, "err", o.err)
	}
	cancel()
	// The race is over: collect the rest, closing their links.
	for ; running > 0; running-- {
		o := <-results
		loser(attempts, o)
	}
	for ; waiting > 0; waiting-- {
		o := <-chosen
		loser(attempts, o)
	}
	list := make([]Attempt, 0, len(c.Paths))
	for _, p := range c.Paths {
		a := attempts[p]
		if p == win.path {
			a = Attempt{Path: p, Won: true, Took: win.took}
		}
		list = append(list, a)
	}
	if win.l == nil {
		g.close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrNoPath, summary(list))
	}
	return c.session(ctx, g, m, win, list)
}

// session makes the session over the winning link, closes what the other
// paths left open, and starts a relayed session's search for a direct
// path.
func (c *Config) session(ctx context.Context, g *gathered, m *rendezvous.Match, win outcome, list []Attempt) (*Session, error) {
	if g.ln != nil {
		g.ln.Close()
	}
	ql, _ := win.l.(*quicLink)
	upgrade := ql != nil && ql.path != nil && g.udp != nil && slices.Contains(c.Paths, PathUDP)
	if win.path != PathUDP && !upgrade && g.udp != nil {
		g.udp.Close()
	}
	mux, err := win.l.mux(c.Logger)
	if err != nil {
		win.l.close()
		g.close()
		return nil, err
	}
	s := &Session{mux: mux, path: win.path, peer: win.l.peer(), leader: m.Leader, attempts: list, nats: natsOf(g, m)}
	s.closers = append(s.closers, win.l.close)
	if win.path == PathUDP || upgrade {
		s.closers = append(s.closers, g.udp.Close)
	}
	if upgrade {
		// A relayed session keeps trying to go direct.
		s.relayed = ql.path
		uctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		s.closers = append([]func() error{func() error { stop(); return nil }}, s.closers...)
		go s.upgrade(uctx, c, g, m, ql.path)
	}
	return s, nil
}

// loser records a path that ended after the race and closes its link.
func loser(attempts map[Path]Attempt, o outcome) {
	err := o.err
	if o.l != nil {
		o.l.close()
		err = ErrLost
	} else if errors.Is(err, context.Canceled) {
		err = ErrLost
	}
	attempts[o.path] = Attempt{Path: o.path, Err: err, Took: o.took}
}

// summary describes the attempts on one line.
func summary(list []Attempt) string {
	var parts []string
	for _, a := range list {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, "; ")
}

// run brings one path up.
func (c *Config) run(ctx context.Context, p Path, g *gathered, m *rendezvous.Match) (link, error) {
	switch p {
	case PathReverse:
		return c.reverse(ctx, g, m)
	case PathTCP:
		return c.tcp(ctx, g, m)
	case PathUDP:
		return c.udp(ctx, g, m)
	case PathRelay:
		grace := c.RelayGrace
		if len(c.Paths) == 1 {
			grace = 0
		}
		return c.relay(ctx, g, m, grace)
	}
	return nil, fmt.Errorf("%w: unknown path %q", ErrConfig, p)
}

func (c *Config) tcp(ctx context.Context, g *gathered, m *rendezvous.Match) (link, error) {
	s, err := session.PunchMatch(ctx, g.tcpLocal, m, g.opts)
	if err != nil {
		return nil, err
	}
	return &tcpLink{s: s, leader: m.Leader}, nil
}

// udp punches the UDP path and opens the QUIC tunnel over it.
func (c *Config) udp(ctx context.Context, g *gathered, m *rendezvous.Match) (link, error) {
	p, err := c.punchUDP(ctx, g, m, c.Timeout)
	if err != nil {
		return nil, err
	}
	t, err := session.OpenTunnel(ctx, p.pc, p.peer, p.dial, g.opts.Key, &tunnel.Config{Logger: c.Logger})
	if err != nil {
		p.release()
		return nil, err
	}
	t.Punched = p.took
	l := &quicLink{t: t}
	if p.pc != g.udp {
		l.more = p.pc.Close
	}
	return l, nil
}

// punched is a UDP path that a punch found.
type punched struct {
	pc   *net.UDPConn
	peer netip.AddrPort // the peer's address on it
	dial bool           // this side opens the tunnel
	took time.Duration
	g    *gathered
}

// release closes pc unless it is the gathered socket, which the session
// closes.
func (p *punched) release() {
	if p.pc != p.g.udp {
		p.pc.Close()
	}
}

// punchUDP punches from the UDP socket to the peer's candidates: its
// mappings, the ports predicted after them and, behind one public
// address, its LAN addresses; or by the birthday technique when one side
// maps each destination to a random port and the other keeps one mapping.
func (c *Config) punchUDP(ctx context.Context, g *gathered, m *rendezvous.Match, timeout time.Duration) (*punched, error) {
	// Behind a NAT that allocates ports in sequence, the peer's mapping
	// toward us is one of the next ports.
	predicted := udppunch.Predict(m.PeerUDP, []netip.AddrPort{m.Peer}, predictions)
	c.Logger.Debug("punch: UDP candidates", "peer", m.PeerUDP, "predicted", predicted)
	peers := append(slices.Clone(m.PeerUDP), predicted...)
	if m.Peer.Addr() == m.Self.Addr() { // behind the same NAT
		var in info
		if json.Unmarshal(m.PeerInfo, &in) == nil {
			peers = append(peers, in.UDPLocal...)
		}
	}
	peers = unique(peers)
	if len(peers) == 0 {
		return nil, errors.New("the peer offers no UDP address")
	}
	cfg := &udppunch.Config{TTL: g.opts.TTL, Timeout: timeout, Logger: c.Logger}
	n := natsOf(g, m)
	switch {
	case n.Self == MappingRandom && n.Peer.oneMapping():
		return c.birthdayHard(ctx, g, peers, cfg)
	case n.Self.oneMapping() && n.Peer == MappingRandom:
		return c.birthdayEasy(ctx, g, peers, m.PeerUDP[0].Addr(), cfg)
	}
	r, err := udppunch.Punch(ctx, g.udp, g.opts.Key, peers, cfg)
	if err != nil {
		return nil, err
	}
	return &punched{pc: g.udp, peer: r.Peer, dial: r.Initiator, took: r.Took, g: g}, nil
}

// unique drops repeated addresses, keeping the first of each.
func unique(list []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range list {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
