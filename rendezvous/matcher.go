package rendezvous

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// Matcher keeps the clients that wait for a peer and pairs them. It is the
// server's plug point for its pairing state: MemoryMatcher, the default,
// keeps it in the server's memory; a Matcher backed by a shared store
// (Redis, say) lets clients that reached different server nodes pair.
//
// The contract, for a store that implements it:
//
//   - Join and Leave are atomic with respect to each other for one key: a
//     ticket is either paired or withdrawn, never both, and is paired at
//     most once.
//   - Join never waits for a peer: it pairs at once or stores the ticket
//     and returns; the waiting ticket learns of its peer through its
//     Notify function. Join and Leave may block on the store, bounded by
//     ctx.
//   - Notify is called at most once per ticket, from any goroutine, after
//     Join has returned or while it runs; a ticket that Leave withdrew is
//     never notified.
//   - Keys are opaque strings (the server uses "legacy:" or "v1:" and the
//     token in hex); offers of different kinds never pair.
//
// A Matcher must be safe for concurrent use.
//
// The server relays the peers' handshake flights (Request.Handshake and
// the leader's reply) only when its Matcher is a *MemoryMatcher, so that
// both sessions of a pair live in its process. With a Matcher of any
// other type, a shared store spanning nodes for one, it never relays: no
// answer carries the peer's handshake, and every connection closes after
// its answer.
type Matcher interface {
	// Join offers t under t.Key.
	//
	// If a ticket of the same kind waits under the key, Join pairs the
	// two: it withdraws the waiting ticket, calls its Notify with
	// t.Offer, marks the key in use for t.InUseFor, and returns the
	// waiting ticket's offer with paired true. The waiting side leads.
	//
	// If a ticket of another kind waits, Join withdraws it, calls its
	// Notify with ErrKindMismatch and returns ErrKindMismatch.
	//
	// If the key was paired less than its InUseFor ago, Join returns
	// ErrKeyInUse.
	//
	// Otherwise Join stores t and returns paired false: t.Notify will be
	// called once a peer arrives, unless Leave withdraws t first.
	Join(ctx context.Context, t *Ticket) (peer Offer, paired bool, err error)

	// Leave withdraws t, which Join stored. It reports true when t was
	// withdrawn, and false when t was paired first, or notified of a
	// kind mismatch: then Notify has been called or will be soon.
	Leave(ctx context.Context, t *Ticket) bool
}

// Ticket is one client's place in a Matcher.
type Ticket struct {
	// Key names the session, in the server's namespaces.
	Key string

	// Offer is what the client brings, handed to its peer.
	Offer Offer

	// InUseFor is how long the key stays in use once paired, so that a
	// third client is refused rather than made to wait. Zero: not at all.
	InUseFor time.Duration

	// Notify tells a waiting ticket its outcome: the peer's offer and a
	// nil error, or a zero Offer and ErrKindMismatch. It must not block.
	Notify func(peer Offer, err error)
}

// Offer is what a client brings to the rendezvous, as the server saw it.
type Offer struct {
	// Addr is the client's public address: the remote address of its
	// connection to the server.
	Addr netip.AddrPort `json:"addr"`

	// Kind is the kind of session asked for; "" for legacy clients.
	Kind Kind `json:"kind,omitempty"`

	// Local, UDP, Info and Handshake are the version 1 request's fields,
	// as sent.
	Local     []netip.AddrPort `json:"local,omitempty"`
	UDP       []netip.AddrPort `json:"udp,omitempty"`
	Info      json.RawMessage  `json:"info,omitempty"`
	Handshake []byte           `json:"hs,omitempty"`

	// post is where the peer's session leaves the leader's reply for this
	// one, when the server relays (a pointer, which only a MemoryMatcher
	// passes on as it is); nil when it does not.
	post *postbox
}
