package tunnel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// stream is one QUIC stream as a net.Conn. quic-go's streams are not
// net.Conns: they lack addresses, their Close only ends the sending
// direction, and Write must not run concurrently with Write or Close.
//
// Here CloseWrite sends FIN after what was written (a TCP half-close,
// which forward.Join passes on), and Close ends both directions: FIN for
// the sending one (or a reset if a Write is still blocked in it) and
// STOP_SENDING for the receiving one unless the peer's FIN was read
// already. A stream whose both directions ended cleanly costs nothing
// after Close.
type stream struct {
	c        *Conn
	st       *quic.Stream
	accepted bool // opened by the peer: a type byte precedes its data

	hdrMu   sync.Mutex
	hdrDone atomic.Bool // the type byte was read (or failed for good)
	hdrErr  error

	wmu       sync.Mutex // serialises Write, CloseWrite and Close's FIN
	closeOnce sync.Once
	closed    atomic.Bool
}

var _ net.Conn = (*stream)(nil)

// Read reads what the peer wrote; io.EOF after its FIN.
func (s *stream) Read(b []byte) (int, error) {
	if s.accepted && !s.hdrDone.Load() {
		if err := s.readHeader(); err != nil {
			return 0, err
		}
	}
	n, err := s.st.Read(b)
	if n > 0 {
		s.c.received.Add(uint64(n))
	}
	if err != nil && err != io.EOF {
		err = s.opErr("read", err)
	}
	return n, err
}

// readHeader reads and checks the type byte of a stream the peer opened,
// once; a deadline that interrupts it leaves it for the next Read.
func (s *stream) readHeader() error {
	s.hdrMu.Lock()
	defer s.hdrMu.Unlock()
	if s.hdrDone.Load() {
		return s.hdrErr
	}
	var h [1]byte
	_, err := io.ReadFull(s.st, h[:])
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return s.opErr("read", err)
	case errors.Is(err, io.EOF):
		s.hdrErr = s.opErr("read", fmt.Errorf("%w: a stream ended before its type byte", ErrProtocol))
	case err != nil:
		s.hdrErr = s.opErr("read", err)
	case h[0] != streamTypeForward:
		s.st.CancelRead(streamCodeUnknownType)
		s.st.CancelWrite(streamCodeUnknownType)
		s.hdrErr = s.opErr("read", fmt.Errorf("%w: unknown stream type 0x%02x", ErrProtocol, h[0]))
	}
	s.hdrDone.Store(true)
	return s.hdrErr
}

// Write writes b to the peer; it blocks while the peer's receive window
// is full.
func (s *stream) Write(b []byte) (int, error) {
	s.wmu.Lock()
	n, err := s.st.Write(b)
	s.wmu.Unlock()
	if n > 0 {
		s.c.sent.Add(uint64(n))
	}
	if err != nil {
		err = s.opErr("write", err)
	}
	return n, err
}

// copyBufs are the buffers of copyLarge.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyLarge copies src to dst until src ends, through a 256 KiB buffer. It
// hides both sides' ReadFrom and WriteTo, or io.CopyBuffer would call them
// instead of using the buffer.
func copyLarge(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
}

// ReadFrom copies r to the stream until r ends, in writes of up to
// 256 KiB: io.Copy and forward.Join use it instead of their 32 KiB
// buffer, and quic-go spends less per byte on larger writes.
func (s *stream) ReadFrom(r io.Reader) (int64, error) { return copyLarge(s, r) }

// WriteTo copies the stream to w until the peer's end of stream, in reads
// of up to 256 KiB: io.Copy uses it instead of its 32 KiB buffer, so that
// a forward makes fewer, larger writes to its socket or pipe.
func (s *stream) WriteTo(w io.Writer) (int64, error) { return copyLarge(w, s) }

// CloseWrite half-closes the stream: the peer reads io.EOF once it has
// everything written so far, and can still send.
func (s *stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.st.Close(); err != nil {
		return s.opErr("close", err)
	}
	return nil
}

// Close ends both directions, as described at [stream]; Read and Write
// then fail with net.ErrClosed.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.st.CancelRead(streamCodeClosed) // no-op once io.EOF was read
		if s.wmu.TryLock() {
			s.st.Close() // FIN after the data written; no-op after CloseWrite
			s.wmu.Unlock()
		} else {
			s.st.CancelWrite(streamCodeClosed) // unblocks the Write in progress
		}
	})
	return nil
}

// opErr wraps a stream error as net.Conn errors are: a *net.OpError, whose
// Timeout() tells a deadline, with net.ErrClosed after Close and the
// tunnel's own error after it ended.
func (s *stream) opErr(op string, err error) error {
	switch {
	case s.closed.Load():
		err = net.ErrClosed
	case s.c.qc.Context().Err() != nil:
		err = s.c.Err()
	}
	return &net.OpError{Op: op, Net: "quic", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}

// LocalAddr returns the tunnel's local UDP address.
func (s *stream) LocalAddr() net.Addr { return s.c.qc.LocalAddr() }

// RemoteAddr returns the peer's current UDP address.
func (s *stream) RemoteAddr() net.Addr { return s.c.qc.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (s *stream) SetDeadline(t time.Time) error { return s.st.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (s *stream) SetReadDeadline(t time.Time) error { return s.st.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *stream) SetWriteDeadline(t time.Time) error { return s.st.SetWriteDeadline(t) }
