package punch

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/tunnel"
	"github.com/punchkit/punch/udppunch"
)

// mapping is how a peer's NAT maps its UDP socket, as far as its two STUN
// mappings tell.
type mapping int

const (
	mappingUnknown    mapping = iota // fewer than two samples
	mappingOne                       // one mapping for every destination
	mappingSequential                // a new port per destination, predictable
	mappingRandom                    // a new random port per destination
)

// classify tells a NAT's mapping from the UDP socket's mappings toward
// the STUN server's two ports (udp) and the host's TCP mapping toward the
// rendezvous server.
func classify(udp []netip.AddrPort, tcp netip.AddrPort) mapping {
	if len(udp) < 2 || !udp[0].IsValid() || !udp[1].IsValid() {
		return mappingUnknown
	}
	switch {
	case udp[0] == udp[1]:
		return mappingOne
	case udppunch.Predict(udp[:2], []netip.AddrPort{tcp}, 1) != nil:
		return mappingSequential
	}
	return mappingRandom
}

// The birthday technique: the side behind a NAT that maps each
// destination to a random port (hard) keeps birthdaySockets sockets
// punching toward the other side (easy, one mapping for all), each with a
// mapping of its own; the easy side probes random ports of the hard side's
// address, at most sprayRate a second and sprayCount in all, and a probe
// that hits one of those mappings gets through both NATs. With 256 of
// 64512 ports open, a probe hits with probability 1/252: 95% within 750
// probes.
const (
	birthdaySockets = 256
	sprayRate       = 2000
	sprayCount      = 8192
)

// birthdayHard is the hard side: the UDP socket and birthdaySockets-1
// more punch toward the easy side; the first to get through opens the
// tunnel (the hard side dials, from whichever socket won).
func (c *Config) birthdayHard(ctx context.Context, g *gathered, peers []netip.AddrPort) (link, error) {
	socks := []*net.UDPConn{g.udp}
	defer func() {
		for _, pc := range socks[1:] {
			if pc != nil {
				pc.Close()
			}
		}
	}()
	for len(socks) < birthdaySockets {
		pc, err := session.ListenUDP(g.server.Addr().Is4(), session.Options{Bind: g.opts.Bind})
		if err != nil {
			break // out of sockets: punch with what there is
		}
		socks = append(socks, pc)
	}
	c.Logger.Debug("punch: birthday, hard side", "sockets", len(socks))
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	type won struct {
		i int
		r *udppunch.Result
	}
	wins := make(chan won, len(socks))
	errs := make(chan error, len(socks))
	for i, pc := range socks {
		go func() {
			r, err := udppunch.Punch(pctx, pc, g.opts.Key, peers, &udppunch.Config{TTL: g.opts.TTL, Timeout: c.Timeout, Logger: c.Logger})
			if err != nil {
				errs <- err
				return
			}
			wins <- won{i, r}
		}()
	}
	var w won
	var firstErr error
	for failed := 0; w.r == nil; {
		select {
		case w = <-wins:
		case err := <-errs:
			if firstErr == nil {
				firstErr = err
			}
			if failed++; failed == len(socks) {
				return nil, fmt.Errorf("birthday technique, %d sockets: %w", len(socks), firstErr)
			}
		}
	}
	stop()
	pc := socks[w.i]
	if w.i > 0 {
		socks[w.i] = nil // the link owns it now
	}
	t, err := tunnel.Dial(ctx, pc, w.r.Peer, g.opts.Key, &tunnel.Config{Logger: c.Logger})
	if err != nil {
		if w.i > 0 {
			pc.Close()
		}
		return nil, err
	}
	l := &quicLink{t: &session.Tunnel{Conn: t, Peer: w.r.Peer, Initiator: true, Punched: w.r.Took}}
	if w.i > 0 {
		l.more = pc.Close
	}
	return l, nil
}

// birthdayEasy is the easy side: the UDP socket punches toward the
// peer's candidates and sprays random ports of its address; it accepts
// the tunnel that the hard side dials.
func (c *Config) birthdayEasy(ctx context.Context, g *gathered, peers []netip.AddrPort, hard netip.Addr) (link, error) {
	c.Logger.Debug("punch: birthday, easy side", "spray", hard)
	r, err := udppunch.Punch(ctx, g.udp, g.opts.Key, peers, &udppunch.Config{
		TTL: g.opts.TTL, Timeout: c.Timeout, Logger: c.Logger,
		Spray: &udppunch.Spray{Addr: hard, Rate: sprayRate, Count: sprayCount},
	})
	if err != nil {
		return nil, fmt.Errorf("birthday technique: %w", err)
	}
	t, err := tunnel.Accept(ctx, g.udp, g.opts.Key, &tunnel.Config{Logger: c.Logger})
	if err != nil {
		return nil, err
	}
	return &quicLink{t: &session.Tunnel{Conn: t, Peer: t.RemoteAddr(), Punched: r.Took}}, nil
}
