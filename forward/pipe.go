package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// Direction says which way a pipe copies.
type Direction int

// The directions.
const (
	Duplex      Direction = iota // both ways
	SendOnly                     // standard input to the peer only
	ReceiveOnly                  // the peer to standard output only
)

// closeWriter is a connection that can close its sending half.
type closeWriter interface{ CloseWrite() error }

// CloseWrite half-closes c if it can, and closes it otherwise.
func CloseWrite(c net.Conn) error {
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Pipe copies in to conn and conn to out, as the direction says, until
// both copies are done: the end of in half-closes conn (the peer reads
// EOF), and the peer's end of stream ends the copy to out. It returns the
// first error other than the expected end of a stream; ctx ending closes
// conn.
func Pipe(ctx context.Context, conn net.Conn, in io.Reader, out io.Writer, dir Direction) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if dir != ReceiveOnly {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := io.Copy(conn, in)
			errs[0] = errors.Join(err, CloseWrite(conn))
		}()
	} else {
		CloseWrite(conn)
	}
	// Read to the peer's end of stream even when sending only: closing a
	// socket with unread data sends RST, which can destroy data the peer
	// has not read yet.
	if dir == SendOnly {
		out = io.Discard
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[1] = io.Copy(out, conn)
	}()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// Join copies between two connections both ways until both directions
// have ended, passing each half-close on, then closes both.
func Join(a, b net.Conn) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	copyHalf := func(i int, dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		errs[i] = err
		CloseWrite(dst)
	}
	wg.Add(2)
	go copyHalf(0, a, b)
	go copyHalf(1, b, a)
	wg.Wait()
	a.Close()
	b.Close()
	return errors.Join(errs...)
}
