package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"golang.org/x/sys/unix"
)

// The benchmarks here measure punch tcp through the lab, side by side
// with a baseline in the same run. Run them with
//
//	go test ./e2e -run '^$' -bench . -benchtime 1x
//
// (each iteration is a whole experiment; they need root).

// transferred is what one transfer measured.
type transferred struct {
	rate float64 // the receiver's throughput, bit/s
	cpu  float64 // CPU of both punch processes, seconds
	core float64 // CPU of the lab's core router over the transfer, seconds
	busy float64 // share of the machine's CPU time busy over the transfer, 0 to 1
	all  float64 // the machine's busy CPU time over the transfer, seconds
}

// transferWith sends size bytes from host a to host b with `punch SUB
// -s/-r` (extra flags added to both) and measures it. Each peer runs on a
// CPU of its own (taskset; Go then runs it with GOMAXPROCS 1), as two
// machines would, while the lab's core and the kernel's forwarding use
// either; PUNCH_BENCH_PIN=0 lets the peers float, which on two CPUs makes
// three busy processes contend for both.
func transferWith(b *testing.B, sub string, lab *natlab.Lab, size int64, extra ...string) transferred {
	b.Helper()
	key := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	args := append([]string{sub, "-4", "-T", "198.51.100.2"}, extra...)
	rx := exec.Command(punchBin, slices.Concat([]string{"lab", "exec", lab.Config.Name, "b", "--"}, pin(1), []string{punchBin}, args, []string{"-r", key})...)
	tx := exec.Command(punchBin, slices.Concat([]string{"lab", "exec", lab.Config.Name, "a", "--"}, pin(0), []string{punchBin}, args, []string{"-s", key})...)
	// Pipes of 1 MiB, written and read 1 MiB at a time: with 64 KiB pipes
	// and io.Discard's 8 KiB reads the test's own copying took CPU from
	// the transfer it measures.
	out, outW := bigPipe(b)
	defer out.Close()
	inR, in := bigPipe(b)
	defer in.Close()
	rx.Stdout, tx.Stdin = outW, inR
	var rxErr, txErr strings.Builder
	rx.Stderr, tx.Stderr = &rxErr, &txErr
	err := rx.Start()
	outW.Close()
	if err != nil {
		b.Fatal(err)
	}
	err = tx.Start()
	inR.Close()
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1<<20)
		for sent := int64(0); sent < size; sent += int64(len(buf)) {
			if _, err := in.Write(buf); err != nil {
				break
			}
		}
		in.Close()
	}()
	// Time from the first byte to the last, at the receiver.
	first := make([]byte, 1)
	if _, err := io.ReadFull(out, first); err != nil {
		b.Fatalf("no data: %v\n%s\n%s", err, rxErr.String(), txErr.String())
	}
	start, core0 := time.Now(), procCPU(lab.Daemon)
	busy0, total0 := machineCPU()
	n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, out, make([]byte, 1<<20))
	elapsed := time.Since(start)
	core := procCPU(lab.Daemon) - core0
	busy1, total1 := machineCPU()
	if err := rx.Wait(); err != nil {
		b.Fatalf("receiver: %v\n%s", err, rxErr.String())
	}
	tx.Wait()
	if n+1 < size {
		b.Fatalf("received %d of %d bytes", n+1, size)
	}
	cpu := func(c *exec.Cmd) float64 {
		ru := c.ProcessState.SysUsage().(*syscall.Rusage)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return transferred{
		rate: float64(n) * 8 / elapsed.Seconds(),
		cpu:  cpu(rx) + cpu(tx),
		core: core,
		busy: (busy1 - busy0) / (total1 - total0),
		all:  (busy1 - busy0) / clockTicks,
	}
}

// procCPU returns the user and system CPU time of process pid, in
// seconds, 0 if it cannot be read.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is the kernel's USER_HZ, the unit of /proc CPU times.
const clockTicks = 100

// machineCPU returns the machine's busy and total CPU time so far, in
// clock ticks, from the first line of /proc/stat.
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total
}

// way is one way to move the data: `punch SUB ARGS...`, reported as name.
type way struct {
	name, sub string
	args      []string
}

// bigPipe returns a pipe that holds 1 MiB.
func bigPipe(b *testing.B) (r, w *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	var size error
	rc, err := w.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { _, size = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
	}
	if err = errors.Join(err, size); err != nil {
		r.Close()
		w.Close()
		b.Fatal(err)
	}
	return r, w
}

// pin returns the command prefix that runs a peer on CPU cpu alone, or
// nothing where the machine has too few CPUs or PUNCH_BENCH_PIN is 0.
func pin(cpu int) []string {
	if runtime.NumCPU() < 2 || os.Getenv("PUNCH_BENCH_PIN") == "0" {
		return nil
	}
	return []string{"taskset", "-c", strconv.Itoa(cpu)}
}

// sideBySide moves size bytes by base and then by test on the same lab,
// each b.N times, and reports both throughputs, their ratio (test to
// base) and the CPU the two punch processes used per GB.
func sideBySide(b *testing.B, lab *natlab.Lab, size int64, base, test way) {
	gb := float64(size) / 1e9
	for range b.N {
		bt := transferWith(b, base.sub, lab, size, base.args...)
		tt := transferWith(b, test.sub, lab, size, test.args...)
		b.ReportMetric(bt.rate/1e9, base.name+"-Gbit/s")
		b.ReportMetric(tt.rate/1e9, test.name+"-Gbit/s")
		b.ReportMetric(tt.rate/bt.rate, "ratio")
		b.ReportMetric(bt.cpu/gb, base.name+"-cpu-s/GB")
		b.ReportMetric(tt.cpu/gb, test.name+"-cpu-s/GB")
		b.ReportMetric(bt.core/gb, base.name+"-core-cpu-s/GB")
		b.ReportMetric(tt.core/gb, test.name+"-core-cpu-s/GB")
		b.ReportMetric(bt.all/gb, base.name+"-machine-cpu-s/GB")
		b.ReportMetric(tt.all/gb, test.name+"-machine-cpu-s/GB")
		b.ReportMetric(bt.busy, base.name+"-machine-busy")
		b.ReportMetric(tt.busy, test.name+"-machine-busy")
	}
}

// BenchmarkTCPThroughput compares a punched, encrypted connection with the
// same punched path unencrypted (--plain), on links limited to 1 Gbit/s
// and on unlimited links.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, rate := range []string{"1gbit", "0"} {
		b.Run("rate="+rate, func(b *testing.B) {
			lab := tcpLab(b, "--rate", rate)
			const size = 1 << 30
			sideBySide(b, lab, size, way{"plain", "tcp", []string{"--plain"}}, way{"encrypted", "tcp", nil})
		})
	}
}

// BenchmarkTCPTimeToFirstByte measures, over 20 runs with 20 ms on every
// link, the time from the start of the second peer to the first byte it
// sends arriving at the first peer.
func BenchmarkTCPTimeToFirstByte(b *testing.B) {
	lab := tcpLab(b, "--delay", "20ms")
	for range b.N {
		var times []time.Duration
		for i := range 20 {
			key := fmt.Sprintf("ttfb-%d-%d", time.Now().UnixNano(), i)
			args := []string{"tcp", "-4", "-T", "198.51.100.2"}
			first := exec.Command(punchBin, append([]string{"lab", "exec", lab.Config.Name, "a", "--", punchBin}, append(args, "-r", key)...)...)
			out, _ := first.StdoutPipe()
			errPipe, _ := first.StderrPipe()
			if err := first.Start(); err != nil {
				b.Fatal(err)
			}
			// Wait until the first peer waits at the server.
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() && !strings.Contains(sc.Text(), "waiting for the peer") {
			}
			go io.Copy(io.Discard, errPipe)
			time.Sleep(100 * time.Millisecond)
			second := exec.Command(punchBin, append([]string{"lab", "exec", lab.Config.Name, "b", "--", punchBin}, append(args, "-s", key)...)...)
			second.Stdin = strings.NewReader("x")
			start := time.Now()
			if err := second.Start(); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1)
			if _, err := io.ReadFull(out, buf); err != nil {
				b.Fatalf("run %d: no byte arrived: %v", i, err)
			}
			times = append(times, time.Since(start))
			second.Wait()
			first.Wait()
		}
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "median-ms")
		b.ReportMetric(float64(times[len(times)*95/100].Milliseconds()), "p95-ms")
		b.ReportMetric(float64(times[0].Milliseconds()), "min-ms")
		b.Logf("time to first byte: %v", times)
	}
}

// BenchmarkTCPProcessStart is the baseline of the time to first byte: how
// long starting `punch lab exec HOST -- punch --version` takes, which the
// measurement above includes.
func BenchmarkTCPProcessStart(b *testing.B) {
	lab := tcpLab(b)
	for range b.N {
		start := time.Now()
		if err := exec.Command(punchBin, "lab", "exec", lab.Config.Name, "b", "--", punchBin, "--version").Run(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms")
	}
}

// BenchmarkUDPThroughput compares the QUIC tunnel over punched UDP with a
// punched plain TCP connection (punch tcp --plain) on the same links: 1
// Gbit/s and 100 Mbit/s, without delay, and with 20 ms on every link and 1%
// loss on the sender's link (each direction), and unlimited.
func BenchmarkUDPThroughput(b *testing.B) {
	for _, links := range [][]string{
		{"--rate", "1gbit"},
		{"--rate", "100mbit"},
		{"--rate", "1gbit", "--delay", "20ms", "--link", "natA:loss=1%"},
		{"--rate", "100mbit", "--delay", "20ms", "--link", "natA:loss=1%"},
		{},
	} {
		b.Run(strings.Join(links, " "), func(b *testing.B) {
			lab := tcpLab(b, links...)
			size := int64(1 << 30)
			switch {
			case slices.Contains(links, "natA:loss=1%"):
				size = 256 << 20
			case slices.Contains(links, "100mbit"):
				size = 128 << 20
			}
			sideBySide(b, lab, size, way{"tcp", "tcp", []string{"--plain"}}, way{"quic", "udp", nil})
		})
	}
}

// BenchmarkUDPLatency measures the round trip of a 64-byte message and its
// echo through a forwarded connection from host a to host b, on lab links
// without delay, 2000 round trips on one connection: through `punch udp
// -c/-l` (the QUIC tunnel) and through `punch tcp --plain -c/-l` (the same
// forwarding code over the punched path in raw TCP), against the path's
// own round trip, ping from a to b's NAT, in the same run. What the
// tunnel adds is its median less ping's mean.
func BenchmarkUDPLatency(b *testing.B) {
	lab := tcpLab(b)
	hostB, _ := lab.Node("b")
	for range b.N {
		path := pingMean(b, lab, "a", hostB.PublicAddr(true))
		plain := roundTrips(b, lab, "tcp", "-4", "--plain")
		quic := roundTrips(b, lab, "udp", "-4")
		b.ReportMetric(us(path), "ping-mean-µs")
		b.ReportMetric(us(quic[len(quic)/2]-path), "added-µs")
		b.ReportMetric(us(plain[len(plain)/2]), "plain-median-µs")
		b.ReportMetric(us(plain[len(plain)*99/100]), "plain-p99-µs")
		b.ReportMetric(us(quic[len(quic)/2]), "quic-median-µs")
		b.ReportMetric(us(quic[len(quic)*99/100]), "quic-p99-µs")
	}
}

// pingMean returns the mean round trip of 500 pings from host to addr.
func pingMean(b *testing.B, lab *natlab.Lab, host string, addr netip.Addr) time.Duration {
	out, err := exec.Command(punchBin, "lab", "exec", lab.Config.Name, host, "--", "ping", "-q", "-c", "500", "-i", "0.002", addr.String()).Output()
	if err != nil {
		b.Fatalf("ping %v: %v\n%s", addr, err, out)
	}
	// rtt min/avg/max/mdev = 0.299/0.364/0.482/0.062 ms
	_, stats, _ := strings.Cut(string(out), "= ")
	fields := strings.Split(stats, "/")
	if len(fields) < 2 {
		b.Fatalf("ping said %q", out)
	}
	ms, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		b.Fatalf("ping said %q", out)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// roundTrips times 2000 round trips of 64 bytes through a forward by
// `punch SUB ARGS -c/-l` from host a to an echo service on host b, after
// 100 to warm up, and returns them sorted.
func roundTrips(b *testing.B, lab *natlab.Lab, sub string, args ...string) []time.Duration {
	dial, stop := startForward(b, sub, lab, "a", "b", args...)
	defer stop()
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	msg := make([]byte, 64)
	var rtts []time.Duration
	for i := range 2100 {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
		if i >= 100 {
			rtts = append(rtts, time.Since(start))
		}
	}
	slices.Sort(rtts)
	return rtts
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkRelayThroughput compares punch connect through the relay (the
// pair relay of punch server, which the lab's server, forwarding IP, hands
// to the kernel) with punch connect on the direct UDP path (the same QUIC
// tunnel) between the same hosts, on links limited to 1 Gbit/s and to 100
// Mbit/s.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, rate := range []string{"1gbit", "100mbit"} {
		b.Run("rate="+rate, func(b *testing.B) {
			lab := tcpLab(b, "--rate", rate)
			size := int64(512 << 20)
			if rate == "100mbit" {
				size = 128 << 20
			}
			sideBySide(b, lab, size, way{"direct", "connect", []string{"--path", "udp"}}, way{"relay", "connect", []string{"--path", "relay"}})
		})
	}
}
