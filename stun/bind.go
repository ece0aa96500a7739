package stun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Bind sends a binding request from pc to server and returns the mapped
// address the server saw: the socket's public address as far as that
// server is concerned. It retransmits on the schedule of cfg (nil for the
// defaults), matches the answer by transaction ID and ignores every other
// packet, so stray traffic on the socket does no harm (see
// [Config.Unmatched]).
//
// Bind reads from pc and sets its read deadline, which it clears before
// returning; nothing else may read from pc meanwhile. With no answer in
// time it returns an error wrapping [ErrNoResponse].
func Bind(ctx context.Context, pc net.PacketConn, server netip.AddrPort, cfg *Config) (netip.AddrPort, error) {
	r, err := BindResponse(ctx, pc, server, cfg)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return r.Mapped, nil
}

// BindResponse is [Bind] returning the whole response: the mapped address
// and, from an RFC 5780 server, its other address.
func BindResponse(ctx context.Context, pc net.PacketConn, server netip.AddrPort, cfg *Config) (*Response, error) {
	c := newProber(pc, cfg)
	p, err := c.newProbe("binding", server, ChangeRequest{})
	if err != nil {
		return nil, err
	}
	if err := c.round(ctx, p); err != nil {
		return nil, err
	}
	if err := c.mustAnswer(p); err != nil {
		return nil, err
	}
	return p.resp, nil
}

// BindPair learns two mappings of pc in one round trip: toward server and
// toward the next port of server's address, which is the alternate port
// of a punch server and of most RFC 5780 servers (3478 and 3479). The two
// requests leave together, the first one first. second is nil unless the
// answer from server names that port in OTHER-ADDRESS; BindPair then does
// not wait for the second answer.
func BindPair(ctx context.Context, pc net.PacketConn, server netip.AddrPort, cfg *Config) (first, second *Response, err error) {
	c := newProber(pc, cfg)
	p1, err := c.newProbe("binding", server, ChangeRequest{})
	if err != nil {
		return nil, nil, err
	}
	next := netip.AddrPortFrom(server.Addr(), server.Port()+1)
	p2, err := c.newProbe("binding to the next port", next, ChangeRequest{})
	if err != nil {
		return nil, nil, err
	}
	alternate := func() bool { return p1.resp != nil && p1.resp.Other.Port() == next.Port() }
	enough := func() bool { return p1.done && (p2.done || !alternate()) }
	if server.Port() == 65535 {
		enough = func() bool { return p1.done }
	}
	if err := c.roundUntil(ctx, enough, p1, p2); err != nil {
		return nil, nil, err
	}
	if err := c.mustAnswer(p1); err != nil {
		return nil, nil, err
	}
	if alternate() && p2.done && p2.err == nil && p2.resp != nil {
		second = p2.resp
	}
	return p1.resp, second, nil
}

// mustAnswer turns the outcome of a probe that needs a success response
// into an error for the user.
func (c *prober) mustAnswer(p *probe) error {
	switch {
	case p.answered && p.err != nil:
		return fmt.Errorf("%s request to %s: %w", p.name, p.to, p.err)
	case p.err != nil:
		return fmt.Errorf("%w at %s: %w", ErrNoResponse, p.to, p.err)
	case !p.answered:
		return fmt.Errorf("%w at %s: no answer within %v; UDP may be blocked on this network, "+
			"or no STUN server listens there", ErrNoResponse, p.to, c.cfg.Timeout)
	}
	return nil
}

// BindTCP sends a binding request over conn, a TCP connection to a STUN
// server, and returns the mapped address the server saw: the public
// address of conn's local port. For TCP hole punching, dial conn from the
// port to be punched (with SO_REUSEADDR/SO_REUSEPORT) and keep that port.
//
// BindTCP sets conn's deadline, which it clears before returning; it
// waits for the answer at most cfg.Timeout (default 1 s; RTO and Attempts
// do not apply, TCP retransmits by itself) and skips messages with other
// transaction IDs. The connection is not closed.
func BindTCP(ctx context.Context, conn net.Conn, cfg *Config) (netip.AddrPort, error) {
	c := cfg.withDefaults()
	server := addrPortOf(conn.RemoteAddr())
	msg, err := newRequest(ChangeRequest{})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("building binding request: %w", err)
	}
	dl := watch(ctx, conn.SetDeadline)
	defer dl.release()
	dl.set(time.Now().Add(c.Timeout))
	start := time.Now()
	c.Logger.Debug("stun: request", "test", "binding/tcp", "to", server)
	if _, err := conn.Write(msg.Raw); err != nil {
		return netip.AddrPort{}, tcpError(ctx, server, c.Timeout, "sending binding request", err)
	}
	for {
		b, err := readMessage(conn)
		if err != nil {
			return netip.AddrPort{}, tcpError(ctx, server, c.Timeout, "reading binding response", err)
		}
		m, err := decode(b)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("binding response from %s over TCP: %w", server, err)
		}
		if m.TransactionID != msg.TransactionID {
			continue
		}
		r, err := responseFrom(m)
		c.Logger.Debug("stun: answer", "test", "binding/tcp", "from", server,
			"rtt", time.Since(start), "mapped", mappedOf(r), "err", err)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("binding request to %s over TCP: %w", server, err)
		}
		return r.Mapped, nil
	}
}

// readMessage reads one STUN message from a stream (RFC 8489 section 6.2.2:
// over TCP, messages follow each other, each delimited by its header's
// length field).
func readMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	if hdr[0]&0xC0 != 0 || binary.BigEndian.Uint32(hdr[4:8]) != magicCookie || size%4 != 0 {
		return nil, fmt.Errorf("%w: the stream does not carry STUN", ErrMalformed)
	}
	b := make([]byte, headerSize+size)
	copy(b, hdr)
	if _, err := io.ReadFull(r, b[headerSize:]); err != nil {
		return nil, err
	}
	return b, nil
}

// tcpError explains a failed read or write on a TCP STUN connection.
func tcpError(ctx context.Context, server netip.AddrPort, timeout time.Duration, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w at %s over TCP: no answer within %v", ErrNoResponse, server, timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w at %s over TCP: the server closed the connection", ErrNoResponse, server)
	}
	return fmt.Errorf("%s to %s over TCP: %w", what, server, err)
}

// ResolveServer turns "host", "host:port", "ip", "ip:port" or "[ipv6]:port"
// into a server address, with [DefaultPort] when none is given. network is
// "udp4" or "udp6" to get an address of that family (use the family of the
// socket that will send the probes), or "udp" (also "tcp", "tcp4",
// "tcp6") for either, preferring IPv4.
func ResolveServer(ctx context.Context, network, hostport string) (netip.AddrPort, error) {
	var family string
	switch network {
	case "udp", "tcp":
		family = "ip"
	case "udp4", "tcp4":
		family = "ip4"
	case "udp6", "tcp6":
		family = "ip6"
	default:
		return netip.AddrPort{}, fmt.Errorf("%w: unknown network %q", ErrResolve, network)
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, family, host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w %q: %w", ErrResolve, host, err)
	}
	var pick netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if !pick.IsValid() || (a.Is4() && !pick.Is4()) {
			pick = a
		}
	}
	if !pick.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("%w %q: no %s address", ErrResolve, host, family)
	}
	return netip.AddrPortFrom(pick, port), nil
}

// splitHostPort splits a server address, defaulting the port.
func splitHostPort(s string) (host string, port uint16, err error) {
	if a, err := netip.ParseAddr(trimBrackets(s)); err == nil {
		return a.String(), DefaultPort, nil
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole string is the host.
		host, ps = s, ""
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: empty host in %q", ErrResolve, s)
	}
	if ps == "" {
		return host, DefaultPort, nil
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%w: bad port in %q", ErrResolve, s)
	}
	return host, uint16(p), nil
}

func trimBrackets(s string) string {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}
