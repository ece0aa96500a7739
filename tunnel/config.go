package tunnel

import (
	"log/slog"
	"time"

	"github.com/quic-go/quic-go"
)

// Config tunes a tunnel. A nil *Config and the zero value both mean the
// defaults; every field states its own. Both peers should use similar
// values: the idle timeout in effect is the smaller of the two.
type Config struct {
	// HandshakeTimeout bounds the QUIC handshake and the key confirmation
	// of [Transport.Dial], and of each connection [Transport.Accept]
	// takes (the wait for a peer to connect at all is bounded only by
	// Accept's ctx). A ctx deadline that comes sooner wins. A silent peer
	// makes them fail with [ErrTimeout]. Default 10 s.
	HandshakeTimeout time.Duration

	// MaxIdleTimeout closes the tunnel when nothing has arrived from the
	// peer for this long: Done is closed and Err reports [ErrIdle]. With
	// keepalives on, it only fires when the peer or the path is gone.
	// Default 60 s.
	MaxIdleTimeout time.Duration

	// KeepAlivePeriod is how often a side sends a PING when it has sent
	// nothing else, which keeps both NATs' UDP mappings open and the idle
	// timeout from firing. It must stay below the shortest NAT mapping
	// timeout on the path (30 s is common, some NATs use 20 s); quic-go
	// caps it at half of MaxIdleTimeout. Default 15 s; negative turns
	// keepalives off.
	KeepAlivePeriod time.Duration

	// MaxStreams is how many streams (forwarded connections) the peer may
	// have open at once; further Opens on its side wait. Default 1024.
	MaxStreams int

	// StreamWindow is the largest receive window of one stream, in bytes:
	// how much a single forwarded connection may have in flight, which
	// bounds its throughput to StreamWindow / RTT (64 MiB is 2.7 Gbit/s
	// at 200 ms). quic-go starts at a quarter of it and grows the window
	// while the application keeps up. Default 64 MiB.
	StreamWindow int

	// ConnectionWindow is the largest receive window of all streams
	// together, in bytes; it also bounds the memory a slow reader can make
	// this side buffer. It starts at a quarter; an unauthenticated peer
	// can make this side buffer at most that quarter before the key
	// confirmation rejects it. Default 2 × StreamWindow.
	ConnectionWindow int

	// SocketBuffer is the size, in bytes, that the UDP socket's kernel
	// receive and send buffers are set to; large buffers absorb the
	// bursts of a fast sender. With CAP_NET_ADMIN (root) the size is
	// forced past net.core.rmem_max/wmem_max; otherwise the kernel caps
	// it there and a warning is logged. quic-go also raises the buffers
	// on its own, to at least 3.5 MiB (7 MiB as Linux reports them), and
	// if the kernel refuses it prints one line through the standard log
	// package unless the environment variable
	// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true is set (a program that
	// must stay silent sets it); raising both sysctls to 8 MiB avoids
	// the warnings. Default 8 MiB; negative leaves the buffers to
	// quic-go.
	SocketBuffer int

	// PacketSize is the size of the QUIC packets from the start, for
	// packet connections on which quic-go cannot discover the path MTU
	// (it needs a *net.UDPConn that can set the don't-fragment bit), such
	// as a relay allocation: there it would stay at 1280 bytes. At least
	// 1200. Default: quic-go's (1280 bytes, then path MTU discovery).
	PacketSize int

	// LossBased makes every lost packet shrink the congestion window, as
	// standard QUIC congestion control (NewReno) does. By default a loss
	// counts as congestion only while a queue stands on the path (the
	// round-trip time shows it) or more than 3% of the packets are lost,
	// and a cut stops at the bandwidth-delay product the acknowledgements
	// measured (quic.Config.RandomLossTolerant, which punch's copy of
	// quic-go adds; see third_party/quic-go/PATCHES.md), so that the
	// random loss of a lossy link, 1% say, does not hold the tunnel to a
	// few Mbit/s where TCP with BBR runs at a hundred. Default false.
	LossBased bool

	// Logger receives debug records of tunnels set up and failed, and a
	// warning when the socket buffers cannot be raised. Default: no
	// logging.
	Logger *slog.Logger
}

// Defaults of the Config fields.
const (
	defaultHandshakeTimeout = 10 * time.Second
	defaultMaxIdleTimeout   = 60 * time.Second
	defaultKeepAlivePeriod  = 15 * time.Second
	defaultMaxStreams       = 1024
	defaultStreamWindow     = 64 << 20
	defaultSocketBuffer     = 8 << 20
)

// withDefaults returns a copy of c (which may be nil) with every zero
// field set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.HandshakeTimeout <= 0 {
		out.HandshakeTimeout = defaultHandshakeTimeout
	}
	if out.MaxIdleTimeout <= 0 {
		out.MaxIdleTimeout = defaultMaxIdleTimeout
	}
	if out.KeepAlivePeriod == 0 {
		out.KeepAlivePeriod = defaultKeepAlivePeriod
	}
	if out.MaxStreams <= 0 {
		out.MaxStreams = defaultMaxStreams
	}
	if out.StreamWindow <= 0 {
		out.StreamWindow = defaultStreamWindow
	}
	if out.ConnectionWindow <= 0 {
		out.ConnectionWindow = 2 * out.StreamWindow
	}
	if out.SocketBuffer == 0 {
		out.SocketBuffer = defaultSocketBuffer
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// quicConfig returns the quic-go configuration for c, which must have its
// defaults set.
func (c *Config) quicConfig() *quic.Config {
	keepAlive := c.KeepAlivePeriod
	if keepAlive < 0 {
		keepAlive = 0
	}
	return &quic.Config{
		HandshakeIdleTimeout:           c.HandshakeTimeout,
		MaxIdleTimeout:                 c.MaxIdleTimeout,
		KeepAlivePeriod:                keepAlive,
		InitialStreamReceiveWindow:     uint64(max(c.StreamWindow/4, 64<<10)),
		MaxStreamReceiveWindow:         uint64(c.StreamWindow),
		InitialConnectionReceiveWindow: uint64(max(c.ConnectionWindow/4, 64<<10)),
		MaxConnectionReceiveWindow:     uint64(c.ConnectionWindow),
		// One more than MaxStreams: the peer's control stream counts too.
		MaxIncomingStreams:    int64(c.MaxStreams) + 1,
		MaxIncomingUniStreams: -1,
		EnableDatagrams:       false,
		InitialPacketSize:     uint16(min(max(c.PacketSize, 0), 65535)),
		RandomLossTolerant:    !c.LossBased,
	}
}
