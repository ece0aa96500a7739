package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/tcppunch"
)

// Options configure a session; Key is required unless Plain is set (TCP
// only).
type Options struct {
	// Key is the secret both peers share. The rendezvous server sees only
	// a token derived from it; the connection is authenticated with it.
	Key string
	// Plain skips encryption and authentication (TCP only): the
	// connection is raw TCP, for interoperating with ncat or socat.
	// Default false.
	Plain bool
	// Network is "tcp4"/"udp4", "tcp6"/"udp6", or "tcp"/"udp" (the
	// server's family); TCP and UDP sessions take either spelling.
	// Default: the server's family.
	Network string
	// Bind is the local address to bind to. Default: any.
	Bind netip.Addr
	// Port is the local port to use (UDP only; TCP uses the port that
	// reached the rendezvous server). Default: any.
	Port int
	// Timeout bounds the punch after the peers met. Default 10 s.
	Timeout time.Duration
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
	// Status, if set, receives one-line progress messages for people.
	Status func(format string, args ...any)
	// TTL is the TTL (hop limit) of a leader's hole-opening first packet:
	// one hop past this host's NATs. Meet measures it. Default: the
	// punchers' own (2).
	TTL int
}

func (o *Options) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) status(format string, args ...any) {
	if o.Status != nil {
		o.Status(format, args...)
	}
}

// Session is an established connection to the peer.
type Session struct {
	// Conn carries the data: a *secure.Conn, or the raw TCP connection
	// with Plain.
	Conn net.Conn
	// Peer is the address the connection reached the peer at.
	Peer netip.AddrPort
	// Initiator is true on exactly one side (the leader, or in manual
	// mode the side with the lower port).
	Initiator bool
	// Punched is how long the punch took once the peers had met.
	Punched time.Duration
}

// TCP meets the peer with the same key at the rendezvous server
// (host:port), punches and secures the connection.
func TCP(ctx context.Context, server string, o Options) (*Session, error) {
	if !o.Plain {
		if err := secure.ValidateKey(o.Key); err != nil {
			return nil, err
		}
	}
	conn, local, err := DialServer(ctx, tcpNetwork(o.Network), server, o.Bind)
	if err != nil {
		return nil, err
	}
	req := rendezvous.Request{Kind: rendezvous.KindTCP, Local: LocalCandidates(local)}
	var ini *secure.Relayed
	if !o.Plain {
		// The first flight of the secure handshake travels with the
		// request, in case the server makes this side the initiator
		// (secure.Relayed).
		if ini, err = secure.Initiate(o.Key, o.relayedConfig()); err != nil {
			conn.Close()
			return nil, err
		}
		if req.Handshake, err = ini.Flight(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	o.status("waiting for the peer at %s (from %v)...", server, local)
	m, err := Meet(ctx, conn, req, &o)
	if err == nil && m.PeerHandshake != nil {
		return punchRelayed(ctx, conn, local, m, ini, o)
	}
	if ini != nil {
		ini.Abort(nil)
	}
	if err != nil {
		return nil, err
	}
	return PunchMatch(ctx, local, m, o)
}

// relayedConfig configures a relayed secure handshake, which starts
// before the punch: its time covers the punch's too.
func (o *Options) relayedConfig() *secure.Config {
	return &secure.Config{Timeout: o.punchTimeout() + 10*time.Second, Logger: o.Logger}
}

// punchTimeout is Options.Timeout with tcppunch's default.
func (o *Options) punchTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return tcppunch.DefaultTimeout
}

// punchRelayed punches the path a rendezvous meeting named while the first
// flights of the secure handshake go through the server on rv, which the
// answer left open: the leader answers the follower's flight (the follower
// initiates, as in PunchMatch) and sends the answer back through the
// server, the follower reads it. The follower's TLS Finished and its data
// then leave together as soon as the punched connection is up. It closes
// rv.
func punchRelayed(ctx context.Context, rv net.Conn, local netip.AddrPort, m *rendezvous.Match, ini *secure.Relayed, o Options) (*Session, error) {
	hs := ini
	relayed := make(chan struct{})
	if m.Leader {
		ini.Abort(nil)
		var err error
		if hs, err = secure.Respond(o.Key, m.PeerHandshake, o.relayedConfig()); err != nil {
			rv.Close()
			return nil, err
		}
		go func() {
			defer close(relayed)
			flight, err := hs.Flight(ctx)
			if err == nil {
				err = rendezvous.SendReply(ctx, rv, flight)
			}
			if err != nil {
				hs.Abort(fmt.Errorf("sending our answer through the rendezvous server: %w", err))
			}
		}()
	} else {
		go func() {
			defer close(relayed)
			answer, err := rendezvous.ReadReply(ctx, rv)
			if err != nil {
				hs.Abort(fmt.Errorf("the peer's answer through the rendezvous server: %w", err))
				return
			}
			hs.Feed(answer)
		}()
	}
	tc, s, err := punchPeers(ctx, local, matchPeers(m), matchRole(m), o)
	if err != nil {
		hs.Abort(err)
		rv.Close()
		<-relayed
		return nil, err
	}
	s.Initiator = !m.Leader
	hs.Attach(tc)
	sc, err := hs.Wait(ctx)
	if err != nil {
		rv.Close() // unblocks the relay, which has no more use
	}
	<-relayed
	rv.Close()
	if err != nil {
		return nil, err
	}
	s.Conn = sc
	return s, nil
}

// DialServer connects to the rendezvous server from a reuse-port socket on
// bind (any address when invalid), whose port the TCP path then punches
// from, and returns the connection and its local address.
func DialServer(ctx context.Context, network, server string, bind netip.Addr) (net.Conn, netip.AddrPort, error) {
	d := net.Dialer{Control: tcppunch.FastOpenControl, Timeout: 10 * time.Second}
	if bind.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, 0))
	}
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, netip.AddrPort{}, Unreachable(server, err)
	}
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	return conn, netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), nil
}

// PunchMatch punches from local to the peer a rendezvous meeting named,
// in the role it gave, and secures the connection (see PunchTCP). Behind
// the same NAT it tries the peer's LAN addresses first.
func PunchMatch(ctx context.Context, local netip.AddrPort, m *rendezvous.Match, o Options) (*Session, error) {
	// The follower initiates the secure handshake: its connection is up
	// half a round trip before the leader's (its SYN meets the leader's
	// socket in SYN-SENT, and the leader is up only when the follower's
	// ACK arrives), so the handshake starts that much sooner. Measured in
	// the lab, the first byte from the follower arrives a round trip
	// sooner and the leader's no later (BENCHMARKS.md).
	return PunchTCP(ctx, local, matchPeers(m), matchRole(m), !m.Leader, o)
}

// matchPeers lists the addresses to punch to after a meeting: behind the
// same NAT, the peer's LAN addresses first.
func matchPeers(m *rendezvous.Match) []netip.AddrPort {
	if m.Peer.Addr() == m.Self.Addr() {
		return append(append([]netip.AddrPort{}, m.PeerLocal...), m.Peer)
	}
	return []netip.AddrPort{m.Peer}
}

// matchRole is this side's punching role after a meeting.
func matchRole(m *rendezvous.Match) tcppunch.Role {
	if m.Leader {
		return tcppunch.Leader
	}
	return tcppunch.Follower
}

// Manual punches from local to remote without any server: both sides are
// told each other's address and port. It uses classic simultaneous open
// (both connect), so the other side may be ncat or socat with --plain.
// The side with the lower port is the initiator; equal ports are refused.
func Manual(ctx context.Context, local, remote netip.AddrPort, o Options) (*Session, error) {
	if !o.Plain {
		if err := secure.ValidateKey(o.Key); err != nil {
			return nil, err
		}
		if local.Port() == remote.Port() {
			return nil, errors.New("both sides use the same port: with encryption, use different ports (the lower one initiates) or --plain")
		}
	}
	o.status("punching from %v to %v...", local, remote)
	return PunchTCP(ctx, local, []netip.AddrPort{remote}, tcppunch.Both, local.Port() < remote.Port(), o)
}

// PunchTCP punches from local to the peer's candidate addresses in role
// and, unless o.Plain, secures the connection with o.Key; initiator says
// which side leads the secure handshake (exactly one side must).
func PunchTCP(ctx context.Context, local netip.AddrPort, peers []netip.AddrPort, role tcppunch.Role, initiator bool, o Options) (*Session, error) {
	tc, s, err := punchPeers(ctx, local, peers, role, o)
	if err != nil {
		return nil, err
	}
	s.Initiator = initiator
	if o.Plain {
		return s, nil
	}
	sc, err := secure.Handshake(ctx, tc, o.Key, &secure.Config{Initiator: initiator, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	s.Conn = sc
	return s, nil
}

// punchPeers punches from local to the peer's candidate addresses in role
// and returns the connection, and a Session with it as Conn.
func punchPeers(ctx context.Context, local netip.AddrPort, peers []netip.AddrPort, role tcppunch.Role, o Options) (*net.TCPConn, *Session, error) {
	cfg := &tcppunch.Config{Role: role, TTL: o.TTL, Timeout: o.Timeout, Logger: o.Logger}
	start := time.Now()
	tc, err := tcppunch.Punch(ctx, local, peers, cfg)
	if err != nil {
		return nil, nil, err
	}
	s := &Session{Conn: tc, Punched: time.Since(start)}
	s.Peer = tc.RemoteAddr().(*net.TCPAddr).AddrPort()
	return tc, s, nil
}

// LocalCandidates lists the addresses of this host's interfaces (of the
// family of local) with local's port, for a peer behind the same NAT.
func LocalCandidates(local netip.AddrPort) []netip.AddrPort {
	if !local.Addr().IsUnspecified() {
		return []netip.AddrPort{local}
	}
	addrs, _ := net.InterfaceAddrs()
	var out []netip.AddrPort
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() || p.Addr().Is4() != local.Addr().Is4() {
			continue
		}
		out = append(out, netip.AddrPortFrom(p.Addr(), local.Port()))
		if len(out) == rendezvous.MaxCandidates {
			break
		}
	}
	return out
}
