package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
	"github.com/punchkit/punch/internal/sockbuf"
	"github.com/punchkit/punch/internal/udpbatch"
)

// PairServer is the pair relay (see pair.go and docs/relay.md) on one UDP
// socket. One goroutine serves it, reading and writing in batches
// (recvmmsg and sendmmsg on Linux) of buffers that each hold the datagrams
// the kernel coalesced from one sender (UDP GRO) and passes on as such
// (UDP GSO): a relayed datagram costs the relay a share of two system
// calls, not the four of a datagram between two TURN allocations.
type PairServer struct {
	cfg  PairConfig
	log  *slog.Logger
	pc   net.PacketConn
	io   *udpbatch.Conn
	addr netip.AddrPort
	done chan struct{}
	once sync.Once

	secret [32]byte // keys the cookies

	// Owned by the serving goroutine.
	pairs     map[string]*pair
	peers     map[netip.AddrPort]*member
	now       time.Time // of the current batch
	forwarded int       // pairs the kernel forwards (whose fwd is set)

	// Kernel forwarding (PairConfig.Kernel), nil k when off: the serving
	// goroutine asks kernelLoop to add and remove pairs (kops), and reads
	// the counters it polls (kcounts).
	k       *kernel
	kops    chan kernelOp
	kcounts chan map[netip.AddrPort]sideCount
	kdone   chan struct{}

	mu      sync.Mutex // guards the figures below, for Stats
	npairs  int
	nkernel int
	relayed uint64
}

// kernelOp adds or removes a pair's kernel forwarding.
type kernelOp struct {
	add  bool
	a, b netip.AddrPort
}

// pair is the state of one pair: the addresses of its two sides.
type pair struct {
	username string
	sides    [2]member
	last     time.Time // of the last datagram or hello from either side

	fwd       [2]netip.AddrPort // the sides the kernel forwards, if it does
	counts    [2]sideCount      // their counters at the last poll
	kernelOff bool              // forwarded datagrams did not leave the host
}

// member is one side of a pair.
type member struct {
	pair *pair
	side byte
	addr netip.AddrPort // invalid until the side joins
	seq  uint64         // of the hello that bound addr
}

// other returns the address of the other side, invalid if it has not
// joined.
func (m *member) other() netip.AddrPort { return m.pair.sides[1-m.side].addr }

// NewPairServer starts a pair relay on pc, a UDP socket, configured by cfg
// (which may be nil). It takes pc over and serves it at once, until Close.
func NewPairServer(pc net.PacketConn, cfg *PairConfig) (*PairServer, error) {
	c := cfg.withDefaults()
	addr, ok := netaddr.AddrPort(pc.LocalAddr())
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("%w: socket address %v is not an IP address", ErrBadConfig, pc.LocalAddr())
	}
	sockbuf.Set(pc, c.SocketBuffer, c.Logger)
	s := &PairServer{
		cfg:   c,
		log:   c.Logger,
		pc:    pc,
		io:    udpbatch.New(pc),
		addr:  addr,
		done:  make(chan struct{}),
		pairs: make(map[string]*pair),
		peers: make(map[netip.AddrPort]*member),
	}
	rand.Read(s.secret[:])
	// A tunnel's packets arrive in bursts of one size from one sender:
	// taken and passed on whole, they cost one buffer each.
	if !s.io.Offload() {
		s.log.Debug("relay: pair relay without UDP GRO/GSO", "addr", addr)
	}
	if c.Kernel {
		var err error
		if s.k, err = newKernel(addr); err != nil {
			s.log.Info("relay: the pair relay copies datagrams itself: no kernel forwarding", "addr", addr, "why", err)
		} else {
			s.kops = make(chan kernelOp, 4096)
			s.kcounts = make(chan map[netip.AddrPort]sideCount, 1)
			s.kdone = make(chan struct{})
			go s.kernelLoop()
		}
	}
	go s.serve()
	return s, nil
}

// Addr returns the address the relay serves.
func (s *PairServer) Addr() netip.AddrPort { return s.addr }

// Close stops the relay and closes its socket; it waits for the serving
// goroutine to end, and for the kernel's forwarding to be removed.
func (s *PairServer) Close() error {
	s.once.Do(func() { s.pc.Close() })
	<-s.done
	if s.k != nil {
		<-s.kdone
	}
	return nil
}

// PairStats are a PairServer's figures.
type PairStats struct {
	Pairs   int    // pairs held now
	Kernel  int    // of which the kernel forwards (PairConfig.Kernel)
	Relayed uint64 // datagrams the relay copied itself since the start
}

// Stats returns the relay's figures, as of its last batch.
func (s *PairServer) Stats() PairStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return PairStats{Pairs: s.npairs, Kernel: s.nkernel, Relayed: s.relayed}
}

// sweepEvery is how often the relay looks for idle pairs.
const sweepEvery = time.Second

// serve relays until the socket is closed.
func (s *PairServer) serve() {
	defer close(s.done)
	if s.k != nil {
		defer close(s.kops)
	}
	b := s.io.NewBatch(s.cfg.MaxDatagram, s.cfg.MaxDatagram)
	out := make([]byte, 0, helloFixed) // an answer being built
	lastSweep := time.Now()
	for {
		s.pc.SetReadDeadline(time.Now().Add(sweepEvery))
		n, err := s.io.Read(b)
		s.now = time.Now()
		if s.k != nil {
			select {
			case counts := <-s.kcounts:
				s.kernelCounts(counts)
			default:
			}
		}
		if s.now.Sub(lastSweep) >= sweepEvery {
			s.sweep()
			lastSweep = s.now
			s.updateStats(0)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("relay: pair relay stopped", "addr", s.addr, "err", err)
			}
			return
		}
		var relayed uint64
		for i := range n {
			pkt, from := b.Datagram(i)
			seg := b.Segment(i) // datagrams the kernel coalesced: one sender's
			first := pkt
			if seg > 0 {
				first = pkt[:seg]
			}
			if !from.IsValid() || len(first) > s.cfg.MaxDatagram {
				continue
			}
			if m := s.peers[from]; m != nil {
				if _, ctl := isControl(first); !ctl {
					to := m.other()
					m.pair.last = s.now
					if to.IsValid() {
						b.QueueSegments(pkt, to, seg)
						relayed += uint64(datagramsIn(len(pkt), seg))
					}
					continue
				}
			}
			if out = s.hello(out[:0], first, from); len(out) > 0 {
				b.Queue(out, from)
			}
		}
		// The figures first: a peer that reads an answer sees them.
		s.updateStats(relayed)
		s.io.Flush(b, func(to netip.AddrPort, err error) {
			s.log.Debug("relay: pair relay send failed", "to", to, "err", err)
		})
	}
}

// updateStats publishes the figures for Stats.
func (s *PairServer) updateStats(relayed uint64) {
	s.mu.Lock()
	s.relayed += relayed
	s.npairs = len(s.pairs)
	s.nkernel = s.forwarded
	s.mu.Unlock()
}

// hello handles a datagram that is not data from a joined peer: a hello,
// or something to drop. It appends the answer, if any, to out.
func (s *PairServer) hello(out, pkt []byte, from netip.AddrPort) []byte {
	h, signed, mac, ok := parseHello(pkt)
	if !ok {
		return out
	}
	if want := s.cookie(from, 0); h.cookie != want && h.cookie != s.cookie(from, -1) {
		return appendAnswer(out, typeCookie, h.seq, &want, 0, "")
	}
	password, expires, ok := s.cfg.Issuer.lookup(h.username)
	if !ok {
		return out
	}
	if !hmac.Equal(mac, appendMAC(nil, signed, password)) {
		return appendAnswer(out, typeRefused, h.seq, nil, refusedCredentials, password)
	}
	p := s.pairs[h.username]
	switch {
	case p == nil && s.now.After(expires):
		return appendAnswer(out, typeRefused, h.seq, nil, refusedExpired, password)
	case p == nil && len(s.pairs) >= s.cfg.MaxPairs:
		return appendAnswer(out, typeRefused, h.seq, nil, refusedFull, password)
	case p == nil:
		p = &pair{username: h.username}
		p.sides[0] = member{pair: p, side: 0}
		p.sides[1] = member{pair: p, side: 1}
		s.pairs[h.username] = p
		s.log.Debug("relay: pair opened", "user", h.username)
	}
	m := &p.sides[h.side]
	if m.addr.IsValid() && m.addr != from {
		if h.seq <= m.seq {
			return appendAnswer(out, typeRefused, h.seq, nil, refusedStale, password)
		}
		delete(s.peers, m.addr) // the peer's address changed: a NAT rebinding
	}
	if old := s.peers[from]; old != nil && old != m {
		old.addr = netip.AddrPort{} // this address now joins another side
		s.syncKernel(old.pair)
	}
	m.addr, m.seq = from, max(m.seq, h.seq)
	s.peers[from] = m
	p.last = s.now
	s.syncKernel(p)
	var joined byte
	if m.other().IsValid() {
		joined = 1
	}
	return appendAnswer(out, typeBound, h.seq, nil, joined, password)
}

// cookie returns the cookie of addr for the current 30-second period
// (ago 0) or the one before (ago -1).
func (s *PairServer) cookie(addr netip.AddrPort, ago int64) [cookieSize]byte {
	m := hmac.New(sha256.New, s.secret[:])
	a, _ := addr.MarshalBinary()
	m.Write(a)
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(s.now.Unix()/30+ago))
	m.Write(t[:])
	var sum [sha256.Size]byte
	return [cookieSize]byte(m.Sum(sum[:0])[:cookieSize])
}

// sweep drops the pairs idle for longer than cfg.Idle.
func (s *PairServer) sweep() {
	for name, p := range s.pairs {
		if s.now.Sub(p.last) < s.cfg.Idle {
			continue
		}
		for i := range p.sides {
			if a := p.sides[i].addr; a.IsValid() && s.peers[a] == &p.sides[i] {
				delete(s.peers, a)
			}
		}
		delete(s.pairs, name)
		p.kernelOff = true
		s.syncKernel(p) // stops the kernel's forwarding, if any
		s.log.Debug("relay: pair closed, idle", "user", name)
	}
}

// datagramsIn returns how many datagrams a buffer of n bytes in segments
// of seg bytes holds (seg 0: one).
func datagramsIn(n, seg int) int {
	if seg <= 0 {
		return 1
	}
	return (n + seg - 1) / seg
}

// Issuer returns the Issuer whose credentials the relay takes.
func (s *PairServer) Issuer() *Issuer { return s.cfg.Issuer }
