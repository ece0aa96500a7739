package stun

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	pionstun "github.com/pion/stun/v4"
)

// fakeOpts shapes a fakeServer: the NAT it simulates in front of its one
// client, and how the server itself behaves.
type fakeOpts struct {
	// mapping is the simulated NAT's mapping behaviour; "" means no NAT:
	// the server reports the client's real address.
	mapping Mapping
	// filtering is the simulated NAT's or firewall's filtering; "" or
	// EndpointIndependentFiltering lets every answer through.
	filtering Filtering
	// preservePort makes the NAT's first public port the client's port.
	preservePort bool
	// hairpin makes packets sent to the client's public address come back.
	hairpin bool

	noOther      bool // leave out OTHER-ADDRESS (a server without RFC 5780)
	legacy       bool // MAPPED-ADDRESS instead of XOR-MAPPED-ADDRESS
	ignoreChange bool // answer CHANGE-REQUEST from the receiving socket
	rejectChange bool // answer CHANGE-REQUEST with 420 Unknown Attribute
	silentAlt    bool // the alternate IP address never answers
	dropFirst    int  // drop this many requests before answering any
	strays       bool // before each answer, send junk and foreign STUN
}

// fakeServer is a test-only RFC 5780 STUN server on loopback addresses:
// two IP addresses (127.0.0.1 and 127.0.0.2, or ::1 and a second local
// IPv6 address) times two ports X and X+1, four UDP sockets. It answers
// binding requests with XOR-MAPPED-ADDRESS, OTHER-ADDRESS and
// RESPONSE-ORIGIN and honours CHANGE-REQUEST.
//
// In front of its one client it simulates a NAT: mapped addresses are made
// up on a "public" address (127.0.0.3, or the second IPv6 address) with a
// port per destination as the mapping behaviour says, answers that the
// filtering behaviour would drop are not sent, and a forwarder socket on
// the first public address sends what arrives there back to the client
// when hairpinning is on.
type fakeServer struct {
	t      testing.TB
	opts   fakeOpts
	client netip.AddrPort // the client's real address
	addrs  [2][2]netip.AddrPort
	conns  [2][2]*net.UDPConn
	fwd    *net.UDPConn // the hairpin forwarder, on public:ports[""]

	mu         sync.Mutex
	public     netip.Addr
	ports      map[string]uint16       // mapping key -> public port
	sentTo     map[netip.AddrPort]bool // destinations the client used
	sentIP     map[netip.Addr]bool     // their IP addresses
	dropped    int
	hairpinned int
	wg         sync.WaitGroup
}

// newFakeServer starts a fake server for the client socket pc.
func newFakeServer(t testing.TB, pc net.PacketConn, opts fakeOpts) *fakeServer {
	t.Helper()
	client := addrPortOf(pc.LocalAddr())
	ips := [2]netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	public := netip.MustParseAddr("127.0.0.3")
	if client.Addr().Is6() {
		second := secondIPv6(t)
		ips = [2]netip.Addr{netip.IPv6Loopback(), second}
		public = second
	}
	if client.Addr().IsUnspecified() {
		client = netip.AddrPortFrom(ips[0], client.Port())
	}
	s := &fakeServer{
		t: t, opts: opts, client: client, public: public,
		ports:  map[string]uint16{},
		sentTo: map[netip.AddrPort]bool{},
		sentIP: map[netip.Addr]bool{},
	}
	s.listen(ips)
	fport := uint16(0)
	if opts.preservePort {
		fport = client.Port()
	}
	fwd, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(public, fport)))
	if err != nil {
		t.Fatalf("fake NAT forwarder: %v", err)
	}
	s.fwd = fwd
	s.ports[""] = addrPortOf(fwd.LocalAddr()).Port()
	t.Cleanup(s.close)
	for i := range 2 {
		for j := range 2 {
			s.wg.Add(1)
			go s.serve(i, j, s.conns[i][j])
		}
	}
	s.wg.Add(1)
	go s.forward()
	return s
}

// listen binds the four sockets on ips[0..1] x ports X, X+1.
func (s *fakeServer) listen(ips [2]netip.Addr) {
	s.t.Helper()
	for try := 0; try < 50; try++ {
		first, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0], 0)))
		if err != nil {
			s.t.Fatalf("fake server: %v", err)
		}
		x := addrPortOf(first.LocalAddr()).Port()
		if x == 65535 {
			first.Close()
			continue
		}
		s.conns[0][0] = first
		ok := true
		for i := range 2 {
			for j := range 2 {
				a := netip.AddrPortFrom(ips[i], x+uint16(j))
				s.addrs[i][j] = a
				if i == 0 && j == 0 {
					continue
				}
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
				if err != nil {
					ok = false
					continue
				}
				s.conns[i][j] = c
			}
		}
		if ok {
			return
		}
		s.closeConns()
	}
	s.t.Fatal("fake server: no free port pair")
}

func (s *fakeServer) closeConns() {
	for i := range 2 {
		for j := range 2 {
			if s.conns[i][j] != nil {
				s.conns[i][j].Close()
				s.conns[i][j] = nil
			}
		}
	}
}

func (s *fakeServer) close() {
	for i := range 2 {
		for j := range 2 {
			s.conns[i][j].Close()
		}
	}
	s.fwd.Close()
	s.wg.Wait()
}

// primary and other are the addresses a client is told about.
func (s *fakeServer) primary() netip.AddrPort { return s.addrs[0][0] }
func (s *fakeServer) other() netip.AddrPort   { return s.addrs[1][1] }

// publicAddr is the public address of test I.
func (s *fakeServer) publicAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.mapping == "" {
		return s.client
	}
	return netip.AddrPortFrom(s.public, s.ports[""])
}

// mapped returns the client's public address towards dst, allocating a
// port as the mapping behaviour says. Callers hold s.mu.
func (s *fakeServer) mapped(from, dst netip.AddrPort) netip.AddrPort {
	if s.opts.mapping == "" {
		return from
	}
	key := ""
	switch s.opts.mapping {
	case AddressDependentMapping:
		key = dst.Addr().String()
	case AddressAndPortDependentMapping:
		key = dst.String()
	}
	if key != "" && len(s.ports) == 1 {
		// The first destination gets the first port, the one the
		// hairpin forwarder listens on.
		s.ports[key] = s.ports[""]
	}
	p, ok := s.ports[key]
	if !ok {
		p = s.ports[""] + uint16(len(s.ports))*7 + 1
		s.ports[key] = p
	}
	return netip.AddrPortFrom(s.public, p)
}

// admits reports whether the simulated filter lets an answer from src in.
// Callers hold s.mu.
func (s *fakeServer) admits(src netip.AddrPort) bool {
	switch s.opts.filtering {
	case AddressDependentFiltering:
		return s.sentIP[src.Addr()]
	case AddressAndPortDependentFiltering:
		return s.sentTo[src]
	}
	return true
}

func (s *fakeServer) serve(i, j int, conn *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		req := &pionstun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != pionstun.BindingRequest {
			continue
		}
		s.answer(i, j, from, req)
	}
}

// answer handles one binding request that arrived at socket [i][j].
func (s *fakeServer) answer(i, j int, from netip.AddrPort, req *pionstun.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst := s.addrs[i][j]
	s.sentTo[dst], s.sentIP[dst.Addr()] = true, true
	if s.dropped < s.opts.dropFirst {
		s.dropped++
		return
	}
	if s.opts.silentAlt && i == 1 {
		return
	}
	var change ChangeRequest
	hasChange := change.GetFrom(req) == nil
	setters := []pionstun.Setter{pionstun.NewTransactionIDSetter(req.TransactionID)}
	if hasChange && s.opts.rejectChange {
		setters = append(setters, pionstun.BindingError, pionstun.CodeUnknownAttribute, pionstun.Fingerprint)
		s.send(s.conns[i][j], from, setters...)
		return
	}
	ri, rj := i, j
	if hasChange && !s.opts.ignoreChange {
		if change.IP {
			ri = 1 - i
		}
		if change.Port {
			rj = 1 - j
		}
	}
	src := s.addrs[ri][rj]
	if !s.admits(src) {
		return
	}
	m := s.mapped(from, dst)
	setters = append(setters, pionstun.BindingSuccess)
	if s.opts.legacy {
		setters = append(setters, &pionstun.MappedAddress{IP: m.Addr().AsSlice(), Port: int(m.Port())})
	} else {
		setters = append(setters, &pionstun.XORMappedAddress{IP: m.Addr().AsSlice(), Port: int(m.Port())})
	}
	if !s.opts.noOther {
		o := s.addrs[1-i][1-j]
		setters = append(setters, &pionstun.OtherAddress{IP: o.Addr().AsSlice(), Port: int(o.Port())})
	}
	setters = append(setters,
		&pionstun.ResponseOrigin{IP: src.Addr().AsSlice(), Port: int(src.Port())},
		pionstun.NewSoftware("punch fake server"), pionstun.Fingerprint)
	if s.opts.strays {
		s.sendStrays(s.conns[ri][rj], from)
	}
	s.send(s.conns[ri][rj], from, setters...)
}

func (s *fakeServer) send(conn *net.UDPConn, to netip.AddrPort, setters ...pionstun.Setter) {
	m, err := pionstun.Build(setters...)
	if err != nil {
		s.t.Errorf("fake server: building answer: %v", err)
		return
	}
	_, _ = conn.WriteToUDPAddrPort(m.Raw, to)
}

// sendStrays sends a non-STUN packet and a success response to some other
// transaction, both of which the client must ignore.
func (s *fakeServer) sendStrays(conn *net.UDPConn, to netip.AddrPort) {
	_, _ = conn.WriteToUDPAddrPort([]byte("not a STUN packet at all, just noise"), to)
	s.send(conn, to, pionstun.TransactionID, pionstun.BindingSuccess,
		&pionstun.XORMappedAddress{IP: net.IPv4(192, 0, 2, 99), Port: 9})
}

// forward is the hairpin path: whatever the client sends to its own public
// address comes back to it, if hairpinning is on.
func (s *fakeServer) forward() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := s.fwd.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if !s.opts.hairpin {
			continue
		}
		s.mu.Lock()
		s.hairpinned++
		s.mu.Unlock()
		_, _ = s.fwd.WriteToUDPAddrPort(buf[:n], s.client)
	}
}

// secondIPv6 returns a local IPv6 address other than ::1 (and not
// link-local), or skips the test.
func secondIPv6(t testing.TB) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("no interface addresses: %v", err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if ok && ip.Is6() && !ip.Is4In6() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	t.Skip("this host has no second IPv6 address for an RFC 5780 fake server")
	return netip.Addr{}
}

// blackhole is a UDP socket that reads and drops everything: a server that
// never answers.
func blackhole(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return addrPortOf(c.LocalAddr())
}

// listenUDP opens a client socket and closes it when the test ends.
func listenUDP(t testing.TB, addr string) net.PacketConn {
	t.Helper()
	network := "udp"
	if strings.HasPrefix(addr, "0.0.0.0:") {
		network = "udp4" // else Go opens a dual-stack IPv6 socket
	}
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}
