package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// tcpLab builds a lab through the CLI with `punch server` running on its
// server host, and returns the lab's record.
func tcpLab(t testing.TB, args ...string) *natlab.Lab {
	t.Helper()
	labtest.Require(t)
	name := labtest.Name()
	mustPunch(t, append([]string{"lab", "up", name}, args...)...)
	t.Cleanup(func() { punch(t, "lab", "down", name) })
	background(t, "lab", "exec", name, "server", "--", punchBin, "server",
		"--ip", "198.51.100.2", "--alt-ip", "198.51.100.3", "--ip", "2001:db8::2", "--alt-ip", "2001:db8::3")
	lab, err := natlab.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	server := labtest.Node(t, lab, "server")
	if err := server.WaitTCP("198.51.100.2:3477", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return lab
}

// side is one punch process run on a lab host.
type side struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

// start runs punch with args on host, with stdin from a file (or none).
func start(t testing.TB, lab *natlab.Lab, host string, stdin []byte, args ...string) *side {
	t.Helper()
	s := &side{done: make(chan error, 1)}
	s.cmd = exec.Command(punchBin, append([]string{"lab", "exec", lab.Config.Name, host, "--", punchBin}, args...)...)
	if stdin != nil {
		s.cmd.Stdin = bytes.NewReader(stdin)
	}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.cmd.Process.Kill() })
	return s
}

// wait waits for the process and returns its error, or fails the test
// after d.
func (s *side) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(d):
		s.cmd.Process.Kill()
		t.Fatalf("punch did not finish within %v; stderr:\n%s", d, s.stderr.String())
		return nil
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// exchange runs `punch tcp KEY < file > out` on hosts a and b at once and
// checks that each received the other's file unchanged.
func exchange(t *testing.T, lab *natlab.Lab, a, b string, extra ...string) {
	t.Helper()
	exchangeWith(t, "tcp", 1<<20, lab, a, b, extra...)
}

// exchangeWith runs `punch SUB KEY < file > out` with files of about size
// bytes.
func exchangeWith(t *testing.T, sub string, size int, lab *natlab.Lab, a, b string, extra ...string) {
	t.Helper()
	key := "exchange-" + labtest.Name()
	fileA, fileB := randomBytes(size), randomBytes(size*7/10+3)
	args := append([]string{sub, "-T", serverFor(extra)}, extra...)
	sa := start(t, lab, a, fileA, append(args, key)...)
	sb := start(t, lab, b, fileB, append(args, key)...)
	// 30 s, and a second more for every 4 MiB: 94 s for 256 MiB.
	limit := 30*time.Second + time.Duration(size>>22)*time.Second
	ea, eb := sa.wait(t, limit), sb.wait(t, limit)
	if ea != nil || eb != nil {
		t.Fatalf("punch %s failed: %v / %v\n%s: %s\n%s: %s", sub, ea, eb, a, sa.stderr.String(), b, sb.stderr.String())
	}
	checkFiles(t, fileA, fileB, sb.stdout.Bytes(), sa.stdout.Bytes())
	t.Logf("%s: %s", a, lastLine(sa.stderr.String()))
}

// checkFiles checks that b received what a sent and a what b sent.
func checkFiles(t *testing.T, sentA, sentB, gotB, gotA []byte) {
	t.Helper()
	if sha256.Sum256(gotB) != sha256.Sum256(sentA) || sha256.Sum256(gotA) != sha256.Sum256(sentB) {
		t.Fatalf("files differ: b received %d of %d bytes, a %d of %d", len(gotB), len(sentA), len(gotA), len(sentB))
	}
}

// serverFor returns the lab server's address of the family the flags ask
// for.
func serverFor(flags []string) string {
	for _, f := range flags {
		if f == "-6" {
			return "2001:db8::2"
		}
	}
	return "198.51.100.2"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// forwarding runs `punch tcp -c` on b in front of an echo service and
// `punch tcp -l` on a, then sends several connections at once through the
// forward.
func forwarding(t *testing.T, lab *natlab.Lab, a, b string, extra ...string) {
	t.Helper()
	forwardingWith(t, "tcp", 5, 200<<10, lab, a, b, extra...)
}

// forwardingWith runs `punch SUB -c` and `punch SUB -l` and sends conns
// connections of about size bytes each through the forward at once.
func forwardingWith(t *testing.T, sub string, conns, size int, lab *natlab.Lab, a, b string, extra ...string) {
	t.Helper()
	dial, stop := startForward(t, sub, lab, a, b, extra...)
	defer stop()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := randomBytes(size + i)
			go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("connection %d: %d of %d bytes came back (%v)", i, len(got), len(msg), err)
			}
		}()
	}
	wg.Wait()
}

// startForward runs `punch SUB -c 127.0.0.1:7007` on b, in front of an
// echo service there, and `punch SUB -l 7070` on a, waits until the
// forward listens, and returns a dialer of connections through it from a,
// and stop, which interrupts both sides (they must exit cleanly) and
// stops the echo service; cleanup calls stop too.
func startForward(tb testing.TB, sub string, lab *natlab.Lab, a, b string, extra ...string) (dial func() (net.Conn, error), stop func()) {
	tb.Helper()
	hostA, _ := lab.Node(a)
	hostB, _ := lab.Node(b)
	var echo net.Listener
	if err := hostB.Do(func() (err error) { echo, err = net.Listen("tcp", "127.0.0.1:7007"); return err }); err != nil {
		tb.Fatal(err)
	}
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	key := "forward-" + labtest.Name()
	args := append([]string{sub, "-T", serverFor(extra)}, extra...)
	sb := start(tb, lab, b, nil, append(args, "-c", "127.0.0.1:7007", key)...)
	sa := start(tb, lab, a, nil, append(args, "-l", "7070", key)...)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, s := range []*side{sa, sb} {
				s.cmd.Process.Signal(os.Interrupt)
				s.wait(tb, 10*time.Second)
			}
			echo.Close()
			if tb.Failed() {
				tb.Logf("%s: %s\n%s: %s", a, sa.stderr.String(), b, sb.stderr.String())
			}
		})
	}
	tb.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(sa.stderr.String(), "forwarding connections") {
		if time.Now().After(deadline) {
			tb.Fatalf("no forward after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dial = func() (c net.Conn, err error) {
		err = hostA.Do(func() (err error) { c, err = net.Dial("tcp", "127.0.0.1:7070"); return err })
		return c, err
	}
	return dial, stop
}

var tcpTypes = []natlab.NATType{natlab.FullCone, natlab.Restricted, natlab.PortRestricted, natlab.Firewall}

// TestTCPMatrix punches, exchanges files both ways and forwards several
// connections between hosts behind every pairing of fullcone, restricted,
// portrestricted and firewall, over IPv4 and IPv6, with 20 ms links.
func TestTCPMatrix(t *testing.T) {
	for i, x := range tcpTypes {
		for _, y := range tcpTypes[i:] {
			t.Run(fmt.Sprintf("%s-%s", x, y), func(t *testing.T) {
				lab := tcpLab(t, "--nat-a", string(x), "--nat-b", string(y), "--delay", "20ms")
				for _, family := range []string{"-4", "-6"} {
					t.Run(family, func(t *testing.T) {
						exchange(t, lab, "a", "b", family)
						forwarding(t, lab, "a", "b", family)
					})
				}
			})
		}
	}
}

// TestTCPUnsolicited punches between two port-restricted NATs that drop,
// reject or accept unsolicited packets, with instant and 20 ms links.
func TestTCPUnsolicited(t *testing.T) {
	for _, in := range natlab.Inputs {
		for _, delay := range []string{"0ms", "20ms"} {
			t.Run(fmt.Sprintf("%s/%s", in, delay), func(t *testing.T) {
				lab := tcpLab(t, "--input", string(in), "--delay", delay)
				exchange(t, lab, "a", "b", "-4")
				exchange(t, lab, "a", "b", "-6")
			})
		}
	}
}

// TestTCPSameNAT punches between two hosts behind one NAT (no
// hairpinning): they meet over their LAN addresses.
func TestTCPSameNAT(t *testing.T) {
	lab := tcpLab(t, "--nat-a", "portrestricted:hosts=2")
	exchange(t, lab, "a", "a2", "-4")
}

// TestTCPFastOpen checks that clients that met at the rendezvous before
// send their next request in the SYN (TCP Fast Open, with the cookie their
// kernels keep), and that the lab's server, configured for it, takes it:
// its TcpExtTCPFastOpenPassive counter counts such SYNs.
func TestTCPFastOpen(t *testing.T) {
	lab := tcpLab(t)
	server := labtest.Node(t, lab, "server")
	before := fastOpenPassive(t, server)
	exchange(t, lab, "a", "b", "-4") // the kernels get their cookies
	exchange(t, lab, "a", "b", "-4")
	if got := fastOpenPassive(t, server) - before; got < 2 {
		t.Errorf("%d requests came in a SYN, want both of the second exchange's", got)
	}
}

// TestTCPRelayedHandshake checks that through punch server the first
// flights of the secure handshake go through the rendezvous server
// (secure.Relayed): both sides log a relayed handshake, and the files
// cross intact.
func TestTCPRelayedHandshake(t *testing.T) {
	lab := tcpLab(t, "--delay", "20ms")
	key := "relayed-" + labtest.Name()
	fileA, fileB := randomBytes(1<<20), randomBytes(300<<10)
	args := []string{"-v", "tcp", "-4", "-T", "198.51.100.2", key}
	sa := start(t, lab, "a", fileA, args...)
	sb := start(t, lab, "b", fileB, args...)
	if ea, eb := sa.wait(t, 30*time.Second), sb.wait(t, 30*time.Second); ea != nil || eb != nil {
		t.Fatalf("punch tcp failed: %v / %v\na: %s\nb: %s", ea, eb, sa.stderr.String(), sb.stderr.String())
	}
	checkFiles(t, fileA, fileB, sb.stdout.Bytes(), sa.stdout.Bytes())
	for name, s := range map[string]*side{"a": sa, "b": sb} {
		if log := s.stderr.String(); !strings.Contains(log, "secure handshake done") || !strings.Contains(log, "relayed=true") {
			t.Errorf("%s did not log a relayed handshake:\n%s", name, log)
		}
	}
}

// fastOpenPassive returns how many SYNs with data node's kernel accepted.
func fastOpenPassive(t *testing.T, node *natlab.Node) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", node.Netns, "nstat", "-asz", "TcpExtTCPFastOpenPassive").Output()
	if err != nil {
		t.Fatalf("nstat: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "TcpExtTCPFastOpenPassive" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("nstat: %q", line)
			}
			return n
		}
	}
	t.Fatalf("nstat has no TcpExtTCPFastOpenPassive:\n%s", out)
	return 0
}

// TestTCPSymmetricFails checks that a symmetric NAT makes punch tcp fail
// within its deadline with advice.
func TestTCPSymmetricFails(t *testing.T) {
	lab := tcpLab(t, "--nat-b", "symmetric")
	args := []string{"tcp", "-4", "-T", "198.51.100.2", "--timeout", "3s", "symmetric-key"}
	sa, sb := start(t, lab, "a", []byte{}, args...), start(t, lab, "b", []byte{}, args...)
	for _, s := range []*side{sa, sb} {
		if err := s.wait(t, 20*time.Second); err == nil {
			t.Fatalf("punch tcp through a symmetric NAT succeeded:\n%s", s.stderr.String())
		}
	}
	if msg := sb.stderr.String(); !strings.Contains(msg, "NAT4") || !strings.Contains(msg, "punch udp") {
		t.Errorf("the side behind the symmetric NAT does not name it or say what to try:\n%s", msg)
	}
}

// TestTCPWrongKey checks that peers with different keys that meet (the
// rendezvous token is the same only for the same key, so this is a
// manual-mode test) are refused before any data flows.
func TestTCPWrongKey(t *testing.T) {
	lab := tcpLab(t)
	sa := start(t, lab, "a", []byte("secret from a"), "tcp", "--key", "one-key", "--source-port", "12345", "203.0.113.18", "54321")
	sb := start(t, lab, "b", []byte("secret from b"), "tcp", "--key", "other-key", "--source-port", "54321", "203.0.113.10", "12345")
	for _, s := range []*side{sa, sb} {
		if err := s.wait(t, 30*time.Second); err == nil {
			t.Errorf("a peer with the wrong key was accepted")
		}
		if s.stdout.Len() != 0 {
			t.Errorf("data flowed despite the wrong key: %q", s.stdout.String())
		}
		if !strings.Contains(s.stderr.String(), "same key") {
			t.Errorf("no hint about the key:\n%s", s.stderr.String())
		}
	}
}

// TestTCPNcat punches between punch in manual --plain mode and ncat,
// through two NATs.
func TestTCPNcat(t *testing.T) {
	if _, err := exec.LookPath("ncat"); err != nil {
		if labtest.Required() {
			t.Fatal("ncat is required (apt-get install ncat; make test does it)")
		}
		t.Skip("ncat not installed")
	}
	lab := tcpLab(t)
	sa := start(t, lab, "a", []byte("hello from punch"), "tcp", "--plain", "--source-port", "12345", "203.0.113.18", "54321")
	ncat := exec.Command(punchBin, "lab", "exec", lab.Config.Name, "b", "--", "ncat", "--source-port", "54321", "203.0.113.10", "12345")
	ncat.Stdin = strings.NewReader("hello from ncat")
	var ncatErr bytes.Buffer
	ncat.Stderr = &ncatErr
	out, err := ncat.Output()
	if err != nil {
		t.Fatalf("ncat: %v\n%s\npunch: %s", err, ncatErr.String(), sa.stderr.String())
	}
	if err := sa.wait(t, 30*time.Second); err != nil {
		t.Fatalf("punch: %v\n%s", err, sa.stderr.String())
	}
	if string(out) != "hello from punch" || sa.stdout.String() != "hello from ncat" {
		t.Errorf("ncat got %q, punch got %q", out, sa.stdout.String())
	}
}

// TestTCPBadInput checks that bad flags fail with a usage error.
func TestTCPBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"tcp", "-4", "-6", "-T", "x", "k"},
		{"tcp", "-s", "-r", "-T", "x", "k"},
		{"tcp", "-c", "a:1", "-l", "2", "-T", "x", "k"},
		{"tcp", "--source-port", "1", "onlyhost"},
		{"tcp", "--source-port", "1", "host", "99999", "--plain"},
		{"tcp", "--source-port", "1", "host", "2"},
		{"tcp", "-T", "x", "k1", "k2"},
		{"tcp", "-P", "0", "-T", "x", "k"},
	} {
		r := punch(t, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("punch %v: exit %d, stderr %q; want exit 2 with a message", args, r.code, r.stderr)
		}
	}
	os.Unsetenv("PUNCH_SERVER")
	if r := punch(t, "tcp", "k"); r.code != 2 || !strings.Contains(r.stderr, "rendezvous server") {
		t.Errorf("punch tcp without a server: exit %d, %q", r.code, r.stderr)
	}
}

// TestTCPInterrupt checks that Ctrl-C while waiting for the peer ends punch
// tcp at once with the interrupt's exit status.
func TestTCPInterrupt(t *testing.T) {
	lab := tcpLab(t)
	s := start(t, lab, "a", nil, "tcp", "-4", "-T", "198.51.100.2", "lonely-key")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "waiting for the peer") {
		if time.Now().After(deadline) {
			t.Fatalf("not waiting: %s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd.Process.Signal(os.Interrupt)
	err := s.wait(t, 10*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 || !strings.Contains(s.stderr.String(), "interrupted") {
		t.Errorf("after Ctrl-C: %v, stderr %q; want exit 130 and \"interrupted\"", err, s.stderr.String())
	}
}
