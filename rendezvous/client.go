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
// info too large or not a JSON object) is not sent: Exchange returns
// ErrBadRequest at once. Error answers come back as errors wrapping
// ErrKeyInUse, ErrTimeout, ErrTooMany, ErrBadRequest or ErrKindMismatch.
// Exchange returns after the server has closed its side, so that closing
// conn leaves no TIME_WAIT on the caller's port; it does not close conn
// itself.
func Exchange(ctx context.Context, conn net.Conn, req Request) (*Match, error) {
	msg, bad := marshalRequest(req)
	if bad != "" {
		return nil, fmt.Errorf("%w: %s", ErrBadRequest, bad)
	}
	line, err := roundTrip(ctx, conn, msg, MaxAnswerSize)
	if err != nil {
		return nil, err
	}
	m, err := parseAnswer(line)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: server %v: %w", conn.RemoteAddr(), err)
	}
	return m, nil
}

// roundTrip sends msg on conn and reads the answer line, without its
// "\n", honouring ctx.
func roundTrip(ctx context.Context, conn net.Conn, msg []byte, max int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rendezvous: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer func() {
		if stop() {
			conn.SetDeadline(time.Time{})
		}
	}()
	fail := func(phase string, err error) ([]byte, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
			// conn's deadline, which is ctx's, fired before ctx's timer.
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("rendezvous: %s server %v: %w", phase, conn.RemoteAddr(), err)
	}
	if _, err := conn.Write(msg); err != nil {
		return fail("sending to", err)
	}
	line, err := readLine(conn, max)
	if err != nil {
		return fail("waiting at", err)
	}
	awaitClose(conn)
	return line, nil
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
