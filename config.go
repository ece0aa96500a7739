package punch

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/stun"
)

// ServerEnv names the environment variable with the default punch server.
const ServerEnv = "PUNCH_SERVER"

// Config configures [Connect], [Dial] and [Listen]. A nil *Config works
// (against $PUNCH_SERVER); every field states its default.
type Config struct {
	// Server is the punch server: "host" or "host:port", the port being
	// the rendezvous port (TCP). Default: $PUNCH_SERVER, port 3477.
	Server string
	// STUNPort is the STUN port (UDP) on the server's host. Default 3478.
	STUNPort int
	// Network is "ip4" or "ip6" to use one family only. Default: the
	// family of the server's first address (IPv4 first).
	Network string
	// Bind is the local address to use. Default: any.
	Bind netip.Addr
	// Paths lists the paths to try. Default: all of them.
	Paths []Path
	// RelayGrace is how long the direct paths run alone before the relay
	// joins the race. Default 1 s.
	RelayGrace time.Duration
	// RelayTURN makes the relay path use the server's TURN relay even
	// where the server runs a pair relay, which is faster (see
	// docs/relay.md). Default: false, the pair relay where there is one.
	RelayTURN bool
	// Timeout bounds the race after the peers met. Default 10 s.
	Timeout time.Duration
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
	// Status, if set, receives one-line progress messages for people.
	// Default: none.
	Status func(msg string)
}

// Defaults of the Config fields.
const (
	DefaultRelayGrace = time.Second
	DefaultTimeout    = 10 * time.Second
)

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Server == "" {
		out.Server = os.Getenv(ServerEnv)
	}
	if out.STUNPort <= 0 {
		out.STUNPort = stun.DefaultPort
	}
	if len(out.Paths) == 0 {
		out.Paths = slices.Clone(Paths)
	}
	if out.RelayGrace <= 0 {
		out.RelayGrace = DefaultRelayGrace
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultTimeout
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *Config) status(format string, args ...any) {
	if c.Status != nil {
		c.Status(fmt.Sprintf(format, args...))
	}
}

// serverAddr is Server with the rendezvous port when it names none.
func (c *Config) serverAddr() string {
	if _, _, err := net.SplitHostPort(c.Server); err == nil {
		return c.Server
	}
	host := c.Server
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, strconv.Itoa(rendezvous.DefaultPort))
}
