package punch

import (
	"fmt"
	"slices"
	"time"
)

// Path is a way to reach the peer.
type Path string

// The paths punch races.
const (
	// PathReverse is a plain TCP connection to the side that has no NAT,
	// from the other (the reverse connection of seed 004: the side that
	// can accept has the other dial it), secured as PathTCP.
	PathReverse Path = "reverse"
	// PathTCP is TCP simultaneous open (or a plain connection, when one
	// side can accept), secured with TLS 1.3 and a PAKE.
	PathTCP Path = "tcp"
	// PathUDP is UDP hole punching with a QUIC tunnel.
	PathUDP Path = "udp"
	// PathRelay is the punch server's TURN relay with a QUIC tunnel.
	PathRelay Path = "relay"
)

// Paths lists every path, in the order they are shown.
var Paths = []Path{PathReverse, PathTCP, PathUDP, PathRelay}

// ParsePath parses a path name.
func ParsePath(s string) (Path, error) {
	if p := Path(s); slices.Contains(Paths, p) {
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown path %q: want one of %q", ErrConfig, s, Paths)
}

// Attempt is what became of one path in the race.
type Attempt struct {
	Path Path
	// Won is true for the path the session uses.
	Won bool
	// Err says why the path failed or was not used: ErrLost when another
	// path won first.
	Err error
	// Took is how long the path took to come up (or to fail), from the
	// start of the race.
	Took time.Duration
}

func (a Attempt) String() string {
	switch {
	case a.Won:
		return fmt.Sprintf("%s: won in %v", a.Path, a.Took.Round(time.Millisecond))
	case a.Took == 0:
		return fmt.Sprintf("%s: %v", a.Path, a.Err)
	}
	return fmt.Sprintf("%s: %v (after %v)", a.Path, a.Err, a.Took.Round(time.Millisecond))
}
