package tcppunch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// maxProbeTTL bounds the hop count ProbeHops looks at.
const maxProbeTTL = 8

// ProbeHops returns the TTL for a hole-opening SYN toward dst: the smallest
// TTL at which a packet has left every NAT in front of this host, measured
// as the first hop whose ICMP time exceeded comes from a public address.
// A host with a public address of its own sits behind a stateful firewall
// at best, whose state is made only for packets it forwards, so there the
// TTL is one more than the first public hop.
// It sends one UDP probe per TTL from 1 to 8 (to dst's traceroute ports,
// 33434 and up) and reads the ICMP errors from the socket's error queue.
// The socket is created on the calling goroutine's thread. When no public
// hop answers within the wait, it returns 2 (one NAT, then one router)
// and an error saying so.
func ProbeHops(ctx context.Context, dst netip.Addr, wait time.Duration) (int, error) {
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	is6 := dst.Is6() && !dst.Is4In6()
	family, level, recverr, ttlOpt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_RECVERR, unix.IP_TTL
	if is6 {
		family, level, recverr, ttlOpt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.IPV6_UNICAST_HOPS
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 2, err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, level, recverr, 1); err != nil {
		return 2, err
	}
	for ttl := 1; ttl <= maxProbeTTL; ttl++ {
		unix.SetsockoptInt(fd, level, ttlOpt, ttl)
		var payload [4]byte
		binary.BigEndian.PutUint32(payload[:], uint32(ttl))
		to := sockaddr(netip.AddrPortFrom(dst.Unmap(), uint16(33433+ttl)))
		// A send may report the ICMP error an earlier probe drew (it is
		// in the error queue as well): send again.
		err := unix.Sendto(fd, payload[:], 0, to)
		for try := 0; try < 3 && isICMPError(err); try++ {
			err = unix.Sendto(fd, payload[:], 0, to)
		}
		if err != nil {
			return 2, fmt.Errorf("tcppunch: probing hops to %v: %w", dst, err)
		}
	}
	best := 0
	deadline := time.Now().Add(wait)
	buf, oob := make([]byte, 64), make([]byte, 512)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLERR}}
		unix.Poll(pfd, 20)
		for {
			n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE)
			if err != nil {
				break
			}
			ttl, from, ok := parseProbeError(buf[:n], oob[:oobn], is6)
			if !ok || ttl < 1 || ttl > maxProbeTTL {
				continue
			}
			if isPublic(from) && (best == 0 || ttl < best) {
				best = ttl
			}
		}
		// Done once a public hop answered: hops nearer than it answer
		// sooner, so their answers (if any) are already in.
		if best > 0 {
			break
		}
	}
	if best == 0 {
		return 2, errors.New("tcppunch: no router with a public address answered the hop probes; assuming one NAT")
	}
	if src, err := sourceAddr(family, dst); err == nil && isPublic(src) {
		best++
	}
	return best, nil
}

// sourceAddr returns the local address the kernel picks to reach dst.
func sourceAddr(family int, dst netip.Addr) (netip.Addr, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sockaddr(netip.AddrPortFrom(dst.Unmap(), 9))); err != nil {
		return netip.Addr{}, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, err
	}
	return addrPort(sa).Addr(), nil
}

// parseProbeError extracts the probe's TTL (its payload) and the address of
// the router that reported the error from an error-queue message.
func parseProbeError(payload, oob []byte, is6 bool) (int, netip.Addr, bool) {
	if len(payload) < 4 {
		return 0, netip.Addr{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, netip.Addr{}, false
	}
	for _, m := range msgs {
		// struct sock_extended_err (16 bytes), then the offender's
		// sockaddr.
		d := m.Data
		if len(d) < 16+8 {
			continue
		}
		origin, typ := d[4], d[5]
		var from netip.Addr
		switch {
		case !is6 && origin == unix.SO_EE_ORIGIN_ICMP && typ == 11 && len(d) >= 16+8:
			from = netip.AddrFrom4([4]byte(d[16+4 : 16+8]))
		case is6 && origin == unix.SO_EE_ORIGIN_ICMP6 && typ == 3 && len(d) >= 16+24:
			from = netip.AddrFrom16([16]byte(d[16+8 : 16+24])).Unmap()
		default:
			continue
		}
		return int(binary.BigEndian.Uint32(payload)), from, true
	}
	return 0, netip.Addr{}, false
}

func isICMPError(err error) bool {
	return errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.ECONNREFUSED)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isPublic reports whether a router address lies beyond every NAT: not
// private, shared (carrier-grade NAT), loopback or link-local.
func isPublic(a netip.Addr) bool {
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}
