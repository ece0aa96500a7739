package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Allocate asks the relay at server for an allocation, over pc, with
// cred, and returns it as a Conn (see [Conn] for how it uses pc). cfg may
// be nil. It fails with an error wrapping ErrBadCredentials, ErrQuota,
// ErrAllocationRefused or ErrNoAnswer, or ctx's error; then pc is the
// caller's again.
func Allocate(ctx context.Context, pc net.PacketConn, server netip.AddrPort, cred Credentials, cfg *ClientConfig) (*Conn, error) {
	c := cfg.withDefaults()
	if pc == nil || !server.IsValid() {
		return nil, fmt.Errorf("%w: Allocate needs a socket and a relay address", ErrBadConfig)
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	family := turn.RequestedAddressFamilyIPv4
	if server.Addr().Is6() {
		family = turn.RequestedAddressFamilyIPv6
	}
	tc, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr:         server.String(),
		Username:               cred.Username,
		Password:               cred.Password,
		Conn:                   pc,
		LoggerFactory:          pionLogs{c.Logger},
		RequestedAddressFamily: family,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	conn := newConn(pc, server, tc, &c)
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	rc, err := tc.AllocateWithContext(actx)
	if err != nil {
		readErr := conn.stopReading()
		tc.Close()
		return nil, allocateError(ctx, server, err, readErr)
	}
	conn.start(rc)
	c.Logger.Debug("relay: allocated", "relay", server, "relayed", conn.relayed)
	return conn, nil
}

// allocateError turns what pion's Allocate returned into one of the
// package's errors. readErr is the error that stopped the socket reader,
// if one did.
func allocateError(ctx context.Context, server netip.AddrPort, err, readErr error) error {
	var te *stun.TurnError
	switch {
	case errors.As(err, &te):
		sentinel := ErrAllocationRefused
		switch te.ErrorCodeAttr.Code {
		case stun.CodeUnauthorized:
			sentinel = ErrBadCredentials
		case stun.CodeAllocQuotaReached:
			sentinel = ErrQuota
		}
		return fmt.Errorf("%w (relay %v: error %v)", sentinel, server, te.ErrorCodeAttr)
	case ctx.Err() != nil:
		return fmt.Errorf("relay: allocating at %v: %w", server, ctx.Err())
	case readErr != nil:
		return fmt.Errorf("relay: allocating at %v: reading the socket: %w", server, readErr)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%v)", ErrNoAnswer, server)
	}
	return fmt.Errorf("relay: allocating at %v: %w", server, err)
}
