package detpunch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/punchkit/punch/stun"
)

// Plan is what one side derives from its clock: its two buckets (see
// [Buckets]) and the ports of each.
type Plan struct {
	Buckets [2]int64
	Ports   [2][]uint16
}

// NewPlan returns the plan of clock time t for a maximum clock error e,
// with n ports per bucket.
func NewPlan(t time.Time, e time.Duration, n int) Plan {
	var p Plan
	p.Buckets = Buckets(t, e)
	for i, b := range p.Buckets {
		p.Ports[i] = Ports(b, n)
	}
	return p
}

// Run is one side's punch, prepared: who leads, and the plan.
type Run struct {
	// MyIP is this side's public IP, given or learned from STUN.
	MyIP netip.Addr
	// Peer is the peer's IP.
	Peer netip.Addr
	// Leader is true on the side with the greater IP; it chooses the
	// connection.
	Leader bool
	// Plan is derived from this side's clock (plus Config.ClockOffset)
	// when Prepare returned.
	Plan Plan
	// Start is when Prepare returned; the deadline is Start plus
	// Config.Timeout.
	Start time.Time
	// STUNLocal and STUNMapped are the local UDP address of the STUN
	// request and the address the STUN server saw, when STUN was asked.
	STUNLocal, STUNMapped netip.AddrPort

	cfg       Config
	lingering chan struct{} // closed when a finished punch's listeners are closed
}

// Prepare checks cfg, learns this side's public IP (Config.MyIP, else a
// STUN binding request to Config.STUN), takes the roles and derives the
// plan from the clock.
//
// Roles: the leader is the side with the greater IP (netip.Addr.Compare,
// which orders addresses as big-endian numbers). Two peers behind one
// public IP cannot use it: each side knows only its own LAN address, so
// nothing they both know breaks the tie, and one NAT cannot map the same
// public port to both. They must give each other their LAN addresses,
// which differ, and the greater LAN address leads; equal IPs fail with
// [ErrSameIP].
func Prepare(ctx context.Context, peer netip.Addr, cfg *Config) (*Run, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	peer = peer.Unmap()
	if !peer.IsValid() || peer.IsUnspecified() {
		return nil, fmt.Errorf("%w: the peer's IP %v is not an address to connect to", ErrConfig, peer)
	}
	r := &Run{Peer: peer, cfg: c}
	if err := r.learnIP(ctx); err != nil {
		return nil, err
	}
	if r.MyIP == peer {
		return nil, fmt.Errorf("%w (%v): peers behind one NAT must give each other their LAN addresses, as PEER_IP and as this side's own IP", ErrSameIP, peer)
	}
	if c.Bind.IsValid() && c.Bind.Unmap().Is4() != peer.Is4() {
		return nil, fmt.Errorf("%w: bind address %v and peer %v are of different families", ErrConfig, c.Bind, peer)
	}
	r.Leader = r.MyIP.Compare(peer) > 0
	r.Start = time.Now()
	r.Plan = NewPlan(r.Start.Add(c.ClockOffset), c.MaxClockError, c.Ports)
	c.Logger.Debug("detpunch: prepared", "me", r.MyIP, "peer", peer, "leader", r.Leader, "buckets", r.Plan.Buckets, "ports", r.Plan.Ports)
	return r, nil
}

// learnIP sets MyIP from the configuration or from STUN.
func (r *Run) learnIP(ctx context.Context) error {
	c := r.cfg
	switch {
	case c.MyIP.IsValid():
		r.MyIP = c.MyIP.Unmap()
	case c.STUN.IsValid():
		if err := r.askSTUN(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrNoPublicIP, err)
		}
	default:
		return fmt.Errorf("%w: give it, or a STUN server to learn it from", ErrNoPublicIP)
	}
	if r.MyIP.Is4() != r.Peer.Is4() {
		return fmt.Errorf("%w: this side's IP %v and the peer's %v are of different families", ErrConfig, r.MyIP, r.Peer)
	}
	return nil
}

// askSTUN learns MyIP with a binding request from a UDP socket of the
// peer's family.
func (r *Run) askSTUN(ctx context.Context) error {
	network := "udp6"
	if r.Peer.Is4() {
		network = "udp4"
	}
	pc, err := net.ListenPacket(network, ":0")
	if err != nil {
		return err
	}
	defer pc.Close()
	mapped, err := stun.Bind(ctx, pc, r.cfg.STUN, &stun.Config{Logger: r.cfg.Logger})
	if err != nil {
		return err
	}
	r.STUNLocal = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	r.STUNMapped = netip.AddrPortFrom(mapped.Addr().Unmap(), mapped.Port())
	r.MyIP = r.STUNMapped.Addr()
	r.cfg.Logger.Debug("detpunch: STUN", "server", r.cfg.STUN, "local", r.STUNLocal, "mapped", r.STUNMapped)
	return nil
}

// PortsPreserved reports whether the STUN request kept its local port
// through this side's NAT, and whether that is known (STUN was asked).
// It is a hint: a NAT may treat UDP and TCP alike or not.
func (r *Run) PortsPreserved() (preserved, known bool) {
	if !r.STUNMapped.IsValid() {
		return false, false
	}
	return r.STUNMapped.Port() == r.STUNLocal.Port(), true
}

// Close waits until the other sockets of a successful punch are settled
// and closed (see [Run.Punch]): once every attempt of both sides is
// answered, at most [MinLinger] (or six round trips) after the choice, at
// once if Punch's context has ended. A program that runs a session on the
// connection and then exits calls it, so that leaving does not leave
// half-open entries in the NATs that would block the same ports for the
// peers' next run.
func (r *Run) Close() error {
	if r.lingering != nil {
		<-r.lingering
	}
	return nil
}

// Deadline returns when Punch gives up.
func (r *Run) Deadline() time.Time { return r.Start.Add(r.cfg.Timeout) }
