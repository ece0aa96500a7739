package udpbatch

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
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
