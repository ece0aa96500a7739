package secure

import (
	"crypto/tls"
	"net"
	"time"
)

// Conn is an authenticated, encrypted connection returned by [Handshake]:
// a net.Conn over TLS 1.3 whose peer has proved that it knows the key.
// Like net.Conn, its methods may be called from several goroutines.
type Conn struct {
	tls       *tls.Conn
	raw       net.Conn
	initiator bool
}

var _ net.Conn = (*Conn)(nil)

// Read reads decrypted data from the peer. After the peer's CloseWrite or
// Close it returns io.EOF.
func (c *Conn) Read(p []byte) (int, error) { return c.tls.Read(p) }

// Write encrypts p and sends it to the peer.
func (c *Conn) Write(p []byte) (int, error) { return c.tls.Write(p) }

// Close sends a TLS close_notify alert (waiting at most 5 s) and closes the
// underlying connection.
func (c *Conn) Close() error { return c.tls.Close() }

// CloseWrite half-closes the connection: it sends a TLS close_notify alert,
// after which the peer reads io.EOF, and then half-closes the underlying
// connection too if it has a CloseWrite method (as *net.TCPConn does).
// Reading goes on until the peer closes its side. Writes after CloseWrite
// fail.
func (c *Conn) CloseWrite() error {
	if err := c.tls.CloseWrite(); err != nil {
		return err
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address: the peer.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the read and write deadlines, as net.Conn does. After a
// write has timed out the TLS state is corrupt and all later writes fail.
func (c *Conn) SetDeadline(t time.Time) error { return c.tls.SetDeadline(t) }

// SetReadDeadline sets the read deadline, as net.Conn does.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tls.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline, as net.Conn does.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tls.SetWriteDeadline(t) }

// Initiator reports whether this side was the initiator (TLS client).
func (c *Conn) Initiator() bool { return c.initiator }

// ConnectionState returns the TLS session's state (version, cipher suite,
// negotiated protocol, exporter).
func (c *Conn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// NetConn returns the underlying connection, which carries TLS records.
// Writing to it or reading from it corrupts the session.
func (c *Conn) NetConn() net.Conn { return c.raw }
