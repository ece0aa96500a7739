package punch

import (
	"context"
	"net"
	"net/netip"
)

// Conn is a connection to the peer: one stream of a [Session], which it
// owns. Closing the Conn closes the session.
type Conn struct {
	net.Conn
	s *Session
}

// Session is the session the Conn's stream belongs to: its path, its
// peer, the attempts.
func (c *Conn) Session() *Session { return c.s }

// Path is the path the connection uses.
func (c *Conn) Path() Path { return c.s.path }

// NATs says how the NATs of the two sides map their sockets.
func (c *Conn) NATs() NATs { return c.s.nats }

// Peer is the peer's address on the path.
func (c *Conn) Peer() netip.AddrPort { return c.s.Peer() }

// Close closes the stream and the session.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if serr := c.s.Close(); err == nil {
		err = serr
	}
	return err
}

// Dial connects to the peer that calls [Listen] with the same key and
// server, and returns a connection to it: a stream of a new session.
func Dial(ctx context.Context, key string, cfg *Config) (*Conn, error) {
	return open(ctx, key, cfg, (*Session).Open)
}

// Listen waits for the peer that calls [Dial] with the same key and
// server, and returns the connection it opens.
func Listen(ctx context.Context, key string, cfg *Config) (*Conn, error) {
	return open(ctx, key, cfg, (*Session).Accept)
}

func open(ctx context.Context, key string, cfg *Config, stream func(*Session, context.Context) (net.Conn, error)) (*Conn, error) {
	s, err := Connect(ctx, key, cfg)
	if err != nil {
		return nil, err
	}
	st, err := stream(s, ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Conn{Conn: st, s: s}, nil
}
