package e2e

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/detpunch"
	"github.com/punchkit/punch/natlab"
)

// detRun describes one punch det exchange between hosts a and b of a lab.
type detRun struct {
	first  string        // the host that starts first, "a" or "b"
	is4    bool          // IPv4, else IPv6
	maxErr time.Duration // --max-clock-error; 0 for the default
	run    time.Duration // --run-window and the gap between the starts; 0 for the default
	// ahead: the second side's clock is maxErr ahead of the first's;
	// otherwise it is maxErr behind.
	ahead bool
	stun  bool // learn the public IPs from the lab's STUN server
}

func (r detRun) String() string {
	family, skew, ip := "-6", "behind", "my-ip"
	if r.is4 {
		family = "-4"
	}
	if r.ahead {
		skew = "ahead"
	}
	if r.stun {
		ip = "stun"
	}
	return fmt.Sprintf("%s-first%s-%s-%s", r.first, family, skew, ip)
}

var (
	bucketsRE   = regexp.MustCompile(`buckets (-?\d+) and (-?\d+)`)
	connectedRE = regexp.MustCompile(`connected to .*`)
)

// exchange runs `punch det < file > out` on both hosts, the second a whole
// run window after the first, with clocks the maximum error apart and
// placed on either side of a bucket boundary, so that the sides' own
// buckets differ and only the neighbouring bucket can bring them
// together. It checks that each side received the other's file.
func (r detRun) exchange(t *testing.T, lab *natlab.Lab) {
	t.Helper()
	maxErr, run := r.maxErr, r.run
	if maxErr == 0 {
		maxErr, run = detpunch.DefaultMaxClockError, detpunch.DefaultRunWindow
	}
	second := map[string]string{"a": "b", "b": "a"}[r.first]
	ip := func(host string) string {
		n, err := lab.Node(host)
		if err != nil {
			t.Fatal(err)
		}
		return n.PublicAddr(r.is4).String()
	}
	family := "-6"
	if r.is4 {
		family = "-4"
	}
	// args are the arguments for host, whose clock is to read clock now.
	args := func(host string, clock time.Time) []string {
		a := []string{"det", family, "--clock-offset", time.Until(clock).String()}
		if r.maxErr != 0 {
			a = append(a, "--max-clock-error", maxErr.String(), "--run-window", run.String())
		}
		if r.stun {
			a = append(a, "--stun", serverFor([]string{family}))
		} else {
			a = append(a, "--my-ip", ip(host))
		}
		return append(a, ip(map[string]string{"a": "b", "b": "a"}[host]))
	}
	// The clock times the two sides read when they start: the later
	// start reads a clock run + maxErr (ahead) or run - maxErr (behind)
	// later than the first, and a bucket boundary lies between them with
	// at least a second to spare on each side.
	distance := run - maxErr
	if r.ahead {
		distance = run + maxErr
	}
	clock1, clock2 := straddle(time.Now(), maxErr, distance)
	file1, file2 := randomBytes(300<<10), randomBytes(200<<10+7)
	s1 := start(t, lab, r.first, file1, args(r.first, clock1)...)
	time.Sleep(run)
	s2 := start(t, lab, second, file2, args(second, clock2)...)
	limit := run + detpunch.DefaultMargin + 30*time.Second
	e1, e2 := s1.wait(t, limit), s2.wait(t, limit)
	if e1 != nil || e2 != nil {
		t.Fatalf("punch det failed: %v / %v\n%s: %s\n%s: %s", e1, e2, r.first, s1.stderr.String(), second, s2.stderr.String())
	}
	if sha256.Sum256(s2.stdout.Bytes()) != sha256.Sum256(file1) || sha256.Sum256(s1.stdout.Bytes()) != sha256.Sum256(file2) {
		t.Fatalf("files differ: %s received %d of %d bytes, %s %d of %d", second, s2.stdout.Len(), len(file1), r.first, s1.stdout.Len(), len(file2))
	}
	b1, b2 := bucketsRE.FindStringSubmatch(s1.stderr.String()), bucketsRE.FindStringSubmatch(s2.stderr.String())
	if b1 == nil || b2 == nil || b1[1] == b2[1] {
		t.Fatalf("the sides' own buckets do not differ (%v, %v): the run did not test the neighbouring bucket\n%s\n%s", b1, b2, s1.stderr.String(), s2.stderr.String())
	}
	t.Logf("%s: %s", r.first, lastLine(s1.stderr.String()))
	t.Logf("%s: %s", second, lastLine(s2.stderr.String()))
}

// straddle returns two clock times distance apart (either sign) with a
// bucket boundary half-way between them, after now.
func straddle(now time.Time, maxErr, distance time.Duration) (time.Time, time.Time) {
	w := detpunch.Window(maxErr)
	half := distance / 2
	if half < 0 {
		half = -half
	}
	// Boundaries lie at clock times maxErr + k·w (Unix time).
	k := (now.UnixNano() - int64(maxErr) + int64(half)) / int64(w)
	boundary := time.Unix(0, int64(maxErr)+(k+1)*int64(w))
	if distance > 0 {
		return boundary.Add(-half), boundary.Add(half)
	}
	return boundary.Add(half), boundary.Add(-half)
}

// TestDetMatrix punches with punch det between hosts behind every
// port-preserving NAT type, each type once on each side, with 20 ms links:
// the follower first and the leader first, a run window apart, with
// clocks the maximum error apart either way, over IPv4 and IPv6, and with
// public IPs given and learned from STUN. A maximum error of 6 s and a run
// window of 2 s keep the runs short and the bucket boundary at least 2 s
// from either side's clock whichever way the clocks differ (8 s apart
// ahead, 4 s behind), so that the processes' start-up time cannot move a
// clock across it.
func TestDetMatrix(t *testing.T) {
	const maxErr, run = 6 * time.Second, 2 * time.Second
	for i, x := range tcpTypes {
		y := tcpTypes[(i+1)%len(tcpTypes)]
		t.Run(fmt.Sprintf("%s-%s", x, y), func(t *testing.T) {
			lab := tcpLab(t, "--nat-a", string(x), "--nat-b", string(y), "--delay", "20ms")
			for _, r := range []detRun{
				{first: "a", is4: true, ahead: true},
				{first: "b", is4: true, ahead: false},
				{first: "a", is4: false, ahead: i%2 == 0},
				{first: "b", is4: i%2 == 0, ahead: true, stun: true},
			} {
				r.maxErr, r.run = maxErr, run
				t.Run(r.String(), func(t *testing.T) { r.exchange(t, lab) })
			}
		})
	}
}

// TestDetDefaults punches with the default maximum clock error (20 s) and
// run window (10 s): the second side starts 10 s after the first with a
// clock 20 s behind, and again 20 s ahead.
func TestDetDefaults(t *testing.T) {
	lab := tcpLab(t, "--delay", "20ms")
	for _, r := range []detRun{{first: "b", is4: true}, {first: "a", is4: true, ahead: true}} {
		t.Run(r.String(), func(t *testing.T) { r.exchange(t, lab) })
	}
}

// TestDetRerun runs punch det twice in a row between the same hosts
// behind port-restricted NATs, the second run using only the bucket that
// the first run's follower tried and its leader did not. The first run
// leaves that side's SYNs to the peer's unused ports in its NAT; in the
// second run the leader starts first and its SYNs on those ports reach
// the follower's NAT before the follower runs. Unless the first run got
// those SYNs answered (the peers trade plans and dial each other's other
// bucket before they close), they turn the entries half-open, conntrack
// then drops every later SYN on them for two minutes, and the second run
// cannot connect.
func TestDetRerun(t *testing.T) {
	const maxErr, run = 4 * time.Second, 2 * time.Second
	lab := tcpLab(t, "--delay", "20ms")
	w := detpunch.Window(maxErr)
	k := (time.Now().UnixNano()-int64(maxErr))/int64(w) + 100
	// at returns the --clock-offset that puts a clock at fraction f of
	// bucket k+i: in the first half a side's buckets are k+i-1 and k+i, in
	// the second half k+i and k+i+1.
	at := func(i int64, f float64) string {
		clock := time.Unix(0, int64(maxErr)+(k+i)*int64(w)+int64(f*float64(w)))
		return time.Until(clock).String()
	}
	flags := []string{"det", "-4", "--max-clock-error", maxErr.String(), "--run-window", run.String()}
	pair := func(name, clockA, clockB string) {
		t.Helper()
		fileA, fileB := randomBytes(64<<10), randomBytes(32<<10+3)
		// b (203.0.113.18, the leader) starts first.
		sb := start(t, lab, "b", fileB, append(flags, "--clock-offset", clockB, "--my-ip", "203.0.113.18", "203.0.113.10")...)
		time.Sleep(run / 2)
		sa := start(t, lab, "a", fileA, append(flags, "-v", "--clock-offset", clockA, "--my-ip", "203.0.113.10", "203.0.113.18")...)
		ea, eb := sa.wait(t, time.Minute), sb.wait(t, time.Minute)
		if ea != nil || eb != nil {
			t.Fatalf("%s: punch det failed: %v / %v\na: %s\nb: %s", name, ea, eb, sa.stderr.String(), sb.stderr.String())
		}
		if sha256.Sum256(sb.stdout.Bytes()) != sha256.Sum256(fileA) || sha256.Sum256(sa.stdout.Bytes()) != sha256.Sum256(fileB) {
			t.Fatalf("%s: files differ", name)
		}
		t.Logf("%s: a: %s", name, connectedRE.FindString(sa.stderr.String()))
	}
	// Run 1: a's buckets k and k+1, b's k-1 and k; they meet in k.
	pair("first run", at(0, 0.75), at(0, 0.25))
	// Run 2: b's buckets k and k+1, a's k+1 and k+2; only k+1 is shared.
	pair("second run", at(1, 0.75), at(0, 0.75))
}

// TestDetNoPortPreservation checks that a NAT that does not preserve ports
// makes both sides fail within the deadline, saying why and what to use
// instead; the side that learned its address from STUN names its NAT.
func TestDetNoPortPreservation(t *testing.T) {
	lab := tcpLab(t, "--nat-b", "portrestricted:preserve=off")
	flags := []string{"det", "--max-clock-error", "2s", "--run-window", "2s"}
	began := time.Now()
	sa := start(t, lab, "a", []byte{}, append(flags, "--my-ip", "203.0.113.10", "203.0.113.18")...)
	sb := start(t, lab, "b", []byte{}, append(flags, "--stun", "198.51.100.2", "203.0.113.10")...)
	for _, s := range []*side{sa, sb} {
		if err := s.wait(t, 30*time.Second); err == nil {
			t.Fatalf("punch det through a NAT that does not preserve ports succeeded:\n%s", s.stderr.String())
		}
		msg := s.stderr.String()
		if !strings.Contains(msg, "preserve ports") || !strings.Contains(msg, "punch tcp or punch udp") {
			t.Errorf("the failure does not say why or what to try:\n%s", msg)
		}
	}
	// The deadline is the run window + 5 s; allow for starting the
	// processes.
	if d := time.Since(began); d > 7*time.Second+5*time.Second {
		t.Errorf("failing took %v, the deadline is 7 s", d)
	}
	if msg := sb.stderr.String(); !strings.Contains(msg, "this side's NAT does not preserve ports") {
		t.Errorf("the side behind the NAT does not name it:\n%s", msg)
	}
}

// TestDetBadInput checks that bad input fails at once with a usage error.
func TestDetBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"det"},
		{"det", "--my-ip", "203.0.113.10"},
		{"det", "203.0.113.18"},
		{"det", "--my-ip", "203.0.113.10", "not-an-ip"},
		{"det", "--my-ip", "nope", "203.0.113.18"},
		{"det", "--my-ip", "203.0.113.10", "203.0.113.10"},
		{"det", "--my-ip", "2001:db8::1", "203.0.113.18"},
		{"det", "-6", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "-4", "-6", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--run-window", "30s", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--max-clock-error", "-1s", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--ports", "0", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--ports", "100000", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--timeout", "-1s", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--key", "bad\nkey", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "-c", "1", "-l", "2", "--my-ip", "203.0.113.10", "203.0.113.18"},
		{"det", "--clock-offset", "soon", "--my-ip", "203.0.113.10", "203.0.113.18"},
	} {
		r := punch(t, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "punch: ") {
			t.Errorf("punch %q: exit %d, stderr %q; want exit 2 with a message", args, r.code, r.stderr)
		}
	}
}
