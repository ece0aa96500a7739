package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/secure"
)

// Ports of the punch server that section 5 runs next to the demo's own
// STUN and rendezvous servers.
const (
	connectRendezvousPort = "4477"
	connectSTUNPort       = "4478"
)

// connect runs punch server (STUN, rendezvous, relay) on the lab's server
// and punch connect between hosts a and b (cone NATs), a and c (the
// birthday technique against a symmetric NAT), and c and d (two NATs that
// map each destination to a new port: the relay).
func connect(ctx context.Context, w io.Writer, l *natlab.Lab, bin string) error {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	server, _ := l.Node("server")
	srv := server.Command(ctx, bin, "server", "--ip", "198.51.100.2", "--alt-ip", "198.51.100.3",
		"--rendezvous-port", connectRendezvousPort, "--stun-port", connectSTUNPort, "--alt-port", "4479", "--relay-port", "4480")
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	if err := server.WaitTCP("198.51.100.2:"+connectRendezvousPort, 10*time.Second); err != nil {
		return err
	}
	for _, pair := range [][2]string{{"a", "b"}, {"a", "c"}, {"c", "d"}} {
		connectPair(ctx, w, l, bin, pair)
	}
	return nil
}

// connectPair runs punch connect on two hosts, each sending a greeting,
// and shows the path and what arrived.
func connectPair(ctx context.Context, w io.Writer, l *natlab.Lab, bin string, pair [2]string) {
	key := secure.NewKey()
	var cmds [2]*exec.Cmd
	var outs, errs [2]bytes.Buffer
	for i, name := range pair {
		host, _ := l.Node(name)
		cmds[i] = host.Command(ctx, bin, "connect", "-T", "198.51.100.2", "-P", connectRendezvousPort,
			"--stun-port", connectSTUNPort, "--timeout", "5s", key)
		cmds[i].Stdin = strings.NewReader("hello via punch connect from " + name)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
		cmds[i].WaitDelay = time.Second
		cmds[i].Start()
	}
	for _, c := range cmds {
		c.Wait()
	}
	a, _ := l.Node(pair[0])
	b, _ := l.Node(pair[1])
	fmt.Fprintf(w, "   %s (%s) <-> %s (%s):\n", pair[0], a.NAT, pair[1], b.NAT)
	for i, name := range pair {
		status := "no connection: " + lastLine(errs[i].String())
		for _, line := range strings.Split(errs[i].String(), "\n") {
			if strings.Contains(line, "connected via") {
				status = strings.TrimPrefix(line, "punch: ")
			}
		}
		fmt.Fprintf(w, "     %s: %s\n", name, status)
		if outs[i].Len() > 0 {
			fmt.Fprintf(w, "     %s received %q\n", name, outs[i].String())
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
