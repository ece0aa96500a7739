package punch

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/udppunch"
)

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
// more punch toward the easy side; the first to get through is the path,
// and this side opens the tunnel from it.
func (c *Config) birthdayHard(ctx context.Context, g *gathered, peers []netip.AddrPort, cfg *udppunch.Config) (*punched, error) {
	socks := []*net.UDPConn{g.udp}
	for len(socks) < birthdaySockets {
		pc, err := session.ListenUDP(g.server.Addr().Is4(), session.Options{Bind: g.opts.Bind})
		if err != nil {
			break // out of sockets: punch with what there is
		}
		socks = append(socks, pc)
	}
	c.Logger.Debug("punch: birthday, hard side", "sockets", len(socks))
	pctx, stop := context.WithCancel(ctx)
	type result struct {
		i   int
		r   *udppunch.Result
		err error
	}
	results := make(chan result, len(socks))
	for i, pc := range socks {
		go func() {
			r, err := udppunch.Punch(pctx, pc, g.opts.Key, peers, cfg)
			results <- result{i, r, err}
		}()
	}
	win := -1
	var p *punched
	var firstErr error
	for range socks {
		res := <-results
		switch {
		case res.err == nil && win < 0:
			win = res.i
			p = &punched{pc: socks[res.i], peer: res.r.Peer, dial: true, took: res.r.Took, g: g}
			stop()
		case res.err != nil && firstErr == nil && win < 0:
			firstErr = res.err
		}
	}
	stop()
	for i, pc := range socks[1:] {
		if i+1 != win {
			pc.Close()
		}
	}
	if p == nil {
		return nil, fmt.Errorf("birthday technique, %d sockets: %w", len(socks), firstErr)
	}
	return p, nil
}

// birthdayEasy is the easy side: the UDP socket punches toward the
// peer's candidates and sprays random ports of the hard side's address;
// the hard side opens the tunnel.
func (c *Config) birthdayEasy(ctx context.Context, g *gathered, peers []netip.AddrPort, hard netip.Addr, cfg *udppunch.Config) (*punched, error) {
	cfg.Spray = &udppunch.Spray{Addr: hard, Rate: sprayRate, Count: sprayCount}
	c.Logger.Debug("punch: birthday, easy side", "spray", hard)
	r, err := udppunch.Punch(ctx, g.udp, g.opts.Key, peers, cfg)
	if err != nil {
		return nil, fmt.Errorf("birthday technique: %w", err)
	}
	return &punched{pc: g.udp, peer: r.Peer, took: r.Took, g: g}, nil
}
