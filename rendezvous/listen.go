package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens a TCP listener for Serve on port of each of ips: IPv4
// addresses get IPv4-only sockets and IPv6 addresses IPv6-only ones. With
// no ips it listens on every address, 0.0.0.0 and :: (the latter skipped
// when the host has no IPv6). Port 0 picks a free port per listener. It
// closes whatever it opened when one listener cannot be opened.
//
// The listeners do not turn on TCP keepalives for accepted connections:
// no keepalive probe would come within the default WaitTimeout, and the
// setsockopt calls cost a measurable share of a pairing. They accept TCP
// Fast Open (a request in the SYN, a round trip less for clients that
// connected before) where the host allows it: the server bit of sysctl
// net.ipv4.tcp_fastopen (2) must be set; see [FastOpen].
func Listen(ctx context.Context, ips []netip.Addr, port int) ([]net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("rendezvous: port %d out of range 0-65535", port)
	}
	defaults := len(ips) == 0
	if defaults {
		ips = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var seen []netip.Addr
	lc := net.ListenConfig{KeepAlive: -1, Control: fastOpenListener}
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

// fastOpenQueue bounds the connections whose SYN carried data and whose
// handshake is not complete yet, per listener.
const fastOpenQueue = 4096

// fastOpenListener turns TCP Fast Open on for a listening socket, if the
// kernel knows it.
func fastOpenListener(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, fastOpenQueue)
	})
}

// FastOpen reports whether this host's network namespace lets listeners
// accept TCP Fast Open (the server bit of net.ipv4.tcp_fastopen), and
// whether that could be read.
func FastOpen() (enabled, known bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_fastopen")
	if err != nil {
		return false, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, false
	}
	return v&2 != 0, true
}
