package session

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/stun"
	"github.com/punchkit/punch/tunnel"
	"github.com/punchkit/punch/udppunch"
)

// Tunnel is an established UDP session: a key-authenticated QUIC tunnel
// over the punched socket, carrying streams.
type Tunnel struct {
	*tunnel.Conn
	// Peer is where the peer's packets come from.
	Peer netip.AddrPort
	// Initiator is true on the side that opened the QUIC connection.
	Initiator bool
	// Punched is how long the punch took once the peers knew each other.
	Punched time.Duration
}

// UDP meets the peer with the same key at the rendezvous server
// (host:port, TCP), with the public address of a fresh UDP socket learned
// from the STUN server on the same host (port stunPort) as its candidate,
// punches that socket and opens the QUIC tunnel over it. While the tunnel
// lasts, a break of its path that QUIC does not survive (a NAT that gave
// either side a new public address) makes both sides meet again at the
// server and punch a new path from the same socket (see mender).
func UDP(ctx context.Context, server string, stunPort int, o Options) (*Tunnel, error) {
	if err := secure.ValidateKey(o.Key); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, err
	}
	stunAddr, err := stun.ResolveServer(ctx, udpNetwork(o.Network), net.JoinHostPort(host, strconv.Itoa(stunPort)))
	if err != nil {
		return nil, err
	}
	pc, err := ListenUDP(stunAddr.Addr().Is4(), o)
	if err != nil {
		return nil, err
	}
	mapped, err := publicAddr(ctx, pc, stunAddr, o)
	if err != nil {
		pc.Close()
		return nil, err
	}
	conn, err := dialServer(ctx, server, stunAddr.Addr().Is4())
	if err != nil {
		pc.Close()
		return nil, err
	}
	local := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	o.status("waiting for the peer at %s (UDP %v, public %v)...", server, local, mapped)
	m, err := Meet(ctx, conn, rendezvous.Request{
		Kind:  rendezvous.KindUDP,
		Local: []netip.AddrPort{localCandidate(conn, local)},
		UDP:   []netip.AddrPort{mapped},
	}, &o)
	if err != nil {
		pc.Close()
		return nil, err
	}
	t, err := PunchUDP(ctx, pc, candidates(m), o)
	if err != nil {
		return nil, err
	}
	mend := &mender{t: t, nq: t.NonQUICConn(), server: server, stun: stunAddr, o: o}
	go mend.run()
	return t, nil
}

// publicAddrTimeout bounds the wait for pc's public address. The session
// cannot go on without it, so it waits longer than a discovery test (1 s,
// four requests): six requests leave within 5 s (at 0, 0.1, 0.3, 0.7, 1.5
// and 3.1 s). On a path that loses a fifth of the round trips (5% on each
// of the four links a request and its answer cross) four requests all went
// unanswered in 1 of 300 lookups, six fail in about 1 of 25,000.
const publicAddrTimeout = 5 * time.Second

// publicAddr learns pc's public address from the STUN server.
func publicAddr(ctx context.Context, pc net.PacketConn, stunAddr netip.AddrPort, o Options) (netip.AddrPort, error) {
	mapped, err := stun.Bind(ctx, pc, stunAddr, &stun.Config{Logger: o.Logger, Timeout: publicAddrTimeout})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("learning this socket's public address from the STUN server %v: %w", stunAddr, err)
	}
	return mapped, nil
}

// dialServer opens a TCP connection to the rendezvous server.
func dialServer(ctx context.Context, server string, is4 bool) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	network := "tcp4"
	if !is4 {
		network = "tcp6"
	}
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, Unreachable(server, err)
	}
	return conn, nil
}

// localCandidate is the UDP socket's LAN address, for a peer behind the
// same NAT: the port of udp at the address that reaches the server on
// conn.
func localCandidate(conn net.Conn, udp netip.AddrPort) netip.AddrPort {
	lan := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	return netip.AddrPortFrom(lan, udp.Port())
}

// candidates lists where to punch to, from the server's answer: the
// peer's public UDP addresses, and its LAN address too when both are
// behind the same NAT.
func candidates(m *rendezvous.Match) []netip.AddrPort {
	peers := append([]netip.AddrPort{}, m.PeerUDP...)
	if m.Peer.Addr() == m.Self.Addr() {
		peers = append(peers, m.PeerLocal...)
	}
	return peers
}

// UDPDirect punches without any server, as udphp.py (seed 002) does: both
// sides bind the same UDP port and are told the other's public address;
// it works behind NATs that keep the local port.
func UDPDirect(ctx context.Context, peer netip.Addr, port int, o Options) (*Tunnel, error) {
	if err := secure.ValidateKey(o.Key); err != nil {
		return nil, err
	}
	o.Port = port
	pc, err := ListenUDP(peer.Is4(), o)
	if err != nil {
		return nil, err
	}
	o.status("punching from UDP port %d to %v:%d...", port, peer, port)
	return PunchUDP(ctx, pc, []netip.AddrPort{netip.AddrPortFrom(peer, uint16(port))}, o)
}

// ListenUDP opens the UDP socket a session punches from: on o.Bind (or
// any address of the family is4 says) and o.Port (or any port).
func ListenUDP(is4 bool, o Options) (*net.UDPConn, error) {
	network, bind := "udp4", netip.IPv4Unspecified()
	if !is4 {
		network, bind = "udp6", netip.IPv6Unspecified()
	}
	if o.Bind.IsValid() {
		bind = o.Bind
	}
	pc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(o.Port))))
	if err != nil {
		return nil, fmt.Errorf("opening UDP port %d: %w", o.Port, err)
	}
	return pc, nil
}

// PunchUDP punches pc to the peer and opens the tunnel; it closes pc on
// failure, and the tunnel owns it on success.
func PunchUDP(ctx context.Context, pc *net.UDPConn, peers []netip.AddrPort, o Options) (*Tunnel, error) {
	r, err := udppunch.Punch(ctx, pc, o.Key, peers, &udppunch.Config{TTL: o.TTL, Timeout: o.Timeout, Logger: o.Logger})
	if err != nil {
		pc.Close()
		return nil, err
	}
	t, err := OpenTunnel(ctx, pc, r.Peer, r.Initiator, o.Key, &tunnel.Config{Logger: o.Logger})
	if err != nil {
		pc.Close()
		return nil, err
	}
	t.Punched = r.Took
	return t, nil
}

// OpenTunnel opens the QUIC tunnel on pc, punched to peer: this side
// dials if dial is set, else it accepts (exactly one side must dial). The
// tunnel's Peer is where the peer's packets come from. On error pc stays
// open.
func OpenTunnel(ctx context.Context, pc net.PacketConn, peer netip.AddrPort, dial bool, key string, cfg *tunnel.Config) (*Tunnel, error) {
	var tc *tunnel.Conn
	var err error
	if dial {
		tc, err = tunnel.Dial(ctx, pc, peer, key, cfg)
	} else {
		tc, err = tunnel.Accept(ctx, pc, key, cfg)
	}
	if err != nil {
		return nil, err
	}
	return &Tunnel{Conn: tc, Peer: tc.RemoteAddr(), Initiator: dial}, nil
}
