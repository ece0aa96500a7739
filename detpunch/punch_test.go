package detpunch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	lo1 = netip.MustParseAddr("127.0.0.1")
	lo2 = netip.MustParseAddr("127.0.0.2")
)

// side is one peer of a loopback punch.
type side struct {
	me, peer netip.Addr
	delay    time.Duration // start this long after the other
	offset   time.Duration // Config.ClockOffset
}

type outcome struct {
	run *Run
	res *Result
	err error
}

// punchPair runs two sides on loopback (127.0.0.1 and 127.0.0.2, each
// bound to its own address) and returns their outcomes.
func punchPair(t *testing.T, cfg Config, sides [2]side) [2]outcome {
	t.Helper()
	var out [2]outcome
	done := make(chan int, 2)
	for i, s := range sides {
		go func() {
			time.Sleep(s.delay)
			c := cfg
			c.MyIP, c.Bind, c.ClockOffset = s.me, s.me, s.offset
			c.Logger = testLogger(t)
			out[i].run, out[i].res, out[i].err = Punch(context.Background(), s.peer, &c)
			done <- i
		}()
	}
	<-done
	<-done
	for _, o := range out {
		if o.res != nil {
			t.Cleanup(func() { o.res.Conn.Close(); o.run.Close() })
		}
	}
	return out
}

// checkPair checks that both sides chose the same connection, agree on
// its bucket and on who leads, and that data flows both ways, starting
// right after the '$'.
func checkPair(t *testing.T, out [2]outcome) {
	t.Helper()
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("side %d: %v", i, o.err)
		}
	}
	a, b := out[0], out[1]
	if a.run.Leader == b.run.Leader {
		t.Fatalf("both sides leader=%v", a.run.Leader)
	}
	if a.res.Bucket != b.res.Bucket || a.res.Port != b.res.Port {
		t.Fatalf("sides disagree: bucket %d port %d / bucket %d port %d", a.res.Bucket, a.res.Port, b.res.Bucket, b.res.Port)
	}
	if got := a.res.Conn.RemoteAddr().(*net.TCPAddr).AddrPort(); got != b.res.Conn.LocalAddr().(*net.TCPAddr).AddrPort() {
		t.Fatalf("not the same connection: %v / %v", got, b.res.Conn.LocalAddr())
	}
	for i, o := range out {
		msg := fmt.Sprintf("hello from side %d", i)
		go o.res.Conn.Write([]byte(msg))
		other := out[1-i].res.Conn
		buf := make([]byte, len(msg))
		other.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(other, buf); err != nil || string(buf) != msg {
			t.Fatalf("read %q, %v; want %q", buf, err, msg)
		}
	}
}

// TestLoopback punches on loopback with either side starting first, up to
// a whole run window apart, and clocks up to the maximum error apart in
// either direction.
func TestLoopback(t *testing.T) {
	cfg := Config{MaxClockError: time.Second, RunWindow: 2 * time.Second, Timeout: 4 * time.Second}
	// Start the runtime's network poller, whose descriptors would
	// otherwise count as a leak of the first run.
	if ln, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	for _, tc := range []struct {
		name   string
		delay  [2]time.Duration
		offset [2]time.Duration
	}{
		{"together", [2]time.Duration{0, 0}, [2]time.Duration{0, 0}},
		{"follower-first", [2]time.Duration{0, 2 * time.Second}, [2]time.Duration{0, time.Second}},
		{"leader-first", [2]time.Duration{2 * time.Second, 0}, [2]time.Duration{time.Second, 0}},
		{"skewed-back", [2]time.Duration{0, time.Second}, [2]time.Duration{0, -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := openFiles(t)
			out := punchPair(t, cfg, [2]side{
				{me: lo1, peer: lo2, delay: tc.delay[0], offset: tc.offset[0]},
				{me: lo2, peer: lo1, delay: tc.delay[1], offset: tc.offset[1]},
			})
			checkPair(t, out)
			if !out[1].run.Leader {
				t.Errorf("127.0.0.2 does not lead")
			}
			for _, o := range out {
				o.res.Conn.Close()
				o.run.Close()
			}
			if n := openFiles(t); n != fds {
				t.Errorf("%d open files before, %d after: sockets leak", fds, n)
			}
		})
	}
}

// TestStraddle starts the sides a run window apart with clocks the
// maximum error apart, placed so that their own buckets differ: only the
// neighbouring bucket can bring them together.
func TestStraddle(t *testing.T) {
	const e, run = time.Second, 2 * time.Second
	w := Window(e)
	// The first side's clock reads the last second of a bucket when it
	// starts; the second side's reads run + e later, in the next bucket.
	now := time.Now()
	_, rem := bucketAt(now, e)
	first := w - rem - (run+e)/2
	out := punchPair(t, Config{MaxClockError: e, RunWindow: run}, [2]side{
		{me: lo1, peer: lo2, offset: first},
		{me: lo2, peer: lo1, delay: run, offset: first + e},
	})
	checkPair(t, out)
	if out[0].run.Plan.Buckets[0] == out[1].run.Plan.Buckets[0] {
		t.Fatalf("the sides' own buckets are the same (%v, %v): the test did not straddle a boundary", out[0].run.Plan.Buckets, out[1].run.Plan.Buckets)
	}
}

// TestSkipsBusyPort holds one of the plan's ports on one side with a
// socket bound without SO_REUSEADDR and SO_REUSEPORT (and not listening,
// so that the other side's SYNs to it are refused), so that it cannot be
// bound: the punch goes on without it.
func TestSkipsBusyPort(t *testing.T) {
	const e = time.Second
	// Clocks in the middle of the first half of a bucket, so that both
	// sides' plans are the one computed here.
	_, rem := bucketAt(time.Now(), e)
	offset := Window(e)/4 - rem
	plan := NewPlan(time.Now().Add(offset), e, 4)
	busy, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(busy)
	if err := unix.Bind(busy, &unix.SockaddrInet4{Port: int(plan.Ports[0][0]), Addr: lo1.As4()}); err != nil {
		t.Skipf("cannot hold port %d: %v", plan.Ports[0][0], err)
	}
	out := punchPair(t, Config{MaxClockError: e, RunWindow: time.Second, Ports: 4}, [2]side{
		{me: lo1, peer: lo2, offset: offset},
		{me: lo2, peer: lo1, offset: offset},
	})
	checkPair(t, out)
	if out[0].res.Port == plan.Ports[0][0] {
		t.Errorf("connected on the busy port %d", out[0].res.Port)
	}
}

// TestAlone checks that a punch with no peer ends at its deadline with
// ErrTimeout and a message that names the peer.
func TestAlone(t *testing.T) {
	start := time.Now()
	_, _, err := Punch(context.Background(), lo2, &Config{MyIP: lo1, Bind: lo1, Timeout: 300 * time.Millisecond, Ports: 2})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("alone: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to give up after 300 ms", d)
	}
	t.Log(err)
}

// TestCancel checks that cancelling the context ends a punch at once.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Punch(ctx, lo2, &Config{MyIP: lo1, Bind: lo1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v to notice", d)
	}
}

// TestPrepareErrors checks the errors for bad input.
func TestPrepareErrors(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		name string
		peer netip.Addr
		cfg  Config
		want error
	}{
		{"no public IP", lo2, Config{}, ErrNoPublicIP},
		{"same IP", lo1, Config{MyIP: lo1}, ErrSameIP},
		{"no peer", netip.Addr{}, Config{MyIP: lo1}, ErrConfig},
		{"unspecified peer", netip.IPv4Unspecified(), Config{MyIP: lo1}, ErrConfig},
		{"families", v6, Config{MyIP: lo1}, ErrConfig},
		{"bind family", lo2, Config{MyIP: lo1, Bind: v6}, ErrConfig},
		{"run window", lo2, Config{MyIP: lo1, MaxClockError: time.Second, RunWindow: 4 * time.Second}, ErrConfig},
		{"negative timeout", lo2, Config{MyIP: lo1, ClockOffset: -time.Hour, Timeout: -time.Second}, ErrConfig},
		{"ports", lo2, Config{MyIP: lo1, Ports: MaxPorts + 1}, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Prepare(context.Background(), tc.peer, &tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("Prepare: %v, want %v", err, tc.want)
			}
		})
	}
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
