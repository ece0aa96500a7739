package stunserver

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"

	"github.com/punchkit/punch/internal/netaddr"
)

// Batched UDP I/O. On Linux a reader goroutine receives up to batchSize
// datagrams with one recvmmsg system call and sends the responses that
// leave from its own socket with one sendmmsg, both through x/net's
// ReadBatch and WriteBatch. A response that CHANGE-REQUEST sends from
// another socket of the group is written singly: such requests are few (a
// client sends a handful to classify its NAT). Elsewhere, and for a
// net.PacketConn that is not a *net.UDPConn, the same loop runs on batches
// of one datagram, read and written by the socket's own methods.
//
// The buffers are allocated once per reader goroutine. x/net allocates the
// source address of each datagram it receives (a *net.UDPAddr and its IP,
// about 60 bytes); nothing else on the request path allocates.

// batchSize is the largest number of datagrams one system call reads or
// writes.
const batchSize = 32

// respCap is the initial capacity of a queued response; a larger response
// grows its slot once, and the slot keeps the capacity.
const respCap = 256

// batchConn reads and writes datagrams in batches. *ipv4.PacketConn and
// *ipv6.PacketConn implement it: their Message types are the same type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpBatch holds the buffers of one reader goroutine: datagrams received
// and responses queued.
type udpBatch struct {
	// in are the receive slots. After a read, in[i].N is the size of
	// the datagram and from[i] its sender.
	in   []ipv4.Message
	from []netip.AddrPort

	// out[:nout] are the queued responses: out[i].Buffers[0] holds the
	// encoded response and out[i].Addr is &addrs[i], whose IP is backed
	// by ips[i].
	out   []ipv4.Message
	nout  int
	addrs []net.UDPAddr
	ips   [][16]byte
}

// newUDPBatch allocates a batch of n slots, each with a receive buffer of
// size bytes.
func newUDPBatch(n, size int) *udpBatch {
	b := &udpBatch{
		in:    make([]ipv4.Message, n),
		from:  make([]netip.AddrPort, n),
		out:   make([]ipv4.Message, n),
		addrs: make([]net.UDPAddr, n),
		ips:   make([][16]byte, n),
	}
	inBufs := make([][]byte, n)
	outBufs := make([][]byte, n)
	in := make([]byte, n*size)
	out := make([]byte, n*respCap)
	for i := range n {
		inBufs[i] = in[i*size : (i+1)*size : (i+1)*size]
		b.in[i].Buffers = inBufs[i : i+1]
		outBufs[i] = out[i*respCap : i*respCap : (i+1)*respCap]
		b.out[i].Buffers = outBufs[i : i+1]
		b.out[i].Addr = &b.addrs[i]
	}
	return b
}

// newBatch allocates the buffers of a reader goroutine of c for datagrams
// of up to maxSize bytes: batchSize slots, or one where c reads and writes
// singly. A receive buffer has a byte to spare, so that a larger datagram,
// which the kernel cuts to the buffer, is told from one of exactly maxSize
// bytes.
func (c *udpConn) newBatch(maxSize int) *udpBatch {
	if c.batch == nil {
		return newUDPBatch(1, maxSize+1)
	}
	return newUDPBatch(batchSize, maxSize+1)
}

// readBatch reads one or more datagrams into b and returns how many.
func (c *udpConn) readBatch(b *udpBatch) (int, error) {
	if c.batch == nil {
		n, from, err := c.read(b.in[0].Buffers[0])
		if err != nil {
			return 0, err
		}
		b.in[0].N, b.from[0] = n, from
		return 1, nil
	}
	n, err := c.batch.ReadBatch(b.in, 0)
	if err != nil {
		return 0, err
	}
	for i := range n {
		b.from[i], _ = netaddr.AddrPort(b.in[i].Addr) // zero when not IP
	}
	return n, nil
}

// datagram returns the i-th datagram read and its sender, the zero
// AddrPort when it is not an IP address.
func (b *udpBatch) datagram(i int) ([]byte, netip.AddrPort) {
	return b.in[i].Buffers[0][:b.in[i].N], b.from[i]
}

// queue copies resp into the next out slot, to be sent to to by flush.
func (b *udpBatch) queue(resp []byte, to netip.AddrPort) {
	i := b.nout
	b.nout++
	b.out[i].Buffers[0] = append(b.out[i].Buffers[0][:0], resp...)
	a, ip := &b.addrs[i], &b.ips[i]
	if to.Addr().Is4() {
		*(*[4]byte)(ip[:4]) = to.Addr().As4()
		a.IP = ip[:4]
	} else {
		*ip = to.Addr().As16()
		a.IP = ip[:]
	}
	a.Port = int(to.Port())
	a.Zone = to.Addr().Zone()
}

// flush sends the responses queued in b from c, and empties the queue. A
// response that cannot be sent is skipped.
func (s *Server) flush(ctx context.Context, c *udpConn, b *udpBatch) {
	ms := b.out[:b.nout]
	b.nout = 0
	for len(ms) > 0 {
		n, err := c.batch.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// sendmmsg fails only when it could send nothing: the
			// first message is the one that fails.
			to, _ := netaddr.AddrPort(ms[0].Addr)
			s.logWriteError(ctx, to, c.role, err)
			n = 1
		}
		ms = ms[max(n, 1):]
	}
}
