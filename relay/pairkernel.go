package relay

import (
	"net/netip"
	"time"
)

// The pair relay's side of kernel forwarding (PairConfig.Kernel): which
// pairs the kernel forwards, and what its counters tell; kernel_linux.go
// has the nftables part.

// kernelPoll is how often the kernel's counters are read.
const kernelPoll = 2 * time.Second

// kernelLoop adds and removes the kernel's forwarding of pairs as serve
// asks, and reads its counters every kernelPoll, until kops is closed;
// then it removes the forwarding.
func (s *PairServer) kernelLoop() {
	defer close(s.kdone)
	tick := time.NewTicker(kernelPoll)
	defer tick.Stop()
	for {
		select {
		case op, ok := <-s.kops:
			if !ok {
				if err := s.k.close(); err != nil {
					s.log.Warn("relay: removing the kernel forwarding", "err", err)
				}
				return
			}
			var err error
			if op.add {
				err = s.k.add(op.a, op.b)
			} else {
				err = s.k.remove(op.a, op.b)
			}
			if err != nil {
				s.log.Warn("relay: kernel forwarding", "add", op.add, "sides", []netip.AddrPort{op.a, op.b}, "err", err)
			}
		case <-tick.C:
			counts, err := s.k.counters()
			if err != nil {
				s.log.Warn("relay: kernel forwarding counters", "err", err)
				continue
			}
			select {
			case s.kcounts <- counts:
			default: // serve has not taken the last ones: skip these
			}
		}
	}
}

// kernelDo queues an operation for kernelLoop, unless the queue is full.
func (s *PairServer) kernelDo(op kernelOp) bool {
	select {
	case s.kops <- op:
		return true
	default:
		s.log.Warn("relay: kernel forwarding queue full", "add", op.add)
		return false
	}
}

// syncKernel makes the kernel forward p when both sides have joined (and
// only between their current addresses), where it may.
func (s *PairServer) syncKernel(p *pair) {
	if s.k == nil {
		return
	}
	var want [2]netip.AddrPort
	if a, b := p.sides[0].addr, p.sides[1].addr; a.IsValid() && b.IsValid() && !p.kernelOff {
		want = [2]netip.AddrPort{a, b}
	}
	if want == p.fwd {
		return
	}
	if p.fwd[0].IsValid() {
		s.kernelDo(kernelOp{a: p.fwd[0], b: p.fwd[1]})
		p.fwd = [2]netip.AddrPort{}
		s.forwarded--
	}
	if want[0].IsValid() && s.kernelDo(kernelOp{add: true, a: want[0], b: want[1]}) {
		p.fwd, p.counts = want, [2]sideCount{}
		s.forwarded++
		s.log.Debug("relay: the kernel forwards the pair", "user", p.username, "sides", want)
	}
}

// kernelCounts takes the kernel's counters: a pair whose datagrams come in
// is alive; one whose datagrams come in but do not go out (the host drops
// forwarded packets) goes back to the relay's own copy, for good.
func (s *PairServer) kernelCounts(counts map[netip.AddrPort]sideCount) {
	for _, p := range s.pairs {
		if !p.fwd[0].IsValid() {
			continue
		}
		blocked := false
		for i, a := range p.fwd {
			c, prev := counts[a], p.counts[i]
			if c.in > prev.in {
				p.last = s.now
			}
			if c.in >= prev.in+blockedAfter && c.out == prev.out {
				blocked = true
			}
			p.counts[i] = c
		}
		if blocked {
			s.log.Warn("relay: forwarded datagrams do not leave this host (a firewall?): the pair relay copies them itself", "user", p.username)
			p.kernelOff = true
			s.syncKernel(p)
		}
	}
}

// blockedAfter is how many datagrams of a side may come in to be
// forwarded between two polls, none going out meanwhile, before the relay
// takes the pair back. A datagram that comes in leaves at once (the
// rewriting and the routing are one pass in the kernel) unless the host
// drops it.
const blockedAfter = 2
