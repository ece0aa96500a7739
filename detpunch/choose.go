package detpunch

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"

	"github.com/punchkit/punch/tcppunch"
)

// chosen is the byte the leader sends on the connection it chose.
const chosen = '$'

// planMark starts the plan message that each side sends on the
// connections that lose: planMark, then its two buckets as 8-byte
// big-endian two's complement integers (see [sprayer.finish]).
const (
	planMark = 'B'
	planLen  = 17
)

// planMessage returns the plan message of buckets.
func planMessage(buckets [2]int64) []byte {
	m := make([]byte, 1, planLen)
	m[0] = planMark
	m = binary.BigEndian.AppendUint64(m, uint64(buckets[0]))
	return binary.BigEndian.AppendUint64(m, uint64(buckets[1]))
}

// choose (leader) sends '$' on the first candidate that takes it.
func (s *sprayer) choose() *candidate {
	for _, c := range s.candidates {
		if _, err := unix.Write(c.a.Fd(), []byte{chosen}); err != nil {
			s.cfg.Logger.Debug("detpunch: cannot choose", "port", c.p.local.Port(), "err", err)
			s.lastErr = err
			release(c.a)
			c.a = nil
			continue
		}
		return c
	}
	s.candidates = dropClosed(s.candidates)
	return nil
}

// read (follower) reads candidate c: a first byte '$' makes it the
// winner; a plan message (the leader's, sent on the connections it did
// not choose) is kept in s.peerPlan and c stays open; the end of the
// stream, an error or anything else ends it.
func (s *sprayer) read(c *candidate) *candidate {
	if len(c.msg) == 0 {
		var b [1]byte
		n, err := unix.Read(c.a.Fd(), b[:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case n == 1 && b[0] == chosen:
			return c
		case n == 1 && b[0] == planMark:
			c.msg = b[:]
			return nil
		}
		s.cfg.Logger.Debug("detpunch: not chosen", "port", c.p.local.Port(), "n", n, "err", err)
		release(c.a)
		c.a = nil
		return nil
	}
	if err := readPlan(c, &s.peerPlan); err != nil {
		release(c.a)
		c.a = nil
	}
	return nil
}

// readPlan reads more of c's plan message and sets *plan when it is
// whole. An error means c carries something else or ended.
func readPlan(c *candidate, plan **[2]int64) error {
	if len(c.msg) == planLen {
		return errors.New("detpunch: more than a plan message")
	}
	var buf [planLen]byte
	n, err := unix.Read(c.a.Fd(), buf[:planLen-len(c.msg)])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return nil
	case err != nil:
		return err
	case n == 0:
		return errors.New("detpunch: connection ended")
	}
	c.msg = append(c.msg, buf[:n]...)
	switch {
	case c.msg[0] != planMark:
		return errors.New("detpunch: not a plan message")
	case len(c.msg) == planLen:
		*plan = &[2]int64{int64(binary.BigEndian.Uint64(c.msg[1:9])), int64(binary.BigEndian.Uint64(c.msg[9:]))}
	}
	return nil
}

// dropClosed removes the candidates whose connection was let go.
func dropClosed(cs []*candidate) []*candidate {
	out := cs[:0]
	for _, c := range cs {
		if c.a != nil {
			out = append(out, c)
		}
	}
	return out
}

// release closes a connection that lost gracefully: what the peer sent is
// read and dropped, then FIN. Conntrack lets either side's next SYN reopen
// an entry closed so (TIME_WAIT), and a host's TIME-WAIT does not refuse
// a connect from a bound port (TCP timestamps). A RST would close the
// entry in a way that only the side whose RST came last may reopen, and
// for 10 s the other side's SYNs on the 4-tuple are dropped (measured in
// the lab: back-to-back runs then came up only on the port chosen last
// time). A socket still in SYN-SENT closes without a packet.
func release(a *tcppunch.Attempt) {
	var buf [512]byte
	for {
		if n, err := unix.Read(a.Fd(), buf[:]); n <= 0 || err != nil {
			break
		}
	}
	unix.Shutdown(a.Fd(), unix.SHUT_WR)
	a.Close()
}
