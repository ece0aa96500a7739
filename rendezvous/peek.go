package rendezvous

import (
	"bytes"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// readLineExact is readLine that reads nothing past the "\n", so that what
// follows stays in conn for the next reader. On a socket it peeks at what
// has arrived (MSG_PEEK) and takes the line's part of it; on another
// connection it reads a byte at a time.
func readLineExact(conn net.Conn, max int) ([]byte, error) {
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return readLine(&peekReader{conn, rc}, max)
		}
	}
	return readLine(oneByteReader{conn}, max)
}

// peekReader reads from a socket no further than the first "\n" that has
// arrived.
type peekReader struct {
	conn net.Conn
	rc   syscall.RawConn
}

func (r *peekReader) Read(p []byte) (int, error) {
	var n int
	var errno error
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = unix.Recvfrom(int(fd), p, unix.MSG_PEEK)
			if errno != unix.EINTR {
				return errno != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil: // a deadline, a closed connection
		return 0, err
	case errno != nil:
		return 0, &net.OpError{Op: "read", Net: r.conn.LocalAddr().Network(), Source: r.conn.LocalAddr(), Addr: r.conn.RemoteAddr(), Err: os.NewSyscallError("recvfrom", errno)}
	case n == 0:
		return 0, io.EOF
	}
	if i := bytes.IndexByte(p[:n], '\n'); i >= 0 {
		n = i + 1
	}
	return io.ReadFull(r.conn, p[:n])
}

// oneByteReader reads a byte at a time.
type oneByteReader struct{ r io.Reader }

func (r oneByteReader) Read(p []byte) (int, error) {
	return r.r.Read(p[:min(len(p), 1)])
}
