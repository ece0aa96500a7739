package rendezvous

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Key namespaces: legacy keys and version 1 tokens never pair.
const (
	legacyNamespace = "legacy:"
	v1Namespace     = "v1:"
)

// aLongTimeAgo is a deadline in the past, to wake a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// session is one client from its handshake to its answer, and to the
// relayed reply when there is one.
type session struct {
	Ticket
	s        *Server
	c        net.Conn
	conns    *sync.WaitGroup // of the Serve call
	stop     func() bool     // stops closing c when Serve's ctx is done
	v1       bool
	src      netip.Addr // what MaxWaitingPerIP counts
	reserved bool       // src's slot is taken
	done     chan struct{}

	// Set by notify before done is closed.
	peer Offer
	err  error
	// notifying is held by notify, so that a relaying leader can wait
	// for it to end before it sets a read deadline of its own.
	notifying sync.Mutex
}

// notify is the session's Ticket.Notify: it records the outcome and wakes
// the session's goroutine from its Read.
func (ss *session) notify(peer Offer, err error) {
	ss.notifying.Lock()
	defer ss.notifying.Unlock()
	ss.peer, ss.err = peer, err
	close(ss.done)
	ss.c.SetReadDeadline(aLongTimeAgo)
}

// serveConn serves one client connection, closes it and marks it done in
// conns. Serve has counted it in s.conns, s.wg and conns.
func (s *Server) serveConn(ctx context.Context, c net.Conn, conns *sync.WaitGroup) {
	ss := &session{s: s, c: c, conns: conns}
	ss.stop = context.AfterFunc(ctx, func() { c.Close() })
	if !ss.start(ctx) {
		ss.finish()
	}
}

// finish closes the session's connection and ends its accounting.
func (ss *session) finish() {
	ss.stop()
	ss.c.Close()
	ss.s.conns.Add(-1)
	ss.conns.Done()
	ss.s.wg.Done()
}

// start reads the client's key or request and joins the matcher. It
// answers the client when it can at once (paired, refused, malformed),
// passes on the leader's reply when the server relays, and returns false;
// when the client must wait, it hands the session to a new goroutine,
// which finishes it, and returns true. The waiting goroutine
// starts with a small stack and keeps it: the handshake's JSON decoding
// grows the stack of this one.
func (ss *session) start(ctx context.Context) bool {
	s, c := ss.s, ss.c
	from, ok := observedAddr(c.RemoteAddr())
	if !ok {
		return false
	}
	c.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	buf := s.bufs.Get().(*helloBuf)
	h, err := readHello(c, buf)
	s.bufs.Put(buf)
	if err != nil {
		s.malformed.Add(1)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("rendezvous: bad handshake", "from", from, "v1", h.v1, "err", err)
		}
		if h.v1 && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			msg := err.Error()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				msg = fmt.Sprintf("request not complete within %v", s.cfg.HandshakeTimeout)
			}
			s.write(c, marshalError(CodeBadRequest, msg))
			lingerClose(c, s.cfg.HandshakeTimeout)
		}
		return false
	}

	ss.v1, ss.src = h.v1, sourceOf(from.Addr())
	ss.Offer.Addr = from
	ss.InUseFor = s.cfg.InUseFor
	if h.v1 {
		ss.Key = v1Namespace + hex.EncodeToString(h.req.Token[:])
		ss.Offer.Kind, ss.Offer.Local, ss.Offer.UDP, ss.Offer.Info = h.req.Kind, h.req.Local, h.req.UDP, h.req.Info
		if ss.Offer.Handshake = h.req.Handshake; ss.Offer.Handshake != nil && s.relays {
			ss.Offer.post = newPostbox(s.cfg.HandshakeTimeout)
		}
	} else {
		ss.Key = legacyNamespace + hex.EncodeToString(h.key[:])
	}
	ss.done = make(chan struct{})
	ss.Notify = ss.notify

	peer, paired, err := s.matcher.Join(ctx, &ss.Ticket)
	switch {
	case err != nil:
		ss.refuse(ctx, err)
		return false
	case paired:
		s.pairings.Add(1)
		if ss.answer(ctx, peer, false) {
			ss.forwardReply(ctx)
		}
		return false
	}

	// The session waits: it needs a slot of its source. Taking it only
	// now lets a client pair with one from its own address when that
	// address has no slot left.
	ss.reserved = s.reserve(ss.src)
	if !ss.reserved && s.matcher.Leave(context.WithoutCancel(ctx), &ss.Ticket) {
		s.refused.Add(1)
		ss.fail(ctx, CodeTooMany, fmt.Sprintf("more than %d sessions wait from your address", s.cfg.MaxWaitingPerIP))
		return false
	}
	// Without a slot, the ticket was paired before Leave: the wait ends
	// at once.
	s.waiting.Add(1)
	c.SetReadDeadline(time.Now().Add(s.cfg.WaitTimeout))
	go ss.wait(ctx)
	return true
}

// wait blocks until the session is notified, its client sends something or
// leaves, WaitTimeout passes or ctx is done, then answers and finishes the
// session. One Read does it all: notify and the deadline wake it, and it
// returns when the client closes. It runs in a goroutine of its own,
// which spends the wait in the Read with a shallow stack.
func (ss *session) wait(ctx context.Context) {
	var n int
	var err error
	if !isDone(ss.done) {
		// A notify from here on sets the read deadline after start did.
		var one [1]byte
		n, err = ss.c.Read(one[:])
	}
	outcome := ss.outcome(ctx, n, err)
	s := ss.s
	s.waiting.Add(-1)
	if ss.reserved {
		s.release(ss.src)
	}
	switch {
	case outcome == waitPaired && ss.err != nil:
		ss.refuse(ctx, ss.err)
	case outcome == waitPaired:
		if ss.answer(ctx, ss.peer, true) {
			ss.takeReply(ctx, ss.peer.post)
		}
	case outcome == waitTimeout:
		s.timeouts.Add(1)
		ss.fail(ctx, CodeTimeout, fmt.Sprintf("no peer arrived within %v", s.cfg.WaitTimeout))
	case outcome == waitData:
		s.malformed.Add(1)
		ss.fail(ctx, CodeBadRequest, "data sent while waiting")
	default:
		ss.debug(ctx, "waiting client left")
	}
	ss.finish()
}

// matcherMessages are the messages of the errors a Matcher returns.
var matcherMessages = map[string]string{
	CodeKeyInUse:     "this key has just paired: a third client is not let in",
	CodeKindMismatch: "the peer asked for another kind of session",
}

// How a wait ends.
type waitOutcome int

const (
	waitPaired  waitOutcome = iota // notified: ss.peer or ss.err is set
	waitTimeout                    // WaitTimeout passed
	waitData                       // the client sent something
	waitGone                       // the client left or the server stops
)

// outcome says how the wait ended, given what the Read returned,
// withdrawing the ticket unless it was notified.
func (ss *session) outcome(ctx context.Context, n int, err error) waitOutcome {
	if isDone(ss.done) {
		return waitPaired
	}
	if ss.s.matcher.Leave(context.WithoutCancel(ctx), &ss.Ticket) {
		switch {
		case n > 0:
			return waitData
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
			return waitTimeout
		}
		return waitGone
	}
	// Paired while we gave up: the notification is on its way.
	t := time.NewTimer(ss.s.cfg.HandshakeTimeout)
	defer t.Stop()
	select {
	case <-ss.done:
		return waitPaired
	case <-t.C:
		ss.s.log.Warn("rendezvous: matcher paired a session but did not notify it", "client", ss.Offer.Addr)
		return waitGone
	case <-ctx.Done():
		return waitGone
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// answer tells the client its peer. It reports whether the server relays
// the flights of the pair, so that the connection stays open.
func (ss *session) answer(ctx context.Context, peer Offer, leader bool) bool {
	if !ss.v1 {
		ss.s.write(ss.c, legacyAnswer(peer.Addr))
		ss.debug(ctx, "paired", "peer", peer.Addr, "leader", leader)
		return false
	}
	m := &Match{
		Peer:      peer.Addr,
		Self:      ss.Offer.Addr,
		PeerLocal: peer.Local,
		PeerUDP:   peer.UDP,
		PeerInfo:  peer.Info,
		Leader:    leader,
	}
	if g := ss.s.cfg.Grant; g != nil {
		m.Relay = g(ss.Offer.Kind, strings.TrimPrefix(ss.Key, v1Namespace))
	}
	relays := ss.relays(peer, leader)
	if relays {
		m.PeerHandshake = peer.Handshake
	}
	ss.s.write(ss.c, marshalMatch(m))
	ss.debug(ctx, "paired", "peer", peer.Addr, "leader", leader, "relays", relays)
	return relays
}

// refuse answers a Matcher's error.
func (ss *session) refuse(ctx context.Context, err error) {
	ss.s.refused.Add(1)
	code := errorCode(err)
	msg, ok := matcherMessages[code]
	if !ok {
		ss.s.log.Warn("rendezvous: matcher failed", "err", err)
		code, msg = CodeTimeout, "the server cannot pair sessions now"
	}
	ss.fail(ctx, code, msg)
}

// fail answers with an error: a version 1 error line, or, for a legacy
// client, nothing (the connection is closed).
func (ss *session) fail(ctx context.Context, code, msg string) {
	ss.debug(ctx, "refused", "code", code, "msg", msg)
	if ss.v1 {
		ss.s.write(ss.c, marshalError(code, msg))
		if code == CodeBadRequest {
			lingerClose(ss.c, ss.s.cfg.HandshakeTimeout)
		}
	}
}

func (ss *session) debug(ctx context.Context, msg string, args ...any) {
	if ss.s.log.Enabled(ctx, slog.LevelDebug) {
		ss.s.log.Debug("rendezvous: "+msg, append([]any{"client", ss.Offer.Addr, "v1", ss.v1}, args...)...)
	}
}

// write sends an answer, giving up after HandshakeTimeout.
func (s *Server) write(c net.Conn, b []byte) {
	c.SetWriteDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	c.Write(b)
}

// lingerClose half-closes c and reads what the client still sends, so that
// closing c does not reset the connection before the client has read its
// error (a TCP close with unread data sends RST). It reads at most 64 KiB
// for at most d, or one second, whichever is shorter.
func lingerClose(c net.Conn, d time.Duration) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(min(d, time.Second)))
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}
