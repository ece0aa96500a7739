package tunnel

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// redirConn is the UDP socket under a Transport, as quic-go sees it: the
// socket itself (its batched reads, GSO and ECN included), except that
// QUIC's packets to an address with a redirect go to another one. That
// is how an initiator follows a peer whose public address changed: QUIC
// clients do not migrate to a new server address, but they take packets
// from any address, so only the sends need to move.
type redirConn struct {
	*net.UDPConn

	mu sync.Mutex                                      // serialises changes to to
	to atomic.Pointer[map[netip.AddrPort]*net.UDPAddr] // read on every send; nil while there are none
}

// redirect sends QUIC's packets for from to to from now on; redirecting
// from to itself removes the redirect.
func (c *redirConn) redirect(from, to netip.AddrPort) {
	from, to = unmap(from), unmap(to)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[netip.AddrPort]*net.UDPAddr)
	if old := c.to.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	if from == to {
		delete(m, from)
	} else {
		m[from] = net.UDPAddrFromAddrPort(to)
	}
	if len(m) == 0 {
		c.to.Store(nil)
		return
	}
	c.to.Store(&m)
}

// target returns where QUIC's packets for addr go.
func (c *redirConn) target(addr *net.UDPAddr) *net.UDPAddr {
	m := c.to.Load()
	if m == nil || addr == nil {
		return addr
	}
	if to, ok := (*m)[unmap(addr.AddrPort())]; ok {
		return to
	}
	return addr
}

// WriteMsgUDP is how quic-go sends on a UDP socket.
func (c *redirConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	return c.UDPConn.WriteMsgUDP(b, oob, c.target(addr))
}

// WriteTo is how quic-go sends outside a connection's send loop (a close
// repeated to a peer that missed it, a stateless reset).
func (c *redirConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		addr = c.target(ua)
	}
	return c.UDPConn.WriteTo(b, addr)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
