package rendezvous

import (
	"log/slog"
	"time"
)

// Defaults for the Config fields.
const (
	DefaultWaitTimeout      = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxWaitingPerIP  = 64
	DefaultInUseFor         = 30 * time.Second
	DefaultMaxConns         = 200_000
)

// Config configures a Server. The zero value (or a nil *Config) works; every
// field states its default.
type Config struct {
	// WaitTimeout is how long a client waits for its peer before it gets
	// a "timeout" error (legacy clients: the connection is closed).
	// Default: 60s.
	WaitTimeout time.Duration

	// HandshakeTimeout is how long a client may take to send its key or
	// request, from the moment its connection is accepted; a slower or
	// silent client is disconnected. It also bounds the writing of an
	// answer, and, when the server relays the first flights, the leader's
	// reply: it must arrive within HandshakeTimeout of the pairing.
	// Default: 10s.
	HandshakeTimeout time.Duration

	// MaxWaitingPerIP caps the sessions that wait at once from one
	// source: an IPv4 address, or an IPv6 /64 (one host's share). More
	// get a "too-many" error. Default: 64.
	MaxWaitingPerIP int

	// InUseFor is how long a key stays in use after it paired: a third
	// client with that key gets "key-in-use" and learns nothing about the
	// pair. Default: 30s.
	InUseFor time.Duration

	// MaxConns caps the connections served at once, waiting or not; more
	// are closed as soon as they are accepted. Default: 200,000.
	MaxConns int

	// Matcher keeps the waiting sessions and pairs them. The server
	// relays the peers' handshake flights only when it is a
	// *MemoryMatcher (see Matcher). Default: a new MemoryMatcher, private
	// to the Server.
	Matcher Matcher

	// Grant, if set, is asked for relay access for each paired version 1
	// client, with the session's kind and token (hex); a nil Grant
	// answers without one. Default: no relay.
	Grant func(kind Kind, token string) *Grant

	// Logger receives debug logs about sessions and warnings about
	// socket errors. Default: nil, silent.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.WaitTimeout <= 0 {
		out.WaitTimeout = DefaultWaitTimeout
	}
	if out.HandshakeTimeout <= 0 {
		out.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if out.MaxWaitingPerIP <= 0 {
		out.MaxWaitingPerIP = DefaultMaxWaitingPerIP
	}
	if out.InUseFor <= 0 {
		out.InUseFor = DefaultInUseFor
	}
	if out.MaxConns <= 0 {
		out.MaxConns = DefaultMaxConns
	}
	if out.Matcher == nil {
		out.Matcher = NewMemoryMatcher()
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}
