package rendezvous

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Relaying the first flights: when both clients of a pair sent a
// handshake flight and the server pairs in its own memory, each answer
// carries the peer's flight, and the leader's session reads one more line
// from its client, the reply, which the follower's session passes on to
// its own. A session that may relay makes a postbox before it joins the
// MemoryMatcher, in its Offer. When it pairs at once, as the follower,
// the leader's session finds the postbox in the offer it is notified
// with (Notify runs inside the follower's Join, so the postbox must exist
// before), and posts the reply there, or nil when there is none; the
// follower's session waits on it after its own answer. A waiting
// session's postbox, a leader's, goes unused.

// postbox carries the leader's reply from the leader's session to the
// follower's.
type postbox struct {
	reply chan []byte // buffered; sent to at most once: the reply or nil
	by    time.Time   // the leader's reply must arrive by then
}

// relayGrace is how long the follower's session waits for a post past
// the reply's deadline. The leader's session posts by the deadline; the
// grace only ends a wait whose leader's session ended without posting,
// when its Serve call stopped before it was notified.
const relayGrace = time.Second

// errBadReply marks a malformed reply from a leader.
var errBadReply = errors.New("malformed reply")

// newPostbox is the postbox of a session that may relay, made before it
// joins: should it pair at once as the follower, the leader's reply must
// arrive within timeout.
func newPostbox(timeout time.Duration) *postbox {
	return &postbox{reply: make(chan []byte, 1), by: time.Now().Add(timeout)}
}

// relays reports whether the server relays the flights between the
// session and peer: both sent one and the matcher is a MemoryMatcher,
// which is when the session's offer has a postbox (and, for a leader,
// the follower's offer has one too).
func (ss *session) relays(peer Offer, leader bool) bool {
	if ss.Offer.post == nil || len(peer.Handshake) == 0 {
		return false
	}
	return !leader || peer.post != nil
}

// takeReply reads the leader's reply by the follower's deadline and posts
// it to the follower's session, or posts nil when there is none: the
// client left, stayed silent or sent a malformed line, which gets a
// bad-request answer.
func (ss *session) takeReply(ctx context.Context, post *postbox) {
	s, c := ss.s, ss.c
	ss.notifying.Lock() // notify has set its deadline: set ours after it
	c.SetReadDeadline(post.by)
	ss.notifying.Unlock()
	buf := s.bufs.Get().(*helloBuf)
	reply, err := readReply(c, buf[:MaxRequestSize])
	s.bufs.Put(buf)
	post.reply <- reply
	switch {
	case err == nil:
		s.relayed.Add(1)
		ss.debug(ctx, "relayed the leader's reply", "bytes", len(reply))
	case errors.Is(err, errBadReply) && ctx.Err() == nil:
		s.malformed.Add(1)
		ss.fail(ctx, CodeBadRequest, err.Error())
	default:
		ss.debug(ctx, "no reply from the leader", "err", err)
	}
}

// forwardReply waits for the leader's reply and passes it on to the
// follower's client. The wait ends when the leader's session posts (by
// the reply's deadline), when ctx is done or, as a safeguard, relayGrace
// after the deadline.
func (ss *session) forwardReply(ctx context.Context) {
	post := ss.Offer.post
	t := time.NewTimer(time.Until(post.by) + relayGrace)
	defer t.Stop()
	var reply []byte
	select {
	case reply = <-post.reply:
	case <-t.C:
	case <-ctx.Done():
	}
	if reply == nil {
		ss.debug(ctx, "no reply to pass on")
		return
	}
	ss.s.write(ss.c, marshalReply(reply))
}

// readReply reads a reply line into buf, at most len(buf) bytes with its
// "\n", and parses it. A malformed line, or one not complete when the
// read deadline passes, gives an error wrapping errBadReply; a client that
// leaves or stays silent, the error of the Read.
func readReply(r io.Reader, buf []byte) ([]byte, error) {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			if i+1 != m {
				return nil, fmt.Errorf("%w: data after the line", errBadReply)
			}
			reply, err := parseReply(buf[:n+i])
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errBadReply, err)
			}
			return reply, nil
		}
		n += m
		switch {
		case err != nil && n > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("%w: line not complete in time", errBadReply)
		case err != nil:
			return nil, err
		case n == len(buf):
			return nil, fmt.Errorf("%w: line longer than %d bytes", errBadReply, len(buf))
		}
	}
}

// marshalReply is the reply line that carries b.
func marshalReply(b []byte) []byte {
	var buf bytes.Buffer
	encodeLine(&buf, wireReply{HS: base64.StdEncoding.EncodeToString(b)})
	return buf.Bytes()
}

// parseReply parses a reply line without its "\n".
func parseReply(line []byte) ([]byte, error) {
	var w wireReply
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	hs, err := decodeHandshake(w.HS)
	if err != nil {
		return nil, fmt.Errorf("hs: %v", err)
	}
	return hs, nil
}

// decodeHandshake decodes a handshake flight: standard base64 with
// padding, 1 to MaxHandshakeSize bytes decoded.
func decodeHandshake(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("not base64: %v", err)
	case len(b) == 0:
		return nil, errors.New("missing or empty")
	case len(b) > MaxHandshakeSize:
		return nil, fmt.Errorf("larger than %d bytes", MaxHandshakeSize)
	}
	return b, nil
}
