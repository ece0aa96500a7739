package tcppunch

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReuseControl sets SO_REUSEADDR and SO_REUSEPORT on a socket, for
// net.Dialer.Control and net.ListenConfig.Control, so that the port that
// talks to the rendezvous server can also listen and punch.
func ReuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = setReuse(int(fd)) })
	if err != nil {
		return err
	}
	return serr
}

// FastOpenControl is a net.Dialer Control function for a connection to a
// server: SO_REUSEADDR and SO_REUSEPORT as [ReuseControl], and TCP Fast
// Open (TCP_FASTOPEN_CONNECT), so that once the kernel holds the server's
// cookie from an earlier connection, the first write rides in the SYN and
// the answer comes one round trip sooner. Without a cookie, or where the
// kernel or the path refuses it, the connection is an ordinary one.
func FastOpenControl(network, address string, c syscall.RawConn) error {
	if err := ReuseControl(network, address, c); err != nil {
		return err
	}
	return c.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
	})
}

func setReuse(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// setTTL sets the TTL (IPv4) or unicast hop limit (IPv6) of a socket.
func setTTL(fd int, is6 bool, ttl int) error {
	if is6 {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl)
}

// setMinTTL sets the minimum TTL (IPv4) or hop count (IPv6) of packets the
// socket accepts; 0 turns the check off.
func setMinTTL(fd int, is6 bool, ttl int) error {
	if is6 {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, ttl)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MINTTL, ttl)
}

// sockaddr converts an address to the form the socket calls take.
func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// newSocket returns a non-blocking TCP socket of a's family bound to a with
// SO_REUSEADDR and SO_REUSEPORT.
func newSocket(local netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if local.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := setReuse(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err := unix.Bind(fd, sockaddr(local)); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// tcpState returns the kernel's TCP state of a socket (unix.BPF_TCP_*
// values: 1 established, 2 SYN-SENT, 3 SYN-RECV, 7 closed, 8 close-wait).
func tcpState(fd int) (uint8, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, err
	}
	return info.State, nil
}

const (
	stateEstablished = 1
	stateSynSent     = 2
	stateSynRecv     = 3
	stateCloseWait   = 8
)
