// Package udpbatch reads and writes UDP datagrams in batches: on Linux up
// to Size datagrams with one recvmmsg or sendmmsg system call, through
// x/net's ReadBatch and WriteBatch; elsewhere, and for a net.PacketConn
// that is not a *net.UDPConn, the same calls move one datagram at a time
// with the socket's own methods. The STUN server and the pair relay serve
// their sockets with it.
//
// With Offload, a Conn also moves many datagrams of one sender as one
// buffer: the kernel coalesces the datagrams of a flow on receive (UDP
// GRO) and segments a buffer on send (UDP GSO), so that a relay forwards
// a burst of a tunnel's packets with one copy and a share of two system
// calls.
//
// A Batch holds the buffers of one reader goroutine, allocated once: the
// datagrams read and the datagrams queued to be sent. x/net allocates the
// source address of each datagram it receives (a *net.UDPAddr and its IP,
// about 60 bytes); nothing else here allocates once the buffers exist.
package udpbatch

import (
	"errors"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"

	"github.com/punchkit/punch/internal/netaddr"
)

// Size is the largest number of datagrams one system call reads or
// writes.
const Size = 32

// batchConn reads and writes datagrams in batches. *ipv4.PacketConn and
// *ipv6.PacketConn implement it: their Message types are the same type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Conn is a UDP socket read and written in batches where the platform
// can.
type Conn struct {
	pc      net.PacketConn
	fast    *net.UDPConn // pc, when it is a *net.UDPConn
	batch   batchConn    // fast in batches, where the platform can
	offload bool         // GRO and GSO on, see Offload
}

// maxCoalesced is the largest buffer of coalesced datagrams: the largest
// UDP payload.
const maxCoalesced = 1<<16 - 1

// New returns a Conn on pc. It does not take pc over: closing pc ends the
// Conn's reads and writes.
func New(pc net.PacketConn) *Conn {
	c := &Conn{pc: pc}
	if c.fast, _ = pc.(*net.UDPConn); c.fast != nil {
		c.batch = newBatchConn(c.fast)
	}
	return c
}

// Batched reports whether c reads and writes more than one datagram per
// system call.
func (c *Conn) Batched() bool { return c.batch != nil }

// Offload turns on the coalescing of received datagrams (UDP GRO) and
// the segmentation of queued ones (UDP GSO) where the platform can (Linux
// 5.0 and later, with batching), and reports whether they are on. Call it
// before NewBatch, whose buffers grow to hold a coalesced buffer; then
// see Batch.Segment and QueueSegments.
func (c *Conn) Offload() bool {
	c.offload = c.batch != nil && enableOffload(c.fast)
	return c.offload
}

// read reads one datagram into b, without batching.
func (c *Conn) read(b []byte) (int, netip.AddrPort, error) {
	if c.fast != nil {
		n, from, err := c.fast.ReadFromUDPAddrPort(b)
		return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
	}
	n, addr, err := c.pc.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	ap, _ := netaddr.AddrPort(addr) // zero when not IP: dropped by the caller
	return n, ap, nil
}

// Write sends one datagram to to at once.
func (c *Conn) Write(b []byte, to netip.AddrPort) error {
	if c.fast != nil {
		_, err := c.fast.WriteToUDPAddrPort(b, to)
		return err
	}
	_, err := c.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// Batch holds the buffers of one reader goroutine: datagrams read and
// datagrams queued.
type Batch struct {
	// in are the receive slots. After a read, in[i].N is the size of
	// the datagram, from[i] its sender and seg[i] the size of the
	// datagrams coalesced in it, or 0.
	in   []ipv4.Message
	from []netip.AddrPort
	seg  []int

	// out[:nout] are the queued datagrams: out[i].Buffers[0] holds the
	// datagram and out[i].Addr is &addrs[i], whose IP is backed by
	// ips[i]; to[i] is the same address, and oseg[i] the size of the
	// segments of a coalesced datagram, or 0.
	out   []ipv4.Message
	nout  int
	to    []netip.AddrPort
	oseg  []int
	addrs []net.UDPAddr
	ips   [][16]byte
}

// NewBatch allocates the buffers of a reader goroutine of c: Size slots,
// or one where c reads and writes singly. A receive slot holds a datagram
// of up to maxSize bytes, with a byte to spare, so that a larger datagram,
// which the kernel cuts to the buffer, is told from one of exactly maxSize
// bytes (see Datagram); with Offload, it holds the largest coalesced
// buffer. A send slot starts with room for outSize bytes and grows, once,
// for a larger datagram.
func (c *Conn) NewBatch(maxSize, outSize int) *Batch {
	n := Size
	if c.batch == nil {
		n = 1
	}
	size := maxSize + 1
	if c.offload {
		size = max(size, maxCoalesced)
	}
	b := &Batch{
		in:    make([]ipv4.Message, n),
		from:  make([]netip.AddrPort, n),
		seg:   make([]int, n),
		out:   make([]ipv4.Message, n),
		to:    make([]netip.AddrPort, n),
		oseg:  make([]int, n),
		addrs: make([]net.UDPAddr, n),
		ips:   make([][16]byte, n),
	}
	inBufs := make([][]byte, n)
	outBufs := make([][]byte, n)
	in := make([]byte, n*size)
	out := make([]byte, n*outSize)
	for i := range n {
		inBufs[i] = in[i*size : (i+1)*size : (i+1)*size]
		b.in[i].Buffers = inBufs[i : i+1]
		outBufs[i] = out[i*outSize : i*outSize : (i+1)*outSize]
		b.out[i].Buffers = outBufs[i : i+1]
		b.out[i].Addr = &b.addrs[i]
		if c.offload {
			b.in[i].OOB = make([]byte, oobSize)
			b.out[i].OOB = make([]byte, 0, oobSize)
		}
	}
	return b
}

// Read reads one or more datagrams into b and returns how many. It
// blocks until at least one arrives.
func (c *Conn) Read(b *Batch) (int, error) {
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
		b.seg[i] = 0
		if c.offload {
			b.seg[i] = segmentOf(b.in[i].OOB[:b.in[i].NN])
		}
	}
	return n, nil
}

// Datagram returns the i-th datagram read and its sender, the zero
// AddrPort when it is not an IP address. A datagram longer than the
// batch's maxSize comes back maxSize+1 bytes long, cut.
func (b *Batch) Datagram(i int) ([]byte, netip.AddrPort) {
	return b.in[i].Buffers[0][:b.in[i].N], b.from[i]
}

// Segment returns the size of the datagrams the kernel coalesced into the
// i-th datagram read, 0 if it is one datagram: every datagram in it has
// that size but the last, which may be shorter. Only with Offload.
func (b *Batch) Segment(i int) int { return b.seg[i] }

// Full reports whether the send queue is full: Flush it before the next
// Queue.
func (b *Batch) Full() bool { return b.nout == len(b.out) }

// Queue copies p into the next send slot, to be sent to to by Flush. The
// queue holds as many datagrams as the batch has slots (Full).
func (b *Batch) Queue(p []byte, to netip.AddrPort) { b.QueueSegments(p, to, 0) }

// QueueSegments queues p as Queue does, as datagrams of seg bytes each
// (the last may be shorter) when seg is not 0: a coalesced buffer read
// with Offload, passed on as it came (Batch.Segment). Without Offload, seg
// must be 0.
func (b *Batch) QueueSegments(p []byte, to netip.AddrPort, seg int) {
	i := b.nout
	b.nout++
	b.out[i].Buffers[0] = append(b.out[i].Buffers[0][:0], p...)
	b.out[i].OOB, b.oseg[i] = b.out[i].OOB[:0], 0
	if seg > 0 && len(p) > seg {
		b.out[i].OOB, b.oseg[i] = appendSegment(b.out[i].OOB, seg), seg
	}
	b.to[i] = to
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

// Flush sends the datagrams queued in b from c and empties the queue. A
// datagram that cannot be sent is skipped and reported to failed, if not
// nil. Flush returns net.ErrClosed, and drops the rest, once c is closed.
func (c *Conn) Flush(b *Batch, failed func(to netip.AddrPort, err error)) error {
	ms, to, seg := b.out[:b.nout], b.to[:b.nout], b.oseg[:b.nout]
	b.nout = 0
	for len(ms) > 0 {
		var (
			n   int
			err error
		)
		if c.batch != nil {
			n, err = c.batch.WriteBatch(ms, 0)
		} else {
			err = c.Write(ms[0].Buffers[0], to[0])
			n = 1
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// sendmmsg fails only when it could send nothing: the
			// first message is the one that fails. A coalesced one
			// (a device without checksum offload refuses GSO with
			// EIO) goes again as single datagrams.
			if seg[0] > 0 {
				err = c.writeSegments(ms[0].Buffers[0], to[0], seg[0])
			}
			if err != nil && failed != nil {
				failed(to[0], err)
			}
			n = 1
		}
		n = max(n, 1)
		ms, to, seg = ms[n:], to[n:], seg[n:]
	}
	return nil
}

// writeSegments sends p as datagrams of seg bytes, singly.
func (c *Conn) writeSegments(p []byte, to netip.AddrPort, seg int) error {
	if seg <= 0 {
		return c.Write(p, to)
	}
	for len(p) > 0 {
		k := min(seg, len(p))
		if err := c.Write(p[:k], to); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}
