package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
)

// Listen opens a TCP listener for Serve on port of each of ips: IPv4
// addresses get IPv4-only sockets and IPv6 addresses IPv6-only ones. With
// no ips it listens on every address, 0.0.0.0 and :: (the latter skipped
// when the host has no IPv6). Port 0 picks a free port per listener. It
// closes whatever it opened when one listener cannot be opened.
//
// The listeners do not turn on TCP keepalives for accepted connections:
// no keepalive probe would come within the default WaitTimeout, and the
// setsockopt calls cost a measurable share of a pairing.
func Listen(ctx context.Context, ips []netip.Addr, port int) ([]net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("rendezvous: port %d out of range 0-65535", port)
	}
	defaults := len(ips) == 0
	if defaults {
		ips = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var seen []netip.Addr
	lc := net.ListenConfig{KeepAlive: -1}
	var lns []net.Listener
	for _, ip := range ips {
		if !ip.IsValid() {
			closeAll(lns)
			return nil, errors.New("rendezvous: invalid IP address")
		}
		ip = ip.Unmap()
		if slices.Contains(seen, ip) {
			continue
		}
		seen = append(seen, ip)
		network := "tcp6"
		if ip.Is4() {
			network = "tcp4"
		}
		ln, err := lc.Listen(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err != nil {
			if defaults && ip.Is6() && !errors.Is(err, syscall.EADDRINUSE) {
				continue // no IPv6 on this host
			}
			closeAll(lns)
			return nil, fmt.Errorf("rendezvous: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
