package detpunch

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Defaults of [Config].
const (
	DefaultMaxClockError = 20 * time.Second
	DefaultRunWindow     = 10 * time.Second
	DefaultPorts         = 16
	// DefaultMargin is what the default Timeout adds to the run window: a
	// peer that starts a whole run window later still has this long.
	DefaultMargin = 5 * time.Second
	// Retry is the wait before a new connect on a port whose last one
	// failed (the seed's 10 ms): the pace of the SYN spray.
	Retry = 10 * time.Millisecond
)

// Config tunes a punch; the zero value works, given the peer and MyIP or
// STUN.
type Config struct {
	// MyIP is this side's public IP: the address the peer punches to.
	// Default: learned from STUN; with neither, Prepare fails with
	// [ErrNoPublicIP].
	MyIP netip.Addr
	// STUN is a STUN server to learn MyIP from (a binding request from a
	// UDP socket of the peer's family). Default: none.
	STUN netip.AddrPort
	// Bind is the local address the punching sockets are bound to.
	// Default: the unspecified address of the peer's family.
	Bind netip.Addr
	// MaxClockError is the largest difference between the two sides'
	// clocks that must still work. Default 20 s.
	MaxClockError time.Duration
	// RunWindow is the largest gap between the two sides' starts that
	// must still work; at most MaxClockError + 2 s, so that start gap and
	// clock difference together stay within one bucket window. Default
	// 10 s.
	RunWindow time.Duration
	// Ports is the number of ports per bucket, at most [MaxPorts].
	// Default 16.
	Ports int
	// ClockOffset is added to this side's clock: for tests, and for
	// people who know their clock is off. Default 0.
	ClockOffset time.Duration
	// Timeout bounds the punch. Default: RunWindow + 5 s, so that a peer
	// that starts a whole run window later is still met.
	Timeout time.Duration
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	var out Config
	if c != nil {
		out = *c
	}
	switch {
	case out.MaxClockError < 0, out.RunWindow < 0, out.Timeout < 0:
		return out, fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case out.Ports < 0 || out.Ports > MaxPorts:
		return out, fmt.Errorf("%w: %d ports per bucket: want 1 to %d", ErrConfig, out.Ports, MaxPorts)
	}
	if out.MaxClockError == 0 {
		out.MaxClockError = DefaultMaxClockError
	}
	if out.RunWindow == 0 {
		out.RunWindow = DefaultRunWindow
	}
	if out.Ports == 0 {
		out.Ports = DefaultPorts
	}
	if out.Timeout == 0 {
		out.Timeout = out.RunWindow + DefaultMargin
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if limit := out.MaxClockError + 2*time.Second; out.RunWindow > limit {
		return out, fmt.Errorf("%w: a run window of %v with a maximum clock error of %v: the run window may be at most the clock error + 2 s (%v), or the two sides may share no bucket",
			ErrConfig, out.RunWindow, out.MaxClockError, limit)
	}
	return out, nil
}
