package rendezvous

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"
)

// closeWait is how long a client waits for the server to close the
// connection after its answer.
const closeWait = 250 * time.Millisecond

// replyCloseWait is how long SendReply waits for the server to close the
// connection after the reply.
const replyCloseWait = 3 * time.Second

// Legacy runs the legacy T-STUN exchange on conn, a TCP connection to the
// server that the caller dialled (typically from the reuse-port socket it
// will punch from): it sends key and waits for the peer that sends the same
// key, then returns the peer's public address. It blocks until the server
// answers or ctx is done; cancelling ctx unblocks it (through conn's
// deadline, which it leaves set in that case).
//
// A legacy server answers errors by closing the connection, which Legacy
// returns as ErrNoAnswer. A key whose first 8 bytes are Hello cannot be
// used (the server would read a version 1 request): Legacy refuses it with
// ErrBadRequest. Legacy returns after the server has closed its side, so
// that closing conn leaves no TIME_WAIT on the caller's port; it does not
// close conn itself.
func Legacy(ctx context.Context, conn net.Conn, key [KeySize]byte) (netip.AddrPort, error) {
	if string(key[:len(Hello)]) == Hello {
		return netip.AddrPort{}, fmt.Errorf("%w: the key starts with %q, which the server reads as a version 1 request: use another key", ErrBadRequest, Hello)
	}
	line, err := roundTrip(ctx, conn, key[:], maxLegacyAnswer)
	if err != nil {
		return netip.AddrPort{}, err
	}
	peer, err := parseLegacyAnswer(line)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("rendezvous: server %v: %w", conn.RemoteAddr(), err)
	}
	return peer, nil
}

// Exchange runs the version 1 exchange on conn, a TCP connection to the
// server that the caller dialled (typically from the reuse-port socket it
// will punch from): it sends req and waits for the peer with the same
// token, then returns what the server says of the pair. It blocks until
// the server answers or ctx is done; cancelling ctx unblocks it (through
// conn's deadline, which it leaves set in that case).
//
// A request the server would refuse (unknown kind, too many candidates,
// info too large or not a JSON object, a handshake flight too large) is
// not sent: Exchange returns ErrBadRequest at once. Error answers come
// back as errors wrapping ErrKeyInUse, ErrTimeout, ErrTooMany,
// ErrBadRequest or ErrKindMismatch. Exchange returns after the server has
// closed its side, so that closing conn leaves no TIME_WAIT on the
// caller's port; it does not close conn itself.
//
// When the answer carries the peer's handshake flight (Match.PeerHandshake)
// the server keeps the connection open, and Exchange returns as soon as it
// has read the answer, without reading past it: then the leader calls
// SendReply (or closes conn to send no reply) and the follower ReadReply.
func Exchange(ctx context.Context, conn net.Conn, req Request) (*Match, error) {
	msg, bad := marshalRequest(req)
	if bad != "" {
		return nil, fmt.Errorf("%w: %s", ErrBadRequest, bad)
	}
	cl, err := begin(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer cl.end()
	if _, err := conn.Write(msg); err != nil {
		return nil, cl.fail("sending to", err)
	}
	// When the server relays, the follower's reply may come right after
	// the answer: leave it in conn for ReadReply.
	var line []byte
	if len(req.Handshake) > 0 {
		line, err = readLineExact(conn, MaxAnswerSize)
	} else {
		line, err = readLine(conn, MaxAnswerSize)
	}
	if err != nil {
		return nil, cl.fail("waiting at", err)
	}
	m, err := parseAnswer(line)
	if err != nil || m.PeerHandshake == nil {
		awaitClose(conn)
	}
	if err != nil {
		return nil, fmt.Errorf("rendezvous: server %v: %w", conn.RemoteAddr(), err)
	}
	return m, nil
}

// SendReply sends the leader's reply to the peer's handshake flight, b (1
// to MaxHandshakeSize bytes), on conn, after an Exchange whose answer
// carried Match.PeerHandshake and made this side the leader. It must
// reach the server within the server's handshake timeout (10 s by
// default) of the pairing. SendReply then waits a few seconds at most for
// the server to close the connection, which it does as soon as it has
// taken the reply, so that closing conn leaves no TIME_WAIT on the
// caller's port; it does not close conn itself. A nil error means that
// the reply was sent, not that the peer got it: the follower may have
// left.
//
// A b of the wrong size is not sent: SendReply returns ErrBadRequest at
// once, as it does when the server refuses the reply. Cancelling ctx
// unblocks it (through conn's deadline, which it leaves set in that case).
func SendReply(ctx context.Context, conn net.Conn, b []byte) error {
	if len(b) == 0 || len(b) > MaxHandshakeSize {
		return fmt.Errorf("%w: a reply of %d bytes: want 1 to %d", ErrBadRequest, len(b), MaxHandshakeSize)
	}
	cl, err := begin(ctx, conn)
	if err != nil {
		return err
	}
	defer cl.end()
	if _, err := conn.Write(marshalReply(b)); err != nil {
		return cl.fail("sending the reply to", err)
	}
	until := time.Now().Add(replyCloseWait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	conn.SetReadDeadline(until)
	if err := ctx.Err(); err != nil { // which may have set the deadline before
		return cl.fail("sending the reply to", err)
	}
	line, err := readLine(conn, MaxAnswerSize)
	switch {
	case errors.Is(err, ErrNoAnswer):
		return nil // the server closed: it took the reply
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil && time.Now().Before(ctxDeadline(ctx)):
		return nil // the server did not close in time
	case err != nil:
		return cl.fail("sending the reply to", err)
	}
	awaitClose(conn)
	if _, err := parseAnswer(line); err != nil {
		return fmt.Errorf("rendezvous: server %v: %w", conn.RemoteAddr(), err)
	}
	return fmt.Errorf("rendezvous: server %v: %w: a second answer", conn.RemoteAddr(), ErrProtocol)
}

// ReadReply reads the leader's reply, relayed by the server, on conn,
// after an Exchange whose answer carried Match.PeerHandshake and made this
// side the follower. It returns the reply once the server has closed the
// connection, so that closing conn leaves no TIME_WAIT on the caller's
// port; it does not close conn itself. When the server closes without
// passing a reply on (the leader sent none in time, or a malformed one, or
// left), it returns an error wrapping ErrNoReply. It blocks until then or
// until ctx is done; cancelling ctx unblocks it (through conn's deadline,
// which it leaves set in that case).
func ReadReply(ctx context.Context, conn net.Conn) ([]byte, error) {
	cl, err := begin(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer cl.end()
	line, err := readLine(conn, MaxRequestSize)
	if errors.Is(err, ErrNoAnswer) {
		err = ErrNoReply
	}
	if err != nil {
		return nil, cl.fail("waiting for the peer's reply at", err)
	}
	awaitClose(conn)
	reply, err := parseReply(line)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: server %v: %w: reply: %v", conn.RemoteAddr(), ErrProtocol, err)
	}
	return reply, nil
}

// roundTrip is Legacy's exchange: it sends msg on conn, reads the answer
// line, without its "\n", and waits for the server's close.
func roundTrip(ctx context.Context, conn net.Conn, msg []byte, max int) ([]byte, error) {
	cl, err := begin(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer cl.end()
	if _, err := conn.Write(msg); err != nil {
		return nil, cl.fail("sending to", err)
	}
	line, err := readLine(conn, max)
	if err != nil {
		return nil, cl.fail("waiting at", err)
	}
	awaitClose(conn)
	return line, nil
}

// call is one client call on the server's connection, under a ctx: conn
// takes ctx's deadline, and cancelling ctx sets conn's deadline to the
// past, which unblocks the call's I/O.
type call struct {
	ctx  context.Context
	conn net.Conn
	stop func() bool
}

// begin starts a call, unless ctx is done.
func begin(ctx context.Context, conn net.Conn) (call, error) {
	if err := ctx.Err(); err != nil {
		return call{}, fmt.Errorf("rendezvous: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	return call{ctx, conn, stop}, nil
}

// end ends the call: it clears conn's deadlines, unless ctx has set them.
func (cl call) end() {
	if cl.stop() {
		cl.conn.SetDeadline(time.Time{})
	}
}

// fail is the error of an I/O step of the call, named by phase: err, or
// ctx's error when ctx caused it.
func (cl call) fail(phase string, err error) error {
	if cl.ctx.Err() != nil {
		err = cl.ctx.Err()
	} else if errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(ctxDeadline(cl.ctx)) {
		// conn's deadline, which is ctx's, fired before ctx's timer.
		err = context.DeadlineExceeded
	}
	return fmt.Errorf("rendezvous: %s server %v: %w", phase, cl.conn.RemoteAddr(), err)
}

// ctxDeadline is ctx's deadline, or the far future when it has none.
func ctxDeadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Unix(1<<62, 0)
}

// readLine reads up to the first "\n", at most max bytes with it, and
// returns what precedes it.
func readLine(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, 0, min(max, 512))
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= max {
				return nil, fmt.Errorf("%w: answer longer than %d bytes", ErrProtocol, max)
			}
			buf = append(buf, make([]byte, min(2*cap(buf), max)-len(buf))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		if i := bytes.IndexByte(buf[len(buf):len(buf)+n], '\n'); i >= 0 {
			return buf[:len(buf)+i], nil
		}
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF) && len(buf) == 0:
			return nil, ErrNoAnswer
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: answer cut short", ErrProtocol)
		case err != nil:
			return nil, err
		}
	}
}

// awaitClose waits briefly for the server to close its side, which it does
// right after its answer, so that the client's close is the passive one.
func awaitClose(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(closeWait))
	var buf [64]byte
	for {
		if _, err := conn.Read(buf[:]); err != nil {
			return
		}
	}
}
