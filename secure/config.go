package secure

import (
	"log/slog"
	"time"
)

// Config tunes [Handshake]. A nil *Config and the zero value both mean the
// defaults; every field states its own.
type Config struct {
	// Initiator selects this side's role. Exactly one of the two peers
	// must be the initiator: it is the TLS client and speaks first in the
	// PAKE. The caller decides, for example from the rendezvous server's
	// leader flag or by comparing the two public addresses. If both sides
	// take the same role, Handshake fails with [ErrRole] within one round
	// trip. Default false (responder).
	Initiator bool

	// Timeout bounds the whole handshake (hello, TLS, PAKE and key
	// confirmation); a ctx deadline that comes sooner wins. A peer that
	// stays silent makes Handshake fail with [ErrTimeout]. Default 10 s.
	Timeout time.Duration

	// Logger receives a debug record for each finished or failed
	// handshake. Default: no logging.
	Logger *slog.Logger
}

// defaultTimeout is Config.Timeout's default.
const defaultTimeout = 10 * time.Second

// withDefaults returns a copy of c (which may be nil) with every zero field
// set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Timeout <= 0 {
		out.Timeout = defaultTimeout
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}
