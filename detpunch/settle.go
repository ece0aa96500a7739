package detpunch

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/punchkit/punch/tcppunch"
)

// MinLinger is the least time the sockets of a finished punch are kept to
// settle (see [sprayer.finish]); six round trips of the chosen connection
// if that is longer.
const MinLinger = 2 * time.Second

// finish hands the winner over and settles the other sockets in the
// background.
//
// The same peers may run again in the same bucket while their NATs still
// hold this run's entries for the same port pairs: Linux keeps a
// half-open TCP entry for two minutes. One kind blocks: a SYN of the
// peer's that crosses our SYN in our NAT (conntrack SYN_SENT2) and then
// meets no socket of ours that sent that SYN (the connect closed, or the
// process gone) is answered with a RST or a SYN-ACK whose sequence number
// conntrack takes as out of window. The entry stays half-open and drops
// every later SYN on its 4-tuple, ours and the peer's, until it expires.
// Such SYNs come from the peer's last attempts after our choice, and,
// before our next run starts, from the peer's next run: into the entries
// that our SYNs to the peer's unused ports left behind (measured in the
// lab: 11 of 50 back-to-back runs failed so). Hence no attempt is left
// unanswered:
//
//   - Each side sends its plan (its two buckets) on every connection that
//     loses, and learns the peer's from the connections it reads.
//   - Our connects in flight stay open; the peer dials from the ports of
//     our bucket that it does not share to the same ports here, which
//     completes them as simultaneous opens, and we dial its. Every port
//     either side tried has then come up.
//   - Then every connection that lost is closed gracefully (see release).
//
// [Run.Close] waits for this to end: when every attempt is answered, at
// the linger's end at the latest.
func (s *sprayer) finish(win *candidate) (*Result, error) {
	a := win.a
	win.a = nil
	linger := lingerFor(a)
	conn, err := a.Conn()
	if err != nil {
		s.closeAll()
		return nil, err
	}
	res := &Result{Conn: conn, Bucket: win.p.bucket, Port: win.p.local.Port(), Took: time.Since(s.Start)}
	s.cfg.Logger.Debug("detpunch: chosen", "port", res.Port, "bucket", res.Bucket, "leader", s.Leader, "after", res.Took)
	st := &settler{
		log:      s.cfg.Logger,
		peer:     s.Peer,
		plan:     s.Plan,
		ports:    len(s.Plan.Ports[0]),
		msg:      planMessage(s.Plan.Buckets),
		peerPlan: s.peerPlan,
		spares:   make(map[uint16]*tcppunch.Attempt),
		deadline: time.Now().Add(linger),
	}
	for _, p := range s.ports {
		st.lns = append(st.lns, p.ln)
		if p.try != nil {
			st.tries = append(st.tries, p.try)
		}
	}
	for _, c := range s.candidates {
		if c.a != nil && c != win {
			st.add(c)
		}
	}
	st.bindSpares(s.local())
	s.ports, s.candidates = nil, nil
	done := make(chan struct{})
	s.lingering = done
	go func() {
		defer close(done)
		st.run(s.ctx)
	}()
	return res, nil
}

// lingerFor returns the linger of a punch won on a.
func lingerFor(a *tcppunch.Attempt) time.Duration {
	info, err := unix.GetsockoptTCPInfo(a.Fd(), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return MinLinger
	}
	return max(MinLinger, 6*time.Duration(info.Rtt)*time.Microsecond)
}

// closeAll lets every socket go at once, when the punch failed: connects
// in flight close without a packet, connections gracefully.
func (s *sprayer) closeAll() {
	for _, p := range s.ports {
		p.ln.Close()
		if p.try != nil {
			release(p.try)
		}
	}
	for _, c := range s.candidates {
		if c.a != nil {
			release(c.a)
		}
	}
	s.ports, s.candidates = nil, nil
}

// settler settles the sockets of a finished punch; see [sprayer.finish].
type settler struct {
	log      *slog.Logger
	peer     netip.Addr
	plan     Plan
	ports    int       // ports per bucket
	msg      []byte    // our plan message
	peerPlan *[2]int64 // the peer's buckets, once known

	lns      []*tcppunch.Listener
	tries    []*tcppunch.Attempt          // our connects in flight, and the dials into the peer's bucket
	conns    []*candidate                 // connections that came up: read for the peer's plan, aborted at the end
	spares   map[uint16]*tcppunch.Attempt // bound, not connected: see bindSpares
	dialed   bool                         // dialPeer has run
	deadline time.Time
}

// add takes connection c over: it gets our plan message and is read for
// the peer's.
func (st *settler) add(c *candidate) {
	if _, err := unix.Write(c.a.Fd(), st.msg); err != nil {
		release(c.a)
		return
	}
	st.conns = append(st.conns, c)
}

// bindSpares binds, on the calling goroutine's thread, a socket to each
// port of the buckets just below and above the plan: the peer's other
// bucket, if it has one that we do not, is one of them. Those that the
// peer's plan names are dialled once it is known; the rest close unused.
func (st *settler) bindSpares(local netip.Addr) {
	lo, hi := min(st.plan.Buckets[0], st.plan.Buckets[1]), max(st.plan.Buckets[0], st.plan.Buckets[1])
	for _, b := range []int64{lo - 1, hi + 1} {
		for _, n := range Ports(b, st.ports) {
			if _, ok := st.spares[n]; ok {
				continue
			}
			if a, err := tcppunch.Bind(netip.AddrPortFrom(local, n)); err == nil {
				st.spares[n] = a
			}
		}
	}
}

// dialPeer dials from the ports of the peer's buckets that are not ours
// to the same ports of the peer, completing its connects in flight.
func (st *settler) dialPeer() {
	for _, b := range st.peerPlan {
		if slices.Contains(st.plan.Buckets[:], b) {
			continue
		}
		for _, n := range Ports(b, st.ports) {
			a := st.spares[n]
			if a == nil {
				continue
			}
			delete(st.spares, n)
			if err := a.Connect(netip.AddrPortFrom(st.peer, n)); err != nil {
				st.log.Debug("detpunch: settling: cannot dial", "port", n, "err", err)
				a.Close()
				continue
			}
			st.tries = append(st.tries, a)
		}
	}
	st.dialed = true
	st.log.Debug("detpunch: settling: the peer's plan", "buckets", *st.peerPlan, "attempts", len(st.tries))
}

// run polls until every attempt is answered (the peer's plan known, no
// connect in flight), the deadline passes or ctx ends, then aborts and
// closes everything.
func (st *settler) run(ctx context.Context) {
	defer st.close()
	if st.peerPlan != nil {
		st.dialPeer()
	}
	for ctx.Err() == nil {
		if st.peerPlan != nil && len(st.tries) == 0 {
			st.log.Debug("detpunch: settled", "connections", len(st.conns))
			return
		}
		left := time.Until(st.deadline)
		if left <= 0 {
			st.log.Debug("detpunch: settling: linger over", "in flight", len(st.tries), "peer plan known", st.peerPlan != nil)
			return
		}
		fds := make([]unix.PollFd, 0, len(st.lns)+len(st.tries)+len(st.conns))
		for _, ln := range st.lns {
			fds = append(fds, unix.PollFd{Fd: int32(ln.Fd()), Events: unix.POLLIN})
		}
		for _, a := range st.tries {
			fds = append(fds, unix.PollFd{Fd: int32(a.Fd()), Events: unix.POLLOUT})
		}
		for _, c := range st.conns {
			fds = append(fds, unix.PollFd{Fd: int32(c.a.Fd()), Events: unix.POLLIN})
		}
		// Short polls, so that the end of ctx is seen soon.
		n, err := unix.Poll(fds, int(min(left, 100*time.Millisecond).Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n > 0 {
			st.handle(fds)
		}
	}
}

// handle acts on the descriptors that poll flagged, in the order run
// added them.
func (st *settler) handle(fds []unix.PollFd) {
	i := 0
	var came []*candidate
	for _, ln := range st.lns {
		if fds[i].Revents != 0 {
			// A SYN with no connect of ours on its 4-tuple.
			if a, err := ln.Accept([]netip.AddrPort{netip.AddrPortFrom(st.peer, 0)}); err == nil {
				came = append(came, &candidate{a: a})
			}
		}
		i++
	}
	tries := st.tries[:0]
	for _, a := range st.tries {
		if fds[i].Revents == 0 {
			tries = append(tries, a)
		} else {
			switch state, _ := a.Check(); state {
			case tcppunch.Connected:
				came = append(came, &candidate{a: a})
			case tcppunch.Failed:
				a.Close()
			default:
				tries = append(tries, a)
			}
		}
		i++
	}
	st.tries = tries
	conns := st.conns[:0]
	for _, c := range st.conns {
		keep := true
		if fds[i].Revents != 0 {
			keep = readPlan(c, &st.peerPlan) == nil
			if st.peerPlan != nil && !st.dialed {
				st.dialPeer()
			}
		}
		if keep {
			conns = append(conns, c)
		} else {
			release(c.a)
		}
		i++
	}
	st.conns = conns
	for _, c := range came {
		st.add(c)
	}
}

// close closes every connection and socket left.
func (st *settler) close() {
	for _, ln := range st.lns {
		ln.Close()
	}
	for _, a := range st.tries {
		release(a)
	}
	for _, c := range st.conns {
		release(c.a)
	}
	for _, a := range st.spares {
		a.Close()
	}
}
