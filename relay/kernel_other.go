//go:build !linux

package relay

import (
	"errors"
	"net/netip"
)

// kernel forwarding is Linux's (nftables).
type kernel struct{}

type sideCount struct{ in, out uint64 }

func newKernel(netip.AddrPort) (*kernel, error) {
	return nil, errors.New("kernel forwarding needs Linux")
}

func (k *kernel) add(a, b netip.AddrPort) error                   { return nil }
func (k *kernel) remove(addrs ...netip.AddrPort) error            { return nil }
func (k *kernel) counters() (map[netip.AddrPort]sideCount, error) { return nil, nil }
func (k *kernel) close() error                                    { return nil }
