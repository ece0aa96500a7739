package punch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/internal/sockbuf"
	"github.com/punchkit/punch/relay"
	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/tunnel"
)

// relayToken names the second meeting of a pair that falls back to the
// relay: SHA-256("punch relay v1" || token of the key).
func relayToken(key string) [rendezvous.KeySize]byte {
	t := secure.Token(key)
	return sha256.Sum256(append([]byte("punch relay v1"), t[:]...))
}

// relay allocates a relayed address on the server's relay with the grant
// the meeting gave, meets the peer again to trade relayed addresses and
// opens the QUIC tunnel between the two allocations (the leader dials), all
// at once, so that the relay is ready when the grace period ends: the
// leader offers the link only then.
//
// The relay is the server's pair relay where it runs one (a socket of
// this side's joined to the pair, the relay then standing for the peer),
// and TURN otherwise, or when the pair relay does not answer (an
// allocation each, the relayed addresses traded at the rendezvous).
func (c *Config) relay(ctx context.Context, g *gathered, m *rendezvous.Match, grace time.Duration) (link, error) {
	start := time.Now()
	if m.Relay == nil {
		return nil, ErrNoRelay
	}
	sameFamily := func(addrs []netip.AddrPort) netip.AddrPort {
		for _, a := range addrs {
			if a.Addr().Is4() == g.server.Addr().Is4() {
				return a
			}
		}
		return netip.AddrPort{}
	}
	pairRelay, server := sameFamily(m.Relay.Pair), sameFamily(m.Relay.Addrs)
	if c.RelayTURN {
		pairRelay = netip.AddrPort{}
	}
	if !server.IsValid() && !pairRelay.IsValid() {
		return nil, fmt.Errorf("%w for this address family", ErrNoRelay)
	}
	pc, err := session.ListenUDP(g.server.Addr().Is4(), session.Options{})
	if err != nil {
		return nil, err
	}
	// The tunnel sizes the buffers of the sockets it is given, but here it
	// gets a pathConn, not this socket.
	sockbuf.Set(pc, relay.DefaultSocketBuffer, c.Logger)
	creds := relay.Credentials{Username: m.Relay.Username, Password: m.Relay.Password}
	var (
		path    *pathConn
		peer    netip.AddrPort
		closeRC = func() error { return nil }
	)
	release := func() error {
		if path != nil {
			path.Close()
		}
		err := closeRC()
		pc.Close()
		return err
	}
	if pairRelay.IsValid() {
		err := c.joinPair(ctx, pc, relay.Pair{Relay: pairRelay, Credentials: creds}, m.Leader)
		switch {
		case errors.Is(err, relay.ErrNoAnswer) && server.IsValid():
			// The pair relay's port is blocked, most likely in front of
			// the server, and then for the peer too: both take TURN.
			c.Logger.Debug("punch: the pair relay does not answer: TURN", "relay", pairRelay)
			pairRelay = netip.AddrPort{}
		case err != nil:
			pc.Close()
			return nil, err
		default:
			peer = pairRelay
			path = newPathConn(pc, peer)
			c.Logger.Debug("punch: pair relay", "relay", pairRelay)
		}
	}
	if !pairRelay.IsValid() {
		rc, err := relay.Allocate(ctx, pc, server, creds, &relay.ClientConfig{Logger: c.Logger})
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("relay %v: %w", server, err)
		}
		closeRC = rc.Close
		if peer, err = c.tradeRelayed(ctx, g, rc.RelayedAddr()); err != nil {
			release()
			return nil, err
		}
		c.Logger.Debug("punch: relay", "relayed", rc.RelayedAddr(), "peer", peer)
		path = newPathConn(rc, peer)
		if !m.Leader {
			// The first packet to the peer's relayed address creates the
			// permission that lets the leader's packets in.
			rc.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(peer))
		}
	}
	t, err := session.OpenTunnel(ctx, path.packetConn(), peer, m.Leader, g.opts.Key, &tunnel.Config{Logger: c.Logger, PacketSize: relayPacketSize})
	if err != nil {
		release()
		return nil, err
	}
	// The tunnel is ready; the leader offers it only once the direct
	// paths have had their grace period.
	if m.Leader {
		if err := sleep(ctx, grace-time.Since(start)); err != nil {
			t.Close()
			release()
			return nil, ErrLost
		}
	}
	return &quicLink{t: t, more: release, path: path}, nil
}

// pairAnswer bounds the wait for the pair relay's first answer, after
// which the relay path takes TURN instead.
const pairAnswer = 2 * time.Second

// joinPair joins pc to this side of the pair on the pair relay: at once,
// to learn within pairAnswer whether the relay answers (relay.ErrNoAnswer
// if not), and then, for the leader, until the follower has joined too,
// so that the leader's first QUIC packet is not dropped by the relay for
// want of a peer.
func (c *Config) joinPair(ctx context.Context, pc net.PacketConn, p relay.Pair, leader bool) error {
	p.Side = 1
	if leader {
		p.Side = 0
	}
	if err := relay.JoinPair(ctx, pc, p, false, &relay.ClientConfig{Timeout: pairAnswer, Logger: c.Logger}); err != nil || !leader {
		return err
	}
	return relay.JoinPair(ctx, pc, p, true, &relay.ClientConfig{Logger: c.Logger})
}

// relayPacketSize is the size of the QUIC packets of a relayed tunnel,
// whose packet connection cannot discover the path MTU: with TURN's
// ChannelData header (4 bytes; the pair relay adds none), UDP and IPv6 it
// is 1402 bytes on the wire, which passes the 1500-byte MTU of most paths,
// PPPoE's 1492 and most tunnels'.
const relayPacketSize = 1350

// upgradeTimeout bounds a relayed session's search for a direct path.
const upgradeTimeout = time.Minute

// upgrade keeps punching the UDP path of a relayed session in the
// background and, when it gets through, moves the tunnel's traffic to it
// (see pathConn). It runs until it succeeds, fails or ctx ends.
func (s *Session) upgrade(ctx context.Context, c *Config, g *gathered, m *rendezvous.Match, path *pathConn) {
	start := time.Now()
	p, err := c.punchUDP(ctx, g, m, upgradeTimeout)
	if err != nil {
		c.Logger.Debug("punch: no direct path for the relayed session", "err", err)
		return
	}
	if !s.keep(p.release) {
		p.release()
		return
	}
	path.setDirect(p.pc, p.peer)
	c.status("moved from the relay to a direct UDP path to %v after %v", p.peer, time.Since(start).Round(time.Millisecond))
}

// tradeRelayed meets the peer again at the rendezvous server, under the
// relay token, to trade relayed addresses.
func (c *Config) tradeRelayed(ctx context.Context, g *gathered, relayed netip.AddrPort) (netip.AddrPort, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", g.server.String())
	if err != nil {
		return netip.AddrPort{}, session.Unreachable(g.server.String(), err)
	}
	defer conn.Close()
	m, err := rendezvous.Exchange(ctx, conn, rendezvous.Request{
		Token: relayToken(g.opts.Key),
		Kind:  rendezvous.KindRelay,
		UDP:   []netip.AddrPort{relayed},
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(m.PeerUDP) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: the peer sent no relayed address", rendezvous.ErrProtocol)
	}
	return m.PeerUDP[0], nil
}

// sleep waits d or until ctx ends, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
