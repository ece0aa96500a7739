package relay

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/pion/turn/v5"

	"github.com/punchkit/punch/internal/sockbuf"
)

// portTries is how many random ports of a port range the allocator tries
// before it gives up.
const portTries = 16

// allocator opens the sockets of relayed transport addresses for pion
// (it is the server's turn.RelayAddressGenerator) and enforces the
// allocation caps: every socket it opens counts against the total and its
// username until the allocation closes it.
type allocator struct {
	ip               netip.Addr
	minPort, maxPort uint16
	listen           func(network, address string) (net.PacketConn, error)
	buffer           int // socket buffers, see ServerConfig.SocketBuffer
	log              *slog.Logger
	max, perUser     int

	mu      sync.Mutex
	total   int
	users   map[string]int
	drained chan struct{} // closed when total drops to 0, if waited for
}

var _ turn.RelayAddressGenerator = (*allocator)(nil)

func newAllocator(cfg *ServerConfig, ip netip.Addr) *allocator {
	return &allocator{
		ip:      ip,
		minPort: cfg.MinPort,
		maxPort: cfg.MaxPort,
		listen:  cfg.ListenPacket,
		buffer:  cfg.SocketBuffer,
		log:     cfg.Logger,
		max:     cfg.MaxAllocations,
		perUser: cfg.MaxAllocationsPerUser,
		users:   make(map[string]int),
	}
}

// Validate is part of turn.RelayAddressGenerator; NewServer checks the
// configuration itself.
func (a *allocator) Validate() error { return nil }

// AllocatePacketConn opens a UDP socket on the relay IP, at the requested
// port or one of the range, if the caps allow one more allocation for
// the user.
func (a *allocator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if (c.Network == "udp4") != a.ip.Is4() {
		return nil, nil, fmt.Errorf("%w: %s", errFamily, c.Network)
	}
	if err := a.reserve(c.UserID); err != nil {
		return nil, nil, err
	}
	pc, err := a.open(c.Network, c.RequestedPort)
	if err != nil {
		a.release(c.UserID)
		return nil, nil, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	relayed := &net.UDPAddr{IP: a.ip.AsSlice(), Port: port}
	cc := &countedConn{PacketConn: pc}
	cc.release = func() { a.release(c.UserID) }
	return cc, relayed, nil
}

// AllocateListener refuses TCP allocations (RFC 6062): the relay carries
// UDP only.
func (a *allocator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCP
}

// AllocateConn refuses TCP connections to peers (RFC 6062).
func (a *allocator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCP
}

// open opens the socket at port, at a random free port of the range, or
// at a port the system picks.
func (a *allocator) open(network string, port int) (net.PacketConn, error) {
	listen := func(port int) (net.PacketConn, error) {
		pc, err := a.listen(network, net.JoinHostPort(a.ip.String(), strconv.Itoa(port)))
		if err == nil {
			sockbuf.Set(pc, a.buffer, a.log)
		}
		return pc, err
	}
	if port != 0 || a.minPort == 0 {
		return listen(port)
	}
	var err error
	for range portTries {
		port := int(a.minPort) + rand.IntN(int(a.maxPort)-int(a.minPort)+1)
		var pc net.PacketConn
		if pc, err = listen(port); err == nil {
			return pc, nil
		}
	}
	return nil, fmt.Errorf("relay: no free port in %d-%d after %d tries: %w", a.minPort, a.maxPort, portTries, err)
}

// reserve counts one more allocation for user, or fails if a cap is
// reached.
func (a *allocator) reserve(user string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= a.max:
		return errFull
	case a.users[user] >= a.perUser:
		return errUserQuota
	}
	a.total++
	a.users[user]++
	return nil
}

// release counts one allocation of user less.
func (a *allocator) release(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.users[user]--; a.users[user] == 0 {
		delete(a.users, user)
	}
	if a.total == 0 && a.drained != nil {
		close(a.drained)
		a.drained = nil
	}
}

// userCount returns the allocations user holds.
func (a *allocator) userCount(user string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.users[user]
}

// count returns the allocations held.
func (a *allocator) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// wait returns a channel closed once no allocation is held.
func (a *allocator) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if a.drained == nil {
		a.drained = make(chan struct{})
	}
	return a.drained
}

// countedConn is a relay socket that releases its allocation's count
// when it is closed.
type countedConn struct {
	net.PacketConn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(c.release)
	return err
}
