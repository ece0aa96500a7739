package stun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	pionstun "github.com/pion/stun/v4"
)

// probe is one request of a round and, once the round is over, its
// outcome.
type probe struct {
	name   string         // test name, for reports and logs
	to     netip.AddrPort // where the request goes
	change ChangeRequest  // CHANGE-REQUEST flags, if any
	// loop marks the hairpin probe, whose answer is the request itself
	// coming back to the socket that sent it.
	loop bool

	msg  *pionstun.Message
	sent int           // transmissions so far
	rto  time.Duration // wait before the next retransmission
	next time.Time     // when the next retransmission is due
	t0   time.Time     // first transmission

	done     bool           // answered, failed, or given up
	answered bool           // something with our transaction ID came back
	from     netip.AddrPort // source of the answer
	resp     *Response      // parsed success response (nil for loop probes)
	rtt      time.Duration  // from the first transmission to the answer
	err      error          // send failure, error response, bad answer
}

// prober runs rounds of probes on one socket.
type prober struct {
	pc  net.PacketConn
	cfg Config
	buf []byte
	// ours holds the transaction IDs this prober sent, so that late or
	// duplicate answers to them are dropped rather than handed to
	// cfg.Unmatched.
	ours map[[pionstun.TransactionIDSize]byte]bool
}

func newProber(pc net.PacketConn, cfg *Config) *prober {
	return &prober{
		pc:   pc,
		cfg:  cfg.withDefaults(),
		buf:  make([]byte, 64<<10),
		ours: make(map[[pionstun.TransactionIDSize]byte]bool),
	}
}

// newProbe prepares a binding request to `to` with a fresh transaction ID.
func (c *prober) newProbe(name string, to netip.AddrPort, change ChangeRequest) (*probe, error) {
	msg, err := newRequest(change)
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", name, err)
	}
	c.ours[msg.TransactionID] = true
	return &probe{name: name, to: to, change: change, msg: msg}, nil
}

// round sends every probe at once, retransmits the unanswered ones on
// their RTO schedule and reads the socket until every probe is done or
// cfg.Timeout has passed. Packets that answer no probe are dropped or
// handed to cfg.Unmatched. It returns an error only when ctx ends or the
// socket fails; each probe's own outcome is in the probe.
func (c *prober) round(ctx context.Context, probes ...*probe) error {
	return c.roundUntil(ctx, nil, probes...)
}

// roundUntil is round that also ends as soon as enough, if set, reports
// true.
func (c *prober) roundUntil(ctx context.Context, enough func() bool, probes ...*probe) error {
	dl := watch(ctx, c.pc.SetReadDeadline)
	defer dl.release()
	end := time.Now().Add(c.cfg.Timeout)
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		now := time.Now()
		wake, pending := end, false
		for _, p := range probes {
			if !p.done && p.sent < c.cfg.Attempts && !now.Before(p.next) {
				c.send(p, now)
			}
			if p.done {
				continue
			}
			pending = true
			if p.sent < c.cfg.Attempts && p.next.Before(wake) {
				wake = p.next
			}
		}
		if !pending || !now.Before(end) || enough != nil && enough() {
			return nil
		}
		dl.set(wake)
		n, from, err := c.pc.ReadFrom(c.buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("reading STUN answers: %w", err)
		}
		c.handle(c.buf[:n], addrPortOf(from), probes, time.Now())
	}
}

// send transmits p and schedules its next retransmission.
func (c *prober) send(p *probe, now time.Time) {
	if p.sent == 0 {
		p.t0, p.rto = now, c.cfg.RTO
	}
	p.sent++
	c.cfg.Logger.Debug("stun: request", "test", p.name, "to", p.to,
		"change", p.change.String(), "attempt", p.sent)
	if _, err := c.pc.WriteTo(p.msg.Raw, net.UDPAddrFromAddrPort(p.to)); err != nil {
		p.done, p.err = true, fmt.Errorf("sending to %s: %w", p.to, err)
		c.cfg.Logger.Debug("stun: send failed", "test", p.name, "err", err)
		return
	}
	p.next = now.Add(p.rto)
	p.rto *= 2
}

// handle matches one received packet against the pending probes by
// transaction ID.
func (c *prober) handle(b []byte, from netip.AddrPort, probes []*probe, now time.Time) {
	m, err := decode(b)
	if err != nil {
		c.unmatched(b, from)
		return
	}
	for _, p := range probes {
		if p.done || p.msg.TransactionID != m.TransactionID {
			continue
		}
		if p.loop != (m.Type == pionstun.BindingRequest) {
			continue
		}
		p.done, p.answered, p.from, p.rtt = true, true, from, now.Sub(p.t0)
		if !p.loop {
			p.resp, p.err = responseFrom(m)
		}
		c.cfg.Logger.Debug("stun: answer", "test", p.name, "from", from,
			"rtt", p.rtt, "mapped", mappedOf(p.resp), "err", p.err)
		return
	}
	if !c.ours[m.TransactionID] {
		c.unmatched(b, from)
	}
}

func (c *prober) unmatched(b []byte, from netip.AddrPort) {
	if c.cfg.Unmatched != nil {
		c.cfg.Unmatched(b, from)
	}
}

func mappedOf(r *Response) slog.Value {
	if r == nil {
		return slog.StringValue("")
	}
	return slog.StringValue(r.Mapped.String())
}

// deadline moves a connection's deadline for a blocking call and cuts the
// call short when ctx ends. release clears the deadline again.
type deadline struct {
	mu        sync.Mutex
	setter    func(time.Time) error
	stop      func() bool
	cancelled bool // ctx ended: the deadline stays in the past
	finished  bool // released: leave the deadline alone
}

func watch(ctx context.Context, setter func(time.Time) error) *deadline {
	d := &deadline{setter: setter}
	d.stop = context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.finished {
			d.cancelled = true
			_ = d.setter(time.Unix(1, 0))
		}
	})
	return d
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cancelled && !d.finished {
		_ = d.setter(t)
	}
}

func (d *deadline) release() {
	d.stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finished = true
	_ = d.setter(time.Time{})
}
