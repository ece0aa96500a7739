package session

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/punchkit/punch/rendezvous"
	"github.com/punchkit/punch/secure"
	"github.com/punchkit/punch/tcppunch"
)

// Meet runs the rendezvous exchange on conn (a TCP connection to the
// server) with req.Token, or if that is zero the token of o.Key, and
// closes conn, unless the answer carries the peer's handshake
// (Match.PeerHandshake): then the server relays one more message on conn,
// and the caller closes it. While it waits for the
// peer it measures the hop count past this host's NATs (into o.TTL), which
// a leader needs for its low-TTL first packet: it is the same toward the
// server as toward the peer. The probe runs on the calling goroutine, so
// that its socket is opened where the caller's are (a caller may run
// inside a network namespace); the exchange only uses conn.
func Meet(ctx context.Context, conn net.Conn, req rendezvous.Request, o *Options) (m *rendezvous.Match, err error) {
	defer func() {
		if err != nil || m.PeerHandshake == nil {
			conn.Close()
		}
	}()
	if req.Token == ([32]byte{}) {
		req.Token = secure.Token(o.Key)
	}
	type answer struct {
		m   *rendezvous.Match
		err error
	}
	answered := make(chan answer, 1)
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go func() {
		m, err := rendezvous.Exchange(ctx, conn, req)
		if err != nil || !m.Leader {
			stopProbe() // only a leader needs the hop count
		}
		answered <- answer{m, err}
	}()
	ttl, perr := tcppunch.ProbeHops(probeCtx, conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(), 300*time.Millisecond)
	o.log().Debug("session: hop probe", "ttl", ttl, "err", perr)
	o.TTL = ttl
	a := <-answered
	if a.err != nil {
		return nil, a.err
	}
	o.log().Debug("session: met the peer", "peer", a.m.Peer, "self", a.m.Self, "leader", a.m.Leader,
		"peer_local", a.m.PeerLocal, "peer_udp", a.m.PeerUDP)
	return a.m, nil
}

// Unreachable explains a failure to reach the rendezvous server.
func Unreachable(server string, err error) error {
	return fmt.Errorf("cannot reach the rendezvous server %s: %w (is `punch server` running there, and is TCP port %d open?)", server, err, rendezvous.DefaultPort)
}

// tcpNetwork and udpNetwork turn either spelling of a family into the
// network name of one transport.
func tcpNetwork(n string) string {
	return "tcp" + strings.TrimPrefix(strings.TrimPrefix(n, "tcp"), "udp")
}
func udpNetwork(n string) string {
	return "udp" + strings.TrimPrefix(strings.TrimPrefix(n, "tcp"), "udp")
}
