package udppunch

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/punchkit/punch/internal/netaddr"
)

// Config tunes a punch; the zero value works.
type Config struct {
	// TTL is the TTL (hop limit) of the first probe, which opens this
	// side's NATs and dies before the peer's; 0 means 2 (one NAT), a
	// negative value sends no such probe.
	TTL int
	// FirstDelay is the wait after the low-TTL probe before probing for
	// real. Default 50 ms.
	FirstDelay time.Duration
	// Interval is the first gap between rounds of probes; it grows by half
	// each round up to 500 ms. Default 20 ms.
	Interval time.Duration
	// Timeout bounds the punch. Default 10 s.
	Timeout time.Duration
	// Logger receives debug logs. Default: none.
	Logger *slog.Logger
	// Spray, if set, also probes random ports of a peer behind a NAT
	// that maps each destination to a random port (the easy side of the
	// birthday technique). Default: none.
	Spray *Spray
	// Unmatched, if set, receives every packet that is not a punch packet
	// (STUN answers, say); p is valid only during the call. Default: such
	// packets are dropped.
	Unmatched func(p []byte, from netip.AddrPort)
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.TTL == 0 {
		out.TTL = 2
	}
	if out.FirstDelay <= 0 {
		out.FirstDelay = 50 * time.Millisecond
	}
	if out.Interval <= 0 {
		out.Interval = 20 * time.Millisecond
	}
	if out.Timeout <= 0 {
		out.Timeout = 10 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Spray != nil {
		sp := *out.Spray
		if sp.Rate <= 0 {
			sp.Rate = 1000
		}
		if sp.Count <= 0 {
			sp.Count = 4096
		}
		if sp.Low == 0 || sp.High < sp.Low {
			sp.Low, sp.High = 1024, 65535
		}
		out.Spray = &sp
	}
	return out
}

// Spray describes probes to random ports of the peer's public address:
// while the peer keeps many sockets open toward this one (each with a
// mapping of its own on the peer's NAT), probing random ports finds one of
// them after about 65536/sockets probes (the birthday paradox), and that
// probe opens this side's NAT for the peer's answer.
type Spray struct {
	// Addr is the peer's public address.
	Addr netip.Addr
	// Rate is the number of probes per second. Default 1000.
	Rate int
	// Count bounds the probes. Default 4096.
	Count int
	// Low and High bound the ports probed, both included. Default: 1024
	// to 65535, where NATs allocate.
	Low, High uint16
}

// sprayTick is the gap between bursts of spray probes.
const sprayTick = 10 * time.Millisecond

// maxInterval bounds the gap between rounds of probes.
const maxInterval = 500 * time.Millisecond

// Result is a punched path.
type Result struct {
	// Peer is the peer's address as its packets arrive: where to send.
	Peer netip.AddrPort
	// Initiator is true on exactly one side: the one whose nonce is
	// greater.
	Initiator bool
	// Took is how long the punch took.
	Took time.Duration
}

// Punch sends authenticated probes from pc to the peer's candidate
// addresses and answers the peer's, until this side has heard the peer
// and the peer has acknowledged one of this side's probes. It owns pc's
// reads while it runs (and clears pc's read deadline when it returns).
// key is the secret both peers share.
func Punch(ctx context.Context, pc net.PacketConn, key string, peers []netip.AddrPort, cfg *Config) (*Result, error) {
	c := cfg.withDefaults()
	if len(peers) == 0 && c.Spray == nil {
		return nil, fmt.Errorf("%w: no peer address", ErrConfig)
	}
	p := &puncher{cfg: c, pc: pc, key: macKey(key), cands: slices.Clone(peers)}
	var nb [8]byte
	for p.nonce == 0 {
		rand.Read(nb[:])
		p.nonce = binary.BigEndian.Uint64(nb[:])
	}
	defer pc.SetReadDeadline(time.Time{})
	return p.run(ctx)
}

type puncher struct {
	cfg       Config
	pc        net.PacketConn
	key       []byte
	nonce     uint64
	peerNonce uint64
	cands     []netip.AddrPort
	heard     bool
	acked     bool
	peer      netip.AddrPort
}

func (p *puncher) run(ctx context.Context) (*Result, error) {
	start := time.Now()
	deadline := start.Add(p.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { p.pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	next := start
	if p.cfg.TTL > 0 {
		p.lowTTLProbe()
		next = start.Add(p.cfg.FirstDelay)
	}
	interval := p.cfg.Interval
	sprayNext, sprayed := start, 0
	buf := make([]byte, 2048)
	for {
		now := time.Now()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !now.Before(deadline) {
			return nil, fmt.Errorf("%w (%v; heard the peer: %v, probes acknowledged: %v; tried %v)",
				ErrTimeout, p.cfg.Timeout, p.heard, p.acked, p.cands)
		}
		if !now.Before(next) {
			p.sendAll(packet{typ: typeProbe, nonce: p.nonce})
			next = now.Add(interval)
			interval = min(interval*3/2, maxInterval)
		}
		wake := minTime(next, deadline)
		if sp := p.cfg.Spray; sp != nil && sprayed < sp.Count {
			if !now.Before(sprayNext) {
				sprayed += p.spray(min(max(1, sp.Rate*int(sprayTick)/int(time.Second)), sp.Count-sprayed))
				sprayNext = now.Add(sprayTick)
			}
			wake = minTime(wake, sprayNext)
		}
		p.pc.SetReadDeadline(wake)
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return nil, err
		}
		addr, ok := netaddr.AddrPort(from)
		if !ok {
			continue
		}
		if !IsPunch(buf[:n]) {
			if p.cfg.Unmatched != nil {
				p.cfg.Unmatched(buf[:n], addr)
			}
			continue
		}
		if p.receive(buf[:n], addr) {
			// Our acknowledgement of the peer's probe may be lost; send a
			// few more so that the peer completes as well.
			for range 3 {
				p.send(packet{typ: typeAck, nonce: p.nonce, echo: p.peerNonce}, p.peer)
			}
			return &Result{Peer: p.peer, Initiator: p.nonce > p.peerNonce, Took: time.Since(start)}, nil
		}
	}
}

// receive handles a punch packet and reports whether the punch is done.
func (p *puncher) receive(b []byte, from netip.AddrPort) bool {
	pk, ok := decode(b, p.key)
	if !ok || pk.nonce == p.nonce {
		return false // forged, corrupted, or our own packet looped back
	}
	if !slices.Contains(p.cands, from) {
		// The peer's NAT may not have kept the port it was told about:
		// answer where its packets really come from.
		p.cands = append(p.cands, from)
		p.cfg.Logger.Debug("udppunch: learned a peer address", "addr", from)
	}
	p.heard = true
	p.peerNonce = pk.nonce
	switch pk.typ {
	case typeProbe:
		p.send(packet{typ: typeAck, nonce: p.nonce, echo: pk.nonce}, from)
	case typeAck:
		if pk.echo == p.nonce {
			p.acked = true
			p.peer = from
		}
	}
	return p.heard && p.acked
}

// spray sends n probes to random ports of the Spray address and returns n.
func (p *puncher) spray(n int) int {
	var b [packetSize]byte
	msg := packet{typ: typeProbe, nonce: p.nonce}.encode(b[:], p.key)
	sp := p.cfg.Spray
	span := uint32(sp.High-sp.Low) + 1
	var rb [4]byte
	for range n {
		rand.Read(rb[:])
		port := uint32(sp.Low) + binary.BigEndian.Uint32(rb[:])%span
		p.pc.WriteTo(msg, net.UDPAddrFromAddrPort(netip.AddrPortFrom(sp.Addr, uint16(port))))
	}
	return n
}

func (p *puncher) sendAll(pk packet) {
	for _, a := range p.cands {
		p.send(pk, a)
	}
}

func (p *puncher) send(pk packet, to netip.AddrPort) {
	var b [packetSize]byte
	_, err := p.pc.WriteTo(pk.encode(b[:], p.key), net.UDPAddrFromAddrPort(to))
	p.cfg.Logger.Debug("udppunch: sent", "type", pk.typ, "to", to, "err", err)
}

// lowTTLProbe sends one probe to every candidate with the low TTL, then
// restores the socket's TTL.
func (p *puncher) lowTTLProbe() {
	uc, ok := p.pc.(*net.UDPConn)
	if !ok {
		return
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	is6 := false
	if la, ok := netaddr.AddrPort(uc.LocalAddr()); ok {
		is6 = la.Addr().Is6()
	}
	set := func(ttl int) {
		raw.Control(func(fd uintptr) {
			if is6 {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
			} else {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
			}
		})
	}
	set(p.cfg.TTL)
	p.sendAll(packet{typ: typeProbe, nonce: p.nonce})
	set(-1) // the system default
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
