package rendezvous

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/punchkit/punch/internal/netaddr"
)

// observedAddr is a client's public address: the connection's remote
// address, IPv4-mapped addresses unmapped, zones dropped.
func observedAddr(a net.Addr) (netip.AddrPort, bool) {
	ap, ok := netaddr.AddrPort(a)
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()), ok
}

// helloBuf is scratch for reading what a client sends first.
type helloBuf [len(Hello) + MaxRequestSize]byte

// hello is what a client sends first.
type hello struct {
	v1  bool
	key [KeySize]byte // legacy
	req Request       // version 1
}

// Reasons a handshake fails, besides I/O errors.
var (
	errLegacyLong = errors.New("more than 32 bytes before the answer")
	errTooLong    = fmt.Errorf("request line longer than %d bytes", MaxRequestSize)
	errTrailing   = errors.New("data after the request line")
)

// readHello reads a client's key, or its hello and request line. It
// reads no further than the request needs, and reports v1 as soon as it
// has seen the hello, even when it fails afterwards.
func readHello(r io.Reader, buf *helloBuf) (hello, error) {
	var h hello
	n, err := io.ReadAtLeast(r, buf[:], len(Hello))
	if err != nil {
		return h, err
	}
	if string(buf[:len(Hello)]) != Hello {
		if n < KeySize {
			m, err := io.ReadAtLeast(r, buf[n:], KeySize-n)
			n += m
			if err != nil {
				return h, err
			}
		}
		if n > KeySize {
			return h, errLegacyLong
		}
		copy(h.key[:], buf[:KeySize])
		return h, nil
	}
	h.v1 = true
	start := len(Hello)
	for scanned := start; ; {
		if i := bytes.IndexByte(buf[scanned:n], '\n'); i >= 0 {
			end := scanned + i
			if end+1 != n {
				return h, errTrailing
			}
			h.req, err = parseRequest(buf[start:end])
			return h, err
		}
		if n == len(buf) {
			return h, errTooLong
		}
		scanned = n
		m, err := r.Read(buf[n:])
		n += m
		if err != nil && m == 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return h, err
		}
	}
}
