package udpbatch

import (
	"encoding/binary"
	"net"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// newBatchConn returns the batch reader and writer of c: x/net's
// ReadBatch and WriteBatch, which are recvmmsg and sendmmsg on Linux. The
// wrapper follows the family of the socket: an IPv6 one, dual-stack
// included, gets an ipv6.PacketConn.
func newBatchConn(c *net.UDPConn) batchConn {
	a, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	if a.AddrPort().Addr().Is4() { // a 4-byte IP: an AF_INET socket
		return ipv4.NewPacketConn(c)
	}
	return ipv6.NewPacketConn(c)
}

// enableOffload turns on UDP GRO on c and checks that the kernel takes
// UDP_SEGMENT (GSO) on it; both since Linux 5.0.
func enableOffload(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) != nil {
			return
		}
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// oobSize is the room for the control message of a coalesced datagram:
// UDP_GRO on receive (an int), UDP_SEGMENT on send (a uint16).
var oobSize = unix.CmsgSpace(4)

// segmentOf returns the segment size a UDP_GRO control message in oob
// gives, 0 if there is none.
func segmentOf(oob []byte) int {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && len(data) >= 4 {
			return int(binary.NativeEndian.Uint32(data))
		}
		oob = rest
	}
	return 0
}

// appendSegment appends a UDP_SEGMENT control message for segments of
// seg bytes to b.
func appendSegment(b []byte, seg int) []byte {
	n := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(2))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[n]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[n+unix.CmsgLen(0):], uint16(seg))
	return b
}

// StopGRO turns UDP GRO off on pc, if it is a UDP socket, for a reader that
// reads it one datagram at a time after quic-go (whose copy in
// third_party turns GRO on) has read it in batches. Datagrams the kernel
// already coalesced stay so.
func StopGRO(pc net.PacketConn) {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	if rc, err := u.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 0) })
	}
}
