package sockbuf

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// forceBuffers sets both socket buffers to size with SO_RCVBUFFORCE and
// SO_SNDBUFFORCE, which succeed past the sysctl limits with CAP_NET_ADMIN,
// and returns the sizes in effect (as Sizes does).
func forceBuffers(raw syscall.RawConn, size int) (rcv, snd int) {
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	})
	return Sizes(raw)
}

// Sizes returns the usable receive and send buffer sizes of a
// socket, or -1, -1 if it cannot tell. Linux reports twice the size that
// was set (the rest is its bookkeeping); this returns the size set.
func Sizes(raw syscall.RawConn) (rcv, snd int) {
	rcv, snd = -1, -1
	raw.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			rcv = v / 2
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
			snd = v / 2
		}
	})
	return rcv, snd
}
