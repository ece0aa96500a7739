package punch

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/session"
	"github.com/punchkit/punch/stun"
)

// Connect meets the peer that uses the same key at the punch server,
// races the paths and returns the session over the one that won. The
// peer calls Connect (or Dial, or Listen) with the same key and server.
func Connect(ctx context.Context, key string, cfg *Config) (*Session, error) {
	start := time.Now()
	c := cfg.withDefaults()
	if err := c.check(key); err != nil {
		return nil, err
	}
	g, err := gather(ctx, &c, key)
	if err != nil {
		return nil, err
	}
	c.status("waiting for the peer at %s...", c.Server)
	m, err := session.Meet(ctx, g.conn, g.request(), &g.opts)
	if err != nil {
		g.close()
		return nil, err
	}
	c.status("met the peer (%v); racing %v", m.Peer, c.Paths)
	s, err := race(ctx, &c, g, m)
	if err != nil {
		return nil, err
	}
	s.took = time.Since(start)
	c.status("connected via %s to %v in %v (%s; NATs: this side %s, peer %s)", s.path, s.peer, s.took.Round(time.Millisecond),
		summary(s.attempts), s.nats.Self, s.nats.Peer)
	return s, nil
}

// check validates the key and the configuration.
func (c *Config) check(key string) error {
	if err := secure.ValidateKey(key); err != nil {
		return err
	}
	if c.Server == "" {
		return fmt.Errorf("%w: no punch server: set Config.Server or $%s", ErrConfig, ServerEnv)
	}
	switch c.Network {
	case "", "ip4", "ip6":
	default:
		return fmt.Errorf("%w: network %q: want ip4, ip6 or empty", ErrConfig, c.Network)
	}
	for _, p := range c.Paths {
		if !slices.Contains(Paths, p) {
			return fmt.Errorf("%w: unknown path %q", ErrConfig, p)
		}
	}
	return nil
}

// gathered is what a peer brings to the meeting: its connection to the
// rendezvous server (whose local port TCP punches from) and, for the UDP
// path, a socket with its public address.
type gathered struct {
	opts     session.Options
	conn     net.Conn // to the rendezvous server; Meet closes it
	tcpLocal netip.AddrPort
	udp      *net.UDPConn // nil without the UDP path
	mapped   netip.AddrPort
	// second is the UDP socket's mapping toward the STUN server's other
	// port, when the server has one.
	second netip.AddrPort
	server netip.AddrPort // the rendezvous server
	ln     net.Listener   // for the reverse path; nil without it
}

// info is what a connect client tells its peer in Request.Info.
type info struct {
	// UDPLocal are the LAN addresses of its UDP socket.
	UDPLocal []netip.AddrPort `json:"udp_local,omitempty"`
	// Listen is the port of its TCP listener for the reverse path.
	Listen uint16 `json:"listen,omitempty"`
}

// gather connects to the rendezvous server and, at the same time, learns
// the public address of a UDP socket from the STUN server on its host.
func gather(ctx context.Context, c *Config, key string) (*gathered, error) {
	network := map[string]string{"": "tcp", "ip4": "tcp4", "ip6": "tcp6"}[c.Network]
	server, err := stun.ResolveServer(ctx, network, c.serverAddr())
	if err != nil {
		return nil, err
	}
	g := &gathered{server: server, opts: session.Options{Key: key, Bind: c.Bind, Timeout: c.Timeout, Logger: c.Logger}}
	stunErr := make(chan error, 1)
	if slices.Contains(c.Paths, PathUDP) {
		go func() { stunErr <- g.bindUDP(ctx, c) }()
	} else {
		stunErr <- nil
	}
	g.conn, g.tcpLocal, err = session.DialServer(ctx, network, server.String(), c.Bind)
	if serr := <-stunErr; err == nil && serr != nil {
		err = serr
	}
	if err == nil && slices.Contains(c.Paths, PathReverse) {
		// The peer dials this listener if this host turns out to have no
		// NAT (the reverse path).
		g.ln, err = net.Listen(network, net.JoinHostPort(g.tcpLocal.Addr().String(), "0"))
	}
	if err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// bindUDP opens the UDP socket and learns its public address.
func (g *gathered) bindUDP(ctx context.Context, c *Config) error {
	pc, err := session.ListenUDP(g.server.Addr().Is4(), g.opts)
	if err != nil {
		return err
	}
	stunAddr := netip.AddrPortFrom(g.server.Addr(), uint16(c.STUNPort))
	scfg := &stun.Config{Logger: c.Logger}
	r, r2, err := stun.BindPair(ctx, pc, stunAddr, scfg)
	if err != nil {
		pc.Close()
		return fmt.Errorf("learning the UDP socket's public address from the STUN server %v: %w", stunAddr, err)
	}
	g.udp, g.mapped = pc, r.Mapped
	// An RFC 5780 server has a second port: the mapping toward it tells
	// whether this NAT keeps one mapping for every destination, allocates
	// ports in sequence (and which come next: udppunch.Predict) or at
	// random. BindPair asked the usual one in the same round trip.
	if r2 != nil {
		g.second = r2.Mapped
	} else if r.Other.IsValid() && r.Other.Port() != stunAddr.Port() {
		alt := netip.AddrPortFrom(stunAddr.Addr(), r.Other.Port())
		if second, err := stun.Bind(ctx, pc, alt, scfg); err == nil {
			g.second = second
		}
	}
	c.Logger.Debug("punch: UDP mapping", "first", r.Mapped, "second", g.second)
	return nil
}

// request is the rendezvous request with this peer's candidates.
func (g *gathered) request() rendezvous.Request {
	req := rendezvous.Request{Kind: rendezvous.KindConnect, Local: session.LocalCandidates(g.tcpLocal)}
	var in info
	if g.udp != nil {
		req.UDP = []netip.AddrPort{g.mapped}
		if g.second.IsValid() {
			req.UDP = append(req.UDP, g.second)
		}
		port := g.udp.LocalAddr().(*net.UDPAddr).Port
		for _, a := range req.Local {
			in.UDPLocal = append(in.UDPLocal, netip.AddrPortFrom(a.Addr(), uint16(port)))
		}
	}
	if g.ln != nil {
		in.Listen = uint16(g.ln.Addr().(*net.TCPAddr).Port)
	}
	req.Info, _ = json.Marshal(in)
	return req
}

// close releases what gather opened.
func (g *gathered) close() {
	if g.conn != nil {
		g.conn.Close()
	}
	if g.ln != nil {
		g.ln.Close()
	}
	if g.udp != nil {
		g.udp.Close()
	}
}
