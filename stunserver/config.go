package stunserver

import (
	"log/slog"
	"time"
	"unicode/utf8"
)

// Defaults for the Config fields and the listen configuration.
const (
	DefaultPort           = 3478
	DefaultSoftware       = "punch"
	DefaultTCPIdleTimeout = 30 * time.Second
	DefaultMaxTCPConns    = 4096
	DefaultMaxMessageSize = 1500
)

// Config configures a Server. The zero value (or a nil *Config) works; every
// field states its default.
type Config struct {
	// Software is the value of the SOFTWARE attribute in responses. It is
	// cut to 127 bytes (RFC 8489 allows fewer than 128 characters).
	// Default: "punch".
	Software string

	// OmitSoftware leaves SOFTWARE out of responses. Default: false.
	OmitSoftware bool

	// TCPIdleTimeout is how long a TCP client may take to send a complete
	// message, counted from the connection start or the end of the previous
	// message; a client that idles or trickles longer is disconnected.
	// Default: 30s.
	TCPIdleTimeout time.Duration

	// MaxTCPConns caps the number of TCP connections served at once; more
	// are closed as soon as they are accepted. Default: 4096.
	MaxTCPConns int

	// MaxMessageSize is the largest request accepted, in bytes. A larger UDP
	// datagram is dropped; a larger message on TCP closes the connection.
	// Values under 548 are raised to 548. Default: 1500.
	MaxMessageSize int

	// Logger receives debug logs about dropped requests and warnings about
	// socket errors. Default: nil, silent.
	Logger *slog.Logger
}

// minMessageSize is the smallest MaxMessageSize: RFC 8489 section 6.1 says
// STUN over UDP must work with 576-byte IPv4 datagrams, which leaves 548
// bytes for the message.
const minMessageSize = 548

// maxSoftwareLen is the longest SOFTWARE value sent, in bytes.
const maxSoftwareLen = 127

// withDefaults returns a copy of c with every zero field set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Software == "" {
		out.Software = DefaultSoftware
	}
	out.Software = truncateUTF8(out.Software, maxSoftwareLen)
	if out.TCPIdleTimeout <= 0 {
		out.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if out.MaxTCPConns <= 0 {
		out.MaxTCPConns = DefaultMaxTCPConns
	}
	if out.MaxMessageSize <= 0 {
		out.MaxMessageSize = DefaultMaxMessageSize
	}
	out.MaxMessageSize = max(out.MaxMessageSize, minMessageSize)
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
