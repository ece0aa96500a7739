package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
)

// The benchmarks here measure punch tcp through the lab, side by side
// with a baseline in the same run. Run them with
//
//	go test ./e2e -run '^$' -bench . -benchtime 1x
//
// (each iteration is a whole experiment; they need root).

// transferWith sends size bytes from host a to host b with `punch SUB
// -s/-r` (extra flags added to both) and returns the receiver's throughput
// in bit/s and the CPU both punch processes used, in seconds.
func transferWith(b *testing.B, sub string, lab *natlab.Lab, size int64, extra ...string) (float64, float64) {
	b.Helper()
	key := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	args := append([]string{sub, "-4", "-T", "198.51.100.2"}, extra...)
	rx := exec.Command(punchBin, append([]string{"lab", "exec", lab.Config.Name, "b", "--", punchBin}, append(args, "-r", key)...)...)
	tx := exec.Command(punchBin, append([]string{"lab", "exec", lab.Config.Name, "a", "--", punchBin}, append(args, "-s", key)...)...)
	out, err := rx.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	in, err := tx.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var rxErr, txErr strings.Builder
	rx.Stderr, tx.Stderr = &rxErr, &txErr
	if err := rx.Start(); err != nil {
		b.Fatal(err)
	}
	if err := tx.Start(); err != nil {
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
	start := time.Now()
	n, _ := io.Copy(io.Discard, out)
	elapsed := time.Since(start)
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
	return float64(n) * 8 / elapsed.Seconds(), cpu(rx) + cpu(tx)
}

// way is one way to move the data: `punch SUB ARGS...`, reported as name.
type way struct {
	name, sub string
	args      []string
}

// sideBySide moves size bytes by base and then by test on the same lab,
// each b.N times, and reports both throughputs, their ratio (test to
// base) and the CPU the two punch processes used per GB.
func sideBySide(b *testing.B, lab *natlab.Lab, size int64, base, test way) {
	gb := float64(size) / 1e9
	for range b.N {
		baseRate, baseCPU := transferWith(b, base.sub, lab, size, base.args...)
		testRate, testCPU := transferWith(b, test.sub, lab, size, test.args...)
		b.ReportMetric(baseRate/1e9, base.name+"-Gbit/s")
		b.ReportMetric(testRate/1e9, test.name+"-Gbit/s")
		b.ReportMetric(testRate/baseRate, "ratio")
		b.ReportMetric(baseCPU/gb, base.name+"-cpu-s/GB")
		b.ReportMetric(testCPU/gb, test.name+"-cpu-s/GB")
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
				size = 32 << 20
			case slices.Contains(links, "100mbit"):
				size = 128 << 20
			}
			sideBySide(b, lab, size, way{"tcp", "tcp", []string{"--plain"}}, way{"quic", "udp", nil})
		})
	}
}

// BenchmarkRelayThroughput compares punch connect through the relay with
// punch connect on the direct UDP path (the same QUIC tunnel) between the
// same hosts, on links limited to 1 Gbit/s and to 100 Mbit/s.
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
