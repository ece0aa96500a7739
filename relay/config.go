package relay

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults for the ServerConfig and ClientConfig fields.
const (
	DefaultSocketBuffer          = 8 << 20
	DefaultPort                  = 3480
	DefaultRealm                 = "punch"
	DefaultMaxAllocations        = 10_000
	DefaultMaxAllocationsPerUser = 4
	DefaultLifetime              = 10 * time.Minute
	DefaultTimeout               = 10 * time.Second
	DefaultCloseTimeout          = time.Second
)

// ServerConfig configures a Server. The zero value (or a nil *ServerConfig)
// works; every field states its default.
type ServerConfig struct {
	// Issuer checks the credentials of allocation requests. Default: a new
	// Issuer with a random secret, which [Server.Issuer] returns so that
	// the caller can hand out credentials.
	Issuer *Issuer

	// Realm is the long-term credential realm the relay announces and
	// requires. Default: "punch".
	Realm string

	// RelayIP is the address relayed transport addresses are opened on
	// and reported to clients, of the same family as the server's socket.
	// Default: the address the socket is bound to, which must then be a
	// specific one (not 0.0.0.0 or ::).
	RelayIP netip.Addr

	// MinPort and MaxPort bound the ports of relayed transport addresses,
	// both included; set both or neither. Default: ports the system picks
	// (its ephemeral range).
	MinPort, MaxPort uint16

	// MaxAllocations caps the allocations of this Server at once; a
	// request beyond it gets TURN error 508 (Insufficient Capacity).
	// Default: 10,000.
	MaxAllocations int

	// MaxAllocationsPerUser caps the allocations of one username (one
	// Issue call) at once; a request beyond it gets TURN error 486
	// (Allocation Quota Reached). Default: 4.
	MaxAllocationsPerUser int

	// Lifetime is how long an allocation lives without a refresh when its
	// client does not ask for a lifetime. A client may ask for any
	// lifetime below one hour (RFC 8656 lets the server cap it; pion
	// caps it there). Default: 10 minutes.
	Lifetime time.Duration

	// AllowPrivatePeers lets allocations relay to and from loopback,
	// private (RFC 1918, RFC 4193) and shared (RFC 6598) addresses.
	// Default: false, so that the relay cannot be used to reach the
	// network it sits in; link-local, multicast, broadcast and
	// unspecified peers are refused in any case.
	AllowPrivatePeers bool

	// ListenPacket opens the socket of a relayed transport address:
	// network is "udp4" or "udp6", address is RelayIP:port. Default:
	// net.ListenConfig{}.ListenPacket with context.Background().
	ListenPacket func(network, address string) (net.PacketConn, error)

	// SocketBuffer is the size, in bytes, of the kernel receive and send
	// buffers of the relay's socket and of every relayed transport
	// address's: a tunnel's bursts at a gigabit overflow the defaults
	// (about 200 KiB), and every datagram dropped there costs the tunnel
	// its congestion window. Forced past the sysctl limits where the
	// process may. Default: 8 MiB; negative leaves the kernel's defaults.
	SocketBuffer int

	// Logger receives debug logs about allocations and refused requests.
	// Default: nil, silent.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with every zero field set to its
// default.
func (c *ServerConfig) withDefaults() ServerConfig {
	var out ServerConfig
	if c != nil {
		out = *c
	}
	if out.Issuer == nil {
		out.Issuer = NewIssuer(nil, 0)
	}
	if out.Realm == "" {
		out.Realm = DefaultRealm
	}
	if out.MaxAllocations <= 0 {
		out.MaxAllocations = DefaultMaxAllocations
	}
	if out.MaxAllocationsPerUser <= 0 {
		out.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if out.Lifetime <= 0 {
		out.Lifetime = DefaultLifetime
	}
	if out.SocketBuffer == 0 {
		out.SocketBuffer = DefaultSocketBuffer
	}
	if out.ListenPacket == nil {
		out.ListenPacket = func(network, address string) (net.PacketConn, error) {
			var lc net.ListenConfig
			return lc.ListenPacket(context.Background(), network, address)
		}
	}
	out.Logger = orDiscard(out.Logger)
	return out
}

// ClientConfig configures Allocate. The zero value (or a nil
// *ClientConfig) works; every field states its default.
type ClientConfig struct {
	// Timeout bounds Allocate when ctx has no earlier deadline; after it
	// Allocate fails with ErrNoAnswer. Default: 10s.
	Timeout time.Duration

	// CloseTimeout bounds how long Conn.Close waits for the relay to
	// confirm that the allocation is released. Default: 1s.
	CloseTimeout time.Duration

	// Logger receives debug logs. Default: nil, silent.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with every zero field set to its
// default.
func (c *ClientConfig) withDefaults() ClientConfig {
	var out ClientConfig
	if c != nil {
		out = *c
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultTimeout
	}
	if out.CloseTimeout <= 0 {
		out.CloseTimeout = DefaultCloseTimeout
	}
	out.Logger = orDiscard(out.Logger)
	return out
}

// Defaults for the PairConfig fields.
const (
	DefaultPairPort    = 3481
	DefaultMaxPairs    = 10_000
	DefaultPairIdle    = 2 * time.Minute
	DefaultMaxDatagram = 1500
)

// PairConfig configures a PairServer. The zero value (or a nil
// *PairConfig) works; every field states its default.
type PairConfig struct {
	// Issuer checks the credentials in hellos: the same Issuer as the
	// TURN relay's, whose credentials the rendezvous gives both peers of
	// a pair. Default: a new Issuer with a random secret.
	Issuer *Issuer

	// MaxPairs caps the pairs the relay holds at once. Default: 10,000.
	MaxPairs int

	// Idle is how long a pair lives with no datagram from either peer.
	// Default: 2 minutes (the tunnel's keep-alives come every few
	// seconds).
	Idle time.Duration

	// MaxDatagram is the largest datagram relayed; a larger one is
	// dropped. Default: 1500 bytes.
	MaxDatagram int

	// SocketBuffer is the size of the socket's kernel buffers, as for
	// ServerConfig.SocketBuffer. Default: 8 MiB.
	SocketBuffer int

	// Kernel has the host's kernel forward the datagrams of each pair
	// once both sides have joined (nftables rules that rewrite them,
	// untracked), where the host allows: root, the nft command, and IP
	// forwarding on (sysctl net.ipv4.ip_forward, for IPv6
	// net.ipv6.conf.all.forwarding). The relay checks that forwarded
	// datagrams leave the host, and falls back to its own copy for a pair
	// whose datagrams do not (a firewall that drops forwarded packets).
	// Where the host does not allow it, the relay copies, as without it.
	// Default: false.
	Kernel bool

	// Logger receives debug logs about pairs. Default: nil, silent.
	Logger *slog.Logger
}

func (c *PairConfig) withDefaults() PairConfig {
	var out PairConfig
	if c != nil {
		out = *c
	}
	if out.Issuer == nil {
		out.Issuer = NewIssuer(nil, 0)
	}
	if out.MaxPairs <= 0 {
		out.MaxPairs = DefaultMaxPairs
	}
	if out.Idle <= 0 {
		out.Idle = DefaultPairIdle
	}
	if out.MaxDatagram <= 0 {
		out.MaxDatagram = DefaultMaxDatagram
	}
	if out.SocketBuffer == 0 {
		out.SocketBuffer = DefaultSocketBuffer
	}
	out.Logger = orDiscard(out.Logger)
	return out
}
