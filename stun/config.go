package stun

import (
	"log/slog"
	"net/netip"
	"time"
)

// DefaultPort is the STUN port (RFC 8489 section 18.6), used when a server
// address names no port.
const DefaultPort = 3478

// Config tunes the probes. A nil *Config and the zero value both mean the
// defaults; every field states its own.
type Config struct {
	// RTO is the first retransmission timeout: a request still unanswered
	// after RTO is sent again, and the timeout doubles after every
	// retransmission (RFC 8489 section 6.2.1). Default 100 ms.
	RTO time.Duration

	// Attempts is the most times one request is sent, the first
	// transmission included. Default 7. Timeout usually ends a test first:
	// with the default RTO and Timeout a request goes out 4 times (at 0,
	// 100, 300 and 700 ms).
	Attempts int

	// Timeout is how long one test waits for its answer, retransmissions
	// included. For the filtering and hairpin tests silence is itself the
	// result, so it bounds the run time: Discover runs test I and then two
	// rounds of tests, each round ending when all its answers are in or
	// Timeout has passed, so a full discovery through a NAT that drops
	// probes takes about 2 x Timeout plus one round trip. Default 1 s.
	Timeout time.Duration

	// Logger receives a debug record for every request sent and every
	// answer received. Default: no logging.
	Logger *slog.Logger

	// Unmatched, if set, is called with every packet that arrives on the
	// socket during a call but answers none of its requests: other STUN
	// traffic, a peer's punching packets, anything. p is valid only during
	// the call. Default: such packets are dropped.
	Unmatched func(p []byte, from netip.AddrPort)
}

// Defaults of Config's fields.
const (
	defaultRTO      = 100 * time.Millisecond
	defaultAttempts = 7
	defaultTimeout  = time.Second
)

// withDefaults returns a copy of c (which may be nil) with every zero field
// set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.RTO <= 0 {
		out.RTO = defaultRTO
	}
	if out.Attempts <= 0 {
		out.Attempts = defaultAttempts
	}
	if out.Timeout <= 0 {
		out.Timeout = defaultTimeout
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}
