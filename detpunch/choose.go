package detpunch

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/punchkit/punch/tcppunch"
)

// chosen is the byte the leader sends on the connection it chose.
const chosen = '$'

// choose (leader) sends '$' on the first candidate that takes it.
func (s *sprayer) choose() *candidate {
	for i := range s.candidates {
		c := &s.candidates[i]
		if _, err := unix.Write(c.a.Fd(), []byte{chosen}); err != nil {
			s.cfg.Logger.Debug("detpunch: cannot choose", "port", c.p.local.Port(), "err", err)
			s.lastErr = err
			release(c.a, true)
			c.a = nil
			continue
		}
		return c
	}
	s.candidates = dropClosed(s.candidates)
	return nil
}

// read (follower) reads the first byte of candidate j: '$' makes it the
// winner; the end of the stream, an error or another byte ends it.
func (s *sprayer) read(j int) *candidate {
	c := &s.candidates[j]
	var b [1]byte
	n, err := unix.Read(c.a.Fd(), b[:])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return nil
	case n == 1 && b[0] == chosen:
		return c
	}
	s.cfg.Logger.Debug("detpunch: not chosen", "port", c.p.local.Port(), "n", n, "err", err)
	release(c.a, false)
	c.a = nil
	return nil
}

// dropClosed removes the candidates whose connection was let go.
func dropClosed(cs []candidate) []candidate {
	out := cs[:0]
	for _, c := range cs {
		if c.a != nil {
			out = append(out, c)
		}
	}
	return out
}

// finish hands the winner over; closeAll then lets the rest go.
func (s *sprayer) finish(win *candidate) (*Result, error) {
	a := win.a
	win.a = nil
	conn, err := a.Conn()
	if err != nil {
		return nil, err
	}
	res := &Result{Conn: conn, Bucket: win.p.bucket, Port: win.p.local.Port(), Took: time.Since(s.Start)}
	s.cfg.Logger.Debug("detpunch: chosen", "port", res.Port, "bucket", res.Bucket, "leader", s.Leader, "after", res.Took)
	return res, nil
}

// closeAll lets every socket but the winner go. The leader shuts the
// losing connections down (FIN); the follower, which closes only once the
// winner is chosen, aborts them (RST), which leaves no TIME-WAIT behind on
// either side to block the port for the next run. Connects still in
// flight close without a packet.
func (s *sprayer) closeAll() {
	for _, p := range s.ports {
		p.ln.Close()
		if p.try != nil {
			release(p.try, s.Leader)
		}
	}
	for _, c := range s.candidates {
		if c.a != nil {
			release(c.a, s.Leader)
		}
	}
}

// release closes a losing socket: shut down cleanly (FIN) or aborted
// (RST). Neither sends anything for a socket still in SYN-SENT.
func release(a *tcppunch.Attempt, clean bool) {
	if clean {
		unix.Shutdown(a.Fd(), unix.SHUT_RDWR)
	} else {
		unix.SetsockoptLinger(a.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	a.Close()
}
