package relay

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/punchkit/punch/internal/sockbuf"

	"github.com/punchkit/punch/internal/netaddr"
)

// closeWait bounds how long Close waits for pion to release the
// allocations after the socket is closed.
const closeWait = 5 * time.Second

// Server is a TURN relay (RFC 8656, UDP allocations only) on one UDP
// socket, built on pion/turn. Only holders of credentials from its Issuer
// can allocate; see the package documentation for what it allows.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	addr  netip.AddrPort
	alloc *allocator
	turn  *turn.Server
}

// NewServer starts a relay on pc, a UDP socket, configured by cfg (which
// may be nil). The relay takes pc over and serves it at once, until
// Close; it closes pc when it fails too. It returns an error wrapping
// ErrBadConfig for an impossible configuration.
func NewServer(pc net.PacketConn, cfg *ServerConfig) (*Server, error) {
	c := cfg.withDefaults()
	s := &Server{cfg: c, log: c.Logger}
	sockbuf.Set(pc, c.SocketBuffer, c.Logger)
	ip, err := s.relayIP(pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	if (c.MinPort == 0) != (c.MaxPort == 0) || c.MinPort > c.MaxPort {
		pc.Close()
		return nil, fmt.Errorf("%w: port range %d-%d: set both ends, the first not above the second", ErrBadConfig, c.MinPort, c.MaxPort)
	}
	s.alloc = newAllocator(&c, ip)
	s.turn, err = turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: s.alloc,
			PermissionHandler:     s.permit,
		}},
		LoggerFactory:      pionLogs{s.log},
		Realm:              c.Realm,
		AuthHandler:        s.authenticate,
		QuotaHandler:       s.quota,
		EventHandler:       s.events(),
		AllocationLifetime: c.Lifetime,
	})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
}

// relayIP returns the relay IP the configuration and pc's address give.
func (s *Server) relayIP(pc net.PacketConn) (netip.Addr, error) {
	local, ok := netaddr.AddrPort(pc.LocalAddr())
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: socket address %v is not an IP address", ErrBadConfig, pc.LocalAddr())
	}
	s.addr = local
	ip := s.cfg.RelayIP.Unmap()
	switch {
	case !ip.IsValid():
		ip = local.Addr()
		if ip.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("%w: the socket is bound to %v: set RelayIP", ErrBadConfig, ip)
		}
	case ip.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%w: RelayIP %v must be a specific address", ErrBadConfig, ip)
	case !local.Addr().IsUnspecified() && ip.Is4() != local.Addr().Is4():
		return netip.Addr{}, fmt.Errorf("%w: RelayIP %v and the socket address %v are of different families", ErrBadConfig, ip, local)
	}
	return ip, nil
}

// Issuer returns the Issuer that checks the relay's credentials.
func (s *Server) Issuer() *Issuer { return s.cfg.Issuer }

// Addr returns the address of the server's socket.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Allocations returns the number of allocations held now.
func (s *Server) Allocations() int { return s.alloc.count() }

// Close stops the relay: it closes the socket and every allocation, and
// waits (a few seconds at most) until their sockets are closed.
func (s *Server) Close() error {
	err := s.turn.Close()
	select {
	case <-s.alloc.wait():
	case <-time.After(closeWait):
		s.log.Warn("relay: allocations still open after close", "addr", s.addr, "allocations", s.alloc.count())
	}
	return err
}

// authenticate is pion's AuthHandler: it returns the long-term key of a
// username the Issuer made for this realm. An expired username may still
// refresh its allocation, create permissions and bind channels (its
// requests stay signed with the password only the Issuer could give), but
// not allocate again. A wrong password fails pion's MESSAGE-INTEGRITY
// check with the key returned here.
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	password, expires, ok := s.cfg.Issuer.lookup(ra.Username)
	switch {
	case !ok:
		s.log.Debug("relay: unknown username", "client", ra.SrcAddr, "username", ra.Username)
		return "", nil, false
	case ra.Realm != s.cfg.Realm:
		s.log.Debug("relay: wrong realm", "client", ra.SrcAddr, "username", ra.Username, "realm", ra.Realm)
		return "", nil, false
	case ra.Method == stun.MethodAllocate && time.Now().After(expires):
		s.log.Debug("relay: expired credentials", "client", ra.SrcAddr, "username", ra.Username, "expired", expires)
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, password), true
}

// quota is pion's QuotaHandler: a username holding its share of
// allocations gets error 486. The allocator enforces the same cap again
// when it opens the socket, where the count cannot race.
func (s *Server) quota(username, _ string, src net.Addr) bool {
	if s.alloc.userCount(username) < s.cfg.MaxAllocationsPerUser {
		return true
	}
	s.log.Debug("relay: allocation quota reached", "client", src, "username", username)
	return false
}

// permit is pion's PermissionHandler: see peerAllowed.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok && peerAllowed(ip, s.cfg.AllowPrivatePeers) {
		return true
	}
	s.log.Debug("relay: peer refused", "client", client, "peer", peer)
	return false
}

// events logs allocations and failed authentications.
func (s *Server) events() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _, method string, verdict bool) {
			if !verdict {
				s.log.Debug("relay: bad message integrity", "client", src, "username", username, "method", method)
			}
		},
		OnAllocationCreated: func(src, _ net.Addr, _, username, _ string, relayed net.Addr, _ int) {
			s.log.Debug("relay: allocation created", "client", src, "username", username, "relayed", relayed)
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, username, _ string) {
			s.log.Debug("relay: allocation deleted", "client", src, "username", username)
		},
	}
}
