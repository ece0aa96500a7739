package tunnel

import (
	"log/slog"
	"net"
	"syscall"
)

// setSocketBuffers sets pc's kernel receive and send buffers to size bytes
// (see [Config.SocketBuffer]), forcing past the sysctl limits where the
// process may, and logs a warning if the kernel kept them smaller.
func setSocketBuffers(pc net.PacketConn, size int, log *slog.Logger) {
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
	rcv, snd = socketBuffers(raw)
	if rcv >= 0 && (rcv < size || snd < size) {
		log.Warn("tunnel: the kernel limits the UDP socket buffers, which may cost throughput; "+
			"raise the sysctls net.core.rmem_max and net.core.wmem_max",
			"receive", rcv, "send", snd, "wanted", size)
	}
}
