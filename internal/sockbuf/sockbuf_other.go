//go:build !linux

package sockbuf

import "syscall"

// forceBuffers cannot force past the system limits here; it reports
// nothing so that the caller falls back to SetReadBuffer/SetWriteBuffer.
func forceBuffers(raw syscall.RawConn, size int) (rcv, snd int) { return -1, -1 }

// Sizes cannot tell the buffer sizes here.
func Sizes(raw syscall.RawConn) (rcv, snd int) { return -1, -1 }
