package punch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"

	"github.com/punchkit/punch/forward"
	"github.com/punchkit/punch/session"
)

// A link is a path that came up and authenticated the peer, before the
// leader has chosen among them.
type link interface {
	// choose tells the peer that this link is the session's (leader).
	choose(ctx context.Context) error
	// chosen waits until the peer says this link is the session's
	// (follower).
	chosen(ctx context.Context) error
	// mux starts the session's streams on the link.
	mux(log *slog.Logger) (forward.Mux, error)
	peer() netip.AddrPort
	close() error
}

// chooseByte is what the leader sends on the chosen link: the first byte
// of a TCP link's secure connection, the only byte of a QUIC link's first
// stream.
const chooseByte = 'S'

var errNotChosen = errors.New("the peer closed the link without choosing it")

// tcpLink is a secured TCP connection; yamux carries its streams.
type tcpLink struct {
	s      *session.Session
	leader bool
}

func (l *tcpLink) choose(ctx context.Context) error {
	return withCtx(ctx, l.s.Conn, func() error {
		_, err := l.s.Conn.Write([]byte{chooseByte})
		return err
	})
}

func (l *tcpLink) chosen(ctx context.Context) error {
	return withCtx(ctx, l.s.Conn, func() error { return readChoice(l.s.Conn) })
}

func (l *tcpLink) mux(log *slog.Logger) (forward.Mux, error) {
	return forward.Yamux(l.s.Conn, l.leader, log)
}
func (l *tcpLink) peer() netip.AddrPort { return l.s.Peer }
func (l *tcpLink) close() error         { return l.s.Conn.Close() }

// quicLink is a QUIC tunnel, over a punched socket or the relay.
type quicLink struct {
	t    *session.Tunnel
	more func() error // closes what else the link holds (a relay allocation)
	path *pathConn    // under a relayed tunnel, which may move to a direct path
}

func (l *quicLink) choose(ctx context.Context) error {
	st, err := l.t.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return withCtx(ctx, st, func() error {
		_, err := st.Write([]byte{chooseByte})
		return err
	})
}

func (l *quicLink) chosen(ctx context.Context) error {
	st, err := l.t.Accept(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return withCtx(ctx, st, func() error { return readChoice(st) })
}

func (l *quicLink) mux(*slog.Logger) (forward.Mux, error) { return l.t, nil }
func (l *quicLink) peer() netip.AddrPort                  { return l.t.Peer }
func (l *quicLink) close() error {
	err := l.t.Close()
	if l.more != nil {
		l.more()
	}
	return err
}

// readChoice reads the leader's choice from r.
func readChoice(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errNotChosen
		}
		return err
	}
	if b[0] != chooseByte {
		return fmt.Errorf("punch: unexpected byte %#x instead of the leader's choice", b[0])
	}
	return nil
}

// withCtx runs f, a blocking read or write on c, and interrupts it when
// ctx ends.
func withCtx(ctx context.Context, c net.Conn, f func() error) error {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	err := f()
	if !stop() {
		return ctx.Err()
	}
	return err
}
