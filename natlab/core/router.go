package core

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// Link is one site's attachment to the core.
type Link struct {
	// Name names the link, usually after its site ("natA", "server").
	Name string
	// Dev is the site's end of the link: the core reads the packets the
	// site sends from it and writes the packets for the site to it.
	Dev tun.Device
	// Prefixes are the destinations routed to the site.
	Prefixes []netip.Prefix
	// Addr4 and Addr6 are the core's own addresses on the link, the source
	// of the ICMP errors it sends into the link.
	Addr4, Addr6 netip.Addr
	// Up and Down are the impairments of the two directions: Up from the
	// site into the core, Down from the core to the site.
	Up, Down Params
}

// Config configures a Router; the zero value works.
type Config struct {
	// PcapDir, if set, is a directory where every link's traffic is
	// written to LINK.pcap. Default: no capture.
	PcapDir string
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
}

// Router moves packets between links.
type Router struct {
	cfg    Config
	log    *slog.Logger
	links  []*link
	routes []route
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

type route struct {
	prefix netip.Prefix
	link   *link
}

// link is a Link with its queues and state.
type link struct {
	Link
	up, down  *queue
	blackhole atomic.Int64 // CLOCK_MONOTONIC ns until which the link is dead
	pcap      *pcapFile
	log       *slog.Logger
	writeMu   sync.Mutex
	writeBufs [][]byte // BatchSize buffers with room for a coalesced write
}

// New returns a router for the given links and starts moving packets.
func New(cfg *Config, links ...Link) (*Router, error) {
	r := &Router{done: make(chan struct{})}
	if cfg != nil {
		r.cfg = *cfg
	}
	r.log = r.cfg.Logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, l := range links {
		if l.Dev == nil || l.Name == "" {
			return nil, fmt.Errorf("core: link %q has no device", l.Name)
		}
		lk := &link{Link: l, log: r.log, writeBufs: make([][]byte, l.Dev.BatchSize())}
		for i := range lk.writeBufs {
			lk.writeBufs[i] = make([]byte, offset+65535)
		}
		lk.up = newQueue(l.Up, r.forward)
		lk.down = newQueue(l.Down, lk.write)
		if r.cfg.PcapDir != "" {
			var err error
			if lk.pcap, err = openPcap(r.cfg.PcapDir, l.Name); err != nil {
				r.closePcaps()
				return nil, err
			}
		}
		r.links = append(r.links, lk)
		for _, p := range l.Prefixes {
			r.routes = append(r.routes, route{p.Masked(), lk})
		}
	}
	// Longest prefix first.
	slices.SortStableFunc(r.routes, func(a, b route) int { return b.prefix.Bits() - a.prefix.Bits() })
	for _, lk := range r.links {
		r.wg.Add(3)
		go func() { defer r.wg.Done(); lk.up.run(r.done) }()
		go func() { defer r.wg.Done(); lk.down.run(r.done) }()
		go func() { defer r.wg.Done(); r.read(lk) }()
	}
	return r, nil
}

// Close stops the router and closes the links' devices.
func (r *Router) Close() error {
	var errs []error
	r.once.Do(func() {
		close(r.done)
		for _, lk := range r.links {
			errs = append(errs, lk.Dev.Close())
		}
		r.wg.Wait()
		errs = append(errs, r.closePcaps())
	})
	return errors.Join(errs...)
}

func (r *Router) closePcaps() error {
	var errs []error
	for _, lk := range r.links {
		if lk.pcap != nil {
			errs = append(errs, lk.pcap.Close())
		}
	}
	return errors.Join(errs...)
}

func (r *Router) link(name string) (*link, error) {
	for _, lk := range r.links {
		if lk.Name == name {
			return lk, nil
		}
	}
	return nil, fmt.Errorf("core: no link %q", name)
}

// SetParams changes a running link's impairments. A nil Params leaves that
// direction as it is.
func (r *Router) SetParams(name string, up, down *Params) error {
	lk, err := r.link(name)
	if err != nil {
		return err
	}
	if up != nil {
		lk.up.setParams(*up)
	}
	if down != nil {
		lk.down.setParams(*down)
	}
	return nil
}

// LinkState is a link's current impairments and counters.
type LinkState struct {
	Name      string `json:"name"`
	Up        Params `json:"up"`
	Down      Params `json:"down"`
	UpStats   Stats  `json:"up_stats"`
	DownStats Stats  `json:"down_stats"`
}

// State returns a link's impairments and counters.
func (r *Router) State(name string) (LinkState, error) {
	lk, err := r.link(name)
	if err != nil {
		return LinkState{}, err
	}
	s := LinkState{Name: name}
	s.Up, s.UpStats = lk.up.snapshot()
	s.Down, s.DownStats = lk.down.snapshot()
	return s, nil
}

// Blackhole drops every packet to and from the link for d, and the
// packets queued for it now.
func (r *Router) Blackhole(name string, d time.Duration) error {
	lk, err := r.link(name)
	if err != nil {
		return err
	}
	lk.blackhole.Store(monotime() + int64(d))
	lk.down.dropAll()
	return nil
}

func (lk *link) dead() bool {
	until := lk.blackhole.Load()
	return until != 0 && monotime() < until
}

// read moves packets from a link's device into its up queue.
func (r *Router) read(lk *link) {
	n := lk.Dev.BatchSize()
	bufs := make([][]byte, n)
	sizes := make([]int, n)
	pkts := make([]*packet, n)
	for i := range pkts {
		pkts[i] = getPacket()
		bufs[i] = pkts[i].buf
	}
	defer func() {
		for _, p := range pkts {
			putPacket(p)
		}
	}()
	for {
		count, err := lk.Dev.Read(bufs, sizes, offset)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				r.log.Debug("core: read", "link", lk.Name, "err", err)
				continue
			}
			r.log.Warn("core: read failed; link stopped", "link", lk.Name, "err", err)
			return
		}
		batch := make([]*packet, 0, count)
		for i := range count {
			p := pkts[i]
			p.n = sizes[i]
			if r.route(lk, p) {
				batch = append(batch, p)
				pkts[i] = getPacket()
				bufs[i] = pkts[i].buf
			}
		}
		if len(batch) > 0 {
			lk.up.send(batch)
		}
	}
}

// route decides where a packet read from lk goes; it reports whether the
// packet was taken (queued or answered), false if it is to be dropped and
// its buffer reused.
func (r *Router) route(lk *link, p *packet) bool {
	data := p.data()
	to, ok := dst(data)
	if !ok {
		return false
	}
	if lk.pcap != nil {
		lk.pcap.write(data)
	}
	if lk.dead() {
		lk.up.count(func(s *Stats) { s.Blackholed++ })
		return false
	}
	if r.isOwn(to) {
		if reply := echoReply(data); reply != nil {
			r.reply(lk, reply)
		}
		return false
	}
	next := r.lookup(to)
	if next == nil {
		return false
	}
	if !forwardTTL(data) {
		from := lk.Addr4
		if data[0]>>4 == 6 {
			from = lk.Addr6
		}
		if reply := timeExceeded(data, from); reply != nil && from.IsValid() {
			r.reply(lk, reply)
		}
		return false
	}
	p.next = next
	return true
}

// reply sends a packet the core itself originates (an ICMP message) into
// the link lk, through its down queue.
func (r *Router) reply(lk *link, data []byte) {
	e := getPacket()
	e.n = copy(e.buf[offset:], data)
	e.next = lk
	lk.down.send([]*packet{e})
}

// isOwn reports whether a is one of the core's addresses.
func (r *Router) isOwn(a netip.Addr) bool {
	for _, lk := range r.links {
		if a == lk.Addr4 || a == lk.Addr6 {
			return true
		}
	}
	return false
}

func (r *Router) lookup(a netip.Addr) *link {
	for _, rt := range r.routes {
		if rt.prefix.Contains(a) {
			return rt.link
		}
	}
	return nil
}

// forward takes packets leaving up queues to the down queues of the links
// they leave by.
func (r *Router) forward(pkts []*packet) {
	for i := 0; i < len(pkts); {
		next := pkts[i].next
		j := i + 1
		for j < len(pkts) && pkts[j].next == next {
			j++
		}
		if next.dead() {
			for _, p := range pkts[i:j] {
				putPacket(p)
			}
			next.down.count(func(s *Stats) { s.Blackholed += uint64(j - i) })
		} else {
			next.down.send(slices.Clone(pkts[i:j]))
		}
		i = j
	}
}

// write sends packets leaving the down queue to the site's device.
func (lk *link) write(pkts []*packet) {
	lk.writeMu.Lock()
	defer lk.writeMu.Unlock()
	for len(pkts) > 0 {
		// The device coalesces consecutive segments of a TCP flow into one
		// large write (GRO), into the spare capacity of the flow's first
		// buffer: copy the packets into buffers with room for that.
		n := min(len(pkts), cap(lk.writeBufs))
		bufs := lk.writeBufs[:n]
		for i, p := range pkts[:n] {
			if lk.pcap != nil {
				lk.pcap.write(p.data())
			}
			bufs[i] = bufs[i][:offset+p.n]
			copy(bufs[i][offset:], p.data())
			putPacket(p)
		}
		if !lk.dead() {
			if _, err := lk.Dev.Write(bufs, offset); err != nil {
				lk.down.count(func(s *Stats) { s.Failed++ })
				lk.log.Debug("core: write failed", "link", lk.Name, "err", err)
			}
		}
		pkts = pkts[n:]
	}
}

// count updates a queue's counters.
func (q *queue) count(f func(*Stats)) {
	q.mu.Lock()
	f(&q.stats)
	q.mu.Unlock()
}
