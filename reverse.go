package punch

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
)

// errBothNATed reports that the reverse path does not apply.
var errBothNATed = errors.New("both sides are behind NATs: neither can be dialled")

// reverse is the reverse connection (seed 004): a side without NAT
// accepts on its listener, and the other dials it there. When neither
// side has a NAT, the leader dials.
func (c *Config) reverse(ctx context.Context, g *gathered, m *rendezvous.Match) (link, error) {
	n := natsOf(g, m)
	var in info
	json.Unmarshal(m.PeerInfo, &in)
	var conn net.Conn
	var err error
	dial := n.Peer == MappingNone && in.Listen != 0 && (n.Self != MappingNone || m.Leader)
	switch {
	case dial:
		d := net.Dialer{Timeout: c.Timeout}
		conn, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(m.Peer.Addr(), in.Listen).String())
	case n.Self == MappingNone && g.ln != nil:
		conn, err = accept(ctx, g.ln)
	default:
		return nil, errBothNATed
	}
	if err != nil {
		return nil, err
	}
	sc, err := secure.Handshake(ctx, conn, g.opts.Key, &secure.Config{Initiator: dial, Logger: c.Logger})
	if err != nil {
		conn.Close()
		return nil, err
	}
	peer, _ := netaddr.AddrPort(conn.RemoteAddr())
	return &tcpLink{s: &session.Session{Conn: sc, Peer: peer, Initiator: dial}, leader: m.Leader}, nil
}

// accept waits for one connection on ln until ctx ends.
func accept(ctx context.Context, ln net.Listener) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() {
		if tl, ok := ln.(*net.TCPListener); ok {
			tl.SetDeadline(aLongTimeAgo)
		}
	})
	defer stop()
	conn, err := ln.Accept()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Time{})
	}
	return conn, err
}
