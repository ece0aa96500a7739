// Package sockbuf sizes the kernel buffers of UDP sockets that carry bulk
// traffic (QUIC tunnels, the relay), where the defaults drop bursts.
package sockbuf

import (
	"log/slog"
	"net"
	"syscall"
)

// Set sets pc's kernel receive and send buffers to size bytes, forcing
// past the sysctl limits where the process may (CAP_NET_ADMIN), and logs
// a warning if the kernel kept them smaller. A pc that is not a socket is
// left alone.
func Set(pc net.PacketConn, size int, log *slog.Logger) {
	if size <= 0 {
		return
	}
	sc, ok := pc.(interface {
		SyscallConn() (syscall.RawConn, error)
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	})
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rcv, snd := forceBuffers(raw, size)
	if rcv < size {
		sc.SetReadBuffer(size)
	}
	if snd < size {
		sc.SetWriteBuffer(size)
	}
	rcv, snd = Sizes(raw)
	if rcv >= 0 && (rcv < size || snd < size) {
		log.Warn("the kernel limits the UDP socket buffers, which may cost throughput; "+
			"raise the sysctls net.core.rmem_max and net.core.wmem_max",
			"receive", rcv, "send", snd, "wanted", size)
	}
}
