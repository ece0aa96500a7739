package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/punchkit/punch/internal/netaddr"
)

// Pair is a peer's place in a pair on a pair relay: the relay's address,
// the credentials the rendezvous gave both peers, and this peer's side (0
// for the leader, 1 for the follower).
type Pair struct {
	Relay netip.AddrPort
	Credentials
	Side byte
}

// aLongTimeAgo is a read deadline in the past, which ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// helloRetry is the first interval between hellos; it doubles up to
// helloRetryMax.
const (
	helloRetry    = 100 * time.Millisecond
	helloRetryMax = time.Second
)

// JoinPair joins pc, a UDP socket, to its side of p on the pair relay and
// returns once the relay has bound it, and, with waitPeer, once the relay
// says the other side has joined too. From then on, what pc sends to the
// relay goes to the other peer and what the other peer sends arrives on
// pc from the relay's address.
//
// JoinPair reads pc until it returns; the caller must not read it
// meanwhile. It gives up at ctx's deadline, or after cfg.Timeout, with
// ErrNoAnswer, or with the relay's signed refusal: ErrBadCredentials,
// ErrPairTaken or ErrRelayFull. A refusal that is not signed with the
// credentials (anyone can send one) is only reported at the deadline.
func JoinPair(ctx context.Context, pc net.PacketConn, p Pair, waitPeer bool, cfg *ClientConfig) error {
	c := cfg.withDefaults()
	if p.Side > 1 || p.Username == "" || !p.Relay.IsValid() {
		return fmt.Errorf("%w: side %d, username %q, relay %v", ErrBadConfig, p.Side, p.Username, p.Relay)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	defer pc.SetReadDeadline(time.Time{})

	h := hello{side: p.Side, seq: uint64(time.Now().UnixNano()), username: p.Username}
	to := net.UDPAddrFromAddrPort(p.Relay)
	var (
		msg      = appendHello(nil, &h, p.Password)
		buf      = make([]byte, 256)
		interval = helloRetry
		next     = time.Now()
		lastErr  error
	)
	for {
		if now := time.Now(); !now.Before(next) {
			if _, err := pc.WriteTo(msg, to); err != nil && ctx.Err() == nil {
				return fmt.Errorf("relay %v: %w", p.Relay, err)
			}
			next = now.Add(interval)
			interval = min(2*interval, helloRetryMax)
		}
		pc.SetReadDeadline(next)
		var (
			n    int
			from net.Addr
			err  error
		)
		if ctx.Err() == nil { // else the AfterFunc may have run before SetReadDeadline
			n, from, err = pc.ReadFrom(buf)
		}
		switch {
		case ctx.Err() != nil:
			if lastErr == nil {
				lastErr = ErrNoAnswer
			}
			return fmt.Errorf("relay %v: %w", p.Relay, lastErr)
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return fmt.Errorf("relay %v: %w", p.Relay, err)
		}
		if a, ok := netaddr.AddrPort(from); !ok || a != p.Relay {
			continue
		}
		ans, ok := parseAnswer(buf[:n], p.Password)
		if !ok || ans.seq != h.seq {
			continue
		}
		switch {
		case ans.t == typeCookie && ans.cookie != h.cookie:
			h.cookie = ans.cookie
			msg = appendHello(msg[:0], &h, p.Password)
			next, interval = time.Now(), helloRetry
		case ans.t == typeBound && ans.signed && (ans.v == 1 || !waitPeer):
			return nil
		case ans.t == typeRefused && ans.signed:
			return fmt.Errorf("relay %v: %w", p.Relay, refusal(ans.v))
		case ans.t == typeRefused:
			lastErr = refusal(ans.v)
		}
	}
}
