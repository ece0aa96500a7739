package stunserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// ListenConfig says which sockets Listen opens. The zero value serves port
// 3478 on every address of the host, UDP and TCP, IPv4 and (where the host
// has it) IPv6.
type ListenConfig struct {
	// IPs are the primary addresses to serve. Default: 0.0.0.0 and ::
	// (the latter skipped when the host cannot open IPv6 sockets).
	IPs []netip.Addr

	// AltIPs are alternate addresses; each turns on RFC 5780 for the one
	// entry of IPs of its family, which must be a specific address: the
	// pair is then served on Port and AltPort, four UDP sockets. Default:
	// none.
	AltIPs []netip.Addr

	// Port is the STUN port, 1 to 65535. Default: 3478.
	Port int

	// AltPort is the second port of RFC 5780 groups. Default: Port+1.
	AltPort int

	// NoTCP turns TCP off. Default: false, TCP is served on every address
	// and port UDP is.
	NoTCP bool
}

// Sockets are the open sockets Listen returns, for Serve.
type Sockets struct {
	// UDP holds one group per primary IP, for ServeUDP.
	UDP []UDPGroup
	// TCP holds the TCP listeners, for ServeTCP.
	TCP []net.Listener
}

// UDPGroup is the sockets of one ServeUDP call.
type UDPGroup []UDPSocket

// Close closes every socket. Serve does it itself; call Close only for
// Sockets that are not served.
func (ss *Sockets) Close() error {
	var errs []error
	for _, g := range ss.UDP {
		for _, sk := range g {
			errs = append(errs, sk.Conn.Close())
		}
	}
	for _, ln := range ss.TCP {
		errs = append(errs, ln.Close())
	}
	return errors.Join(errs...)
}

// member is one address to open, with its role.
type member struct {
	addr netip.AddrPort
	role Role
}

// plannedGroup is the addresses of one UDP group; optional groups (the
// default IPv6 one) are skipped when the host cannot open them.
type plannedGroup struct {
	members  []member
	optional bool
}

// plan validates lc and lists the groups to open.
func (lc *ListenConfig) plan() ([]plannedGroup, error) {
	port, altPort := lc.Port, lc.AltPort
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range 1-65535", ErrBadConfig, lc.Port)
	}
	ips := make([]netip.Addr, 0, len(lc.IPs))
	for _, ip := range lc.IPs {
		if !ip.IsValid() {
			return nil, fmt.Errorf("%w: invalid IP address", ErrBadConfig)
		}
		ip = ip.Unmap()
		if slices.Contains(ips, ip) {
			return nil, fmt.Errorf("%w: IP %v given twice", ErrBadConfig, ip)
		}
		ips = append(ips, ip)
	}
	defaults := len(ips) == 0
	if defaults {
		ips = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	alts := make(map[netip.Addr]netip.Addr) // primary -> alternate
	if len(lc.AltIPs) > 0 {
		if altPort == 0 {
			altPort = port + 1
		}
		if altPort < 1 || altPort > 65535 {
			return nil, fmt.Errorf("%w: alternate port %d out of range 1-65535", ErrBadConfig, altPort)
		}
		if altPort == port {
			return nil, fmt.Errorf("%w: alternate port %d equals the port", ErrBadConfig, altPort)
		}
	}
	for _, alt := range lc.AltIPs {
		if !alt.IsValid() || alt.Unmap().IsUnspecified() {
			return nil, fmt.Errorf("%w: alternate IP %v must be a specific address", ErrBadConfig, alt)
		}
		alt = alt.Unmap()
		var primary []netip.Addr
		for _, ip := range ips {
			if ip == alt {
				return nil, fmt.Errorf("%w: alternate IP %v is also a primary IP", ErrBadConfig, alt)
			}
			if ip.Is4() == alt.Is4() {
				primary = append(primary, ip)
			}
		}
		if len(primary) != 1 || primary[0].IsUnspecified() {
			return nil, fmt.Errorf("%w: alternate IP %v needs exactly one specific primary IP of its family", ErrBadConfig, alt)
		}
		if _, dup := alts[primary[0]]; dup {
			return nil, fmt.Errorf("%w: two alternate IPs for %v", ErrBadConfig, primary[0])
		}
		alts[primary[0]] = alt
	}
	var groups []plannedGroup
	for _, ip := range ips {
		g := plannedGroup{optional: defaults && ip.Is6()}
		g.members = append(g.members, member{netip.AddrPortFrom(ip, uint16(port)), RolePrimary})
		if alt, ok := alts[ip]; ok {
			g.members = append(g.members,
				member{netip.AddrPortFrom(ip, uint16(altPort)), RoleAltPort},
				member{netip.AddrPortFrom(alt, uint16(port)), RoleAltIP},
				member{netip.AddrPortFrom(alt, uint16(altPort)), RoleAltIPPort},
			)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// Listen opens the sockets lc describes: one UDP group per primary IP (four
// sockets where an alternate IP turns on RFC 5780), and a TCP listener on
// each address unless lc.NoTCP. IPv4 addresses get IPv4-only sockets and
// IPv6 addresses IPv6-only ones. lc may be nil. It returns an error wrapping
// ErrBadConfig for an impossible configuration, and closes whatever it
// opened when a socket cannot be opened.
func Listen(ctx context.Context, lc *ListenConfig) (*Sockets, error) {
	if lc == nil {
		lc = &ListenConfig{}
	}
	groups, err := lc.plan()
	if err != nil {
		return nil, err
	}
	ss := &Sockets{}
	for _, pg := range groups {
		g, lns, err := openGroup(ctx, pg.members, !lc.NoTCP)
		if err != nil {
			if pg.optional && !errors.Is(err, syscall.EADDRINUSE) {
				continue // no IPv6 on this host
			}
			ss.Close()
			return nil, err
		}
		ss.UDP = append(ss.UDP, g)
		ss.TCP = append(ss.TCP, lns...)
	}
	return ss, nil
}

// openGroup opens the UDP sockets (and TCP listeners) of one group, or
// nothing.
func openGroup(ctx context.Context, members []member, withTCP bool) (UDPGroup, []net.Listener, error) {
	var (
		lc  net.ListenConfig
		g   UDPGroup
		lns []net.Listener
	)
	fail := func(err error) (UDPGroup, []net.Listener, error) {
		(&Sockets{UDP: []UDPGroup{g}, TCP: lns}).Close()
		return nil, nil, err
	}
	for _, m := range members {
		suffix := "6"
		if m.addr.Addr().Is4() {
			suffix = "4"
		}
		pc, err := lc.ListenPacket(ctx, "udp"+suffix, m.addr.String())
		if err != nil {
			return fail(fmt.Errorf("stunserver: %w", err))
		}
		g = append(g, UDPSocket{Conn: pc, Role: m.role})
		if !withTCP {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp"+suffix, m.addr.String())
		if err != nil {
			return fail(fmt.Errorf("stunserver: %w", err))
		}
		lns = append(lns, ln)
	}
	return g, lns, nil
}

// Serve serves all of ss, each UDP group with ServeUDP and each listener
// with ServeTCP, until ctx is cancelled, Close is called or one of them
// fails, which stops the others. It closes every socket of ss and returns
// the first error: ctx.Err(), ErrServerClosed or the failure.
func (s *Server) Serve(ctx context.Context, ss *Sockets) error {
	if ss == nil || len(ss.UDP)+len(ss.TCP) == 0 {
		return fmt.Errorf("%w: no sockets to serve", ErrBadConfig)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	run := func(serve func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := serve()
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			cancel()
		}()
	}
	for _, g := range ss.UDP {
		run(func() error { return s.ServeUDP(ctx, g...) })
	}
	for _, ln := range ss.TCP {
		run(func() error { return s.ServeTCP(ctx, ln) })
	}
	wg.Wait()
	return first
}

// ListenAndServe opens the sockets lc describes with Listen and serves them
// with Serve.
func (s *Server) ListenAndServe(ctx context.Context, lc *ListenConfig) error {
	ss, err := Listen(ctx, lc)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ss)
}
