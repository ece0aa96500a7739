package rendezvous

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchRequest is a typical version 1 request: two local addresses, a
// STUN-mapped UDP candidate and a short NAT report.
func benchRequest(tok [KeySize]byte) Request {
	return Request{
		Token: tok,
		Local: []netip.AddrPort{netip.MustParseAddrPort("192.168.1.23:40123"), netip.MustParseAddrPort("[fd00::23]:40123")},
		UDP:   []netip.AddrPort{netip.MustParseAddrPort("203.0.113.77:51234")},
		Info:  json.RawMessage(`{"mapping":"endpoint-independent","filtering":"address-and-port-dependent","hairpin":false}`),
	}
}

// counterToken returns a distinct token per call.
func counterToken(n *atomic.Uint64) [KeySize]byte {
	var t [KeySize]byte
	binary.BigEndian.PutUint64(t[24:], n.Add(1))
	t[0] = 0xaa
	return t
}

// BenchmarkPairings measures pairings per second over loopback: each
// iteration is one pair, two connections from dial to answer, many pairs
// in flight at once. The clients (Legacy or Exchange) run in a child
// process (TestHelperPairingClients), so that the allocations and the CPU
// time reported are the server's alone: server-µs/pairing is the server's
// CPU time (user and system, in this process) per pairing, which bounds
// what one core can do. Both processes share the machine's cores, so
// pairings/s is what this machine does with clients and server on it.
// BenchmarkPairingsBaseline is the same load on a server that does nothing
// but TCP.
func BenchmarkPairings(b *testing.B) {
	for _, proto := range []string{"legacy", "v1"} {
		b.Run(proto, func(b *testing.B) {
			ts := startServer(b, &Config{InUseFor: time.Second}, "tcp4")
			cpu := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			runHelper(b, "TestHelperPairingClients", ts.addr, proto, strconv.Itoa(b.N), "32")
			b.StopTimer()
			if got := ts.Stats().Pairings; got != uint64(b.N) {
				b.Fatalf("%d pairings, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairings/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "server-µs/pairing")
		})
	}
}

// BenchmarkPairingsBaseline is BenchmarkPairings' legacy load, the same
// clients in the same numbers, on a server that only does what TCP needs:
// it accepts each connection, reads the 32-byte key and answers at once
// with a fixed address, as if the peer were there, then closes. The
// pairings/s of this baseline is what the machine allows the rendezvous
// server at all, with the clients on the same cores.
func BenchmarkPairingsBaseline(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var answered atomic.Uint64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var key [KeySize]byte
				if _, err := io.ReadFull(c, key[:]); err != nil {
					return
				}
				if _, err := c.Write([]byte("192.0.2.1 4000\n")); err == nil {
					answered.Add(1)
				}
			}()
		}
	}()
	cpu := cpuTime()
	b.ResetTimer()
	runHelper(b, "TestHelperPairingClients", ln.Addr().String(), "legacy", strconv.Itoa(b.N), "32")
	b.StopTimer()
	if got := answered.Load(); got != 2*uint64(b.N) {
		b.Fatalf("%d answers, want %d", got, 2*b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairings/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "server-µs/pairing")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runHelper runs test in a child process with args and waits for it.
func runHelper(tb testing.TB, test string, args ...string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(args, " "))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.HasSuffix(string(out), "done\n") {
		tb.Fatalf("%s: %v\n%s", test, err, out)
	}
}

// TestHelperPairingClients is not a test: BenchmarkPairings runs it in a
// child process to make n pairs, parallel at a time.
func TestHelperPairingClients(t *testing.T) {
	args := strings.Fields(os.Getenv(helperEnv))
	if len(args) != 4 {
		t.Skip("a helper process for BenchmarkPairings")
	}
	addr, proto := args[0], args[1]
	n, _ := strconv.Atoi(args[2])
	parallel, _ := strconv.Atoi(args[3])
	d := net.Dialer{KeepAlive: -1}
	run := func(tok [KeySize]byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if proto == "legacy" {
			_, err = Legacy(ctx, c, tok)
		} else {
			_, err = Exchange(ctx, c, benchRequest(tok))
		}
		return err
	}
	var (
		counter, left atomic.Uint64
		errs          = make(chan error, 2*parallel)
	)
	left.Store(uint64(n))
	for range parallel {
		go func() {
			for {
				if left.Add(^uint64(0)) >= uint64(n) { // wrapped below zero
					errs <- nil
					return
				}
				tok := counterToken(&counter)
				other := make(chan error, 1)
				go func() { other <- run(tok) }()
				err := run(tok)
				if err1 := <-other; err == nil {
					err = err1
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range parallel {
		if err := <-errs; err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	fmt.Println("done")
	os.Exit(0)
}

// BenchmarkWaiting measures the memory of a waiting session: it opens b.N
// sessions that wait (run it with -benchtime=19000x for 19,000 sessions)
// and reports the growth of the Go heap and stacks (HeapInuse+StackInuse),
// of all the memory the runtime holds (Sys) and of the process's resident
// set, per session. The clients are raw sockets in a child process
// (TestHelperWaitingClients), so that only the server's memory is counted
// and each process needs one file descriptor per session: the benchmark
// raises RLIMIT_NOFILE to what it needs where it can (the hard limit only
// as root with CAP_SYS_RESOURCE) and skips beyond it.
func BenchmarkWaiting(b *testing.B) {
	for _, proto := range []string{"legacy", "v1"} {
		b.Run(proto, func(b *testing.B) {
			raiseNoFile(b, b.N+256)
			ts := startServer(b, &Config{
				WaitTimeout:      10 * time.Minute,
				HandshakeTimeout: time.Minute,
				MaxWaitingPerIP:  1 << 30,
				MaxConns:         1 << 30,
			}, "tcp4")
			before := memNow()
			b.ReportAllocs()
			b.ResetTimer()
			stop := startClients(b, ts.addr, proto, b.N)
			defer stop()
			for deadline := time.Now().Add(time.Minute); ts.Stats().Waiting < int64(b.N); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d sessions waiting", ts.Stats().Waiting, b.N)
				}
			}
			b.StopTimer()
			after := memNow()
			per := func(a, c uint64) float64 { return (float64(a) - float64(c)) / float64(b.N) }
			b.ReportMetric(per(after.heapStack, before.heapStack), "heap+stack-B/session")
			b.ReportMetric(per(after.stack, before.stack), "stack-B/session")
			b.ReportMetric(per(after.sys, before.sys), "sys-B/session")
			b.ReportMetric(per(after.rss, before.rss), "rss-B/session")
			b.ReportMetric(float64(b.N), "sessions")
		})
	}
}

// helperEnv carries the arguments of TestHelperWaitingClients.
const helperEnv = "RENDEZVOUS_HELPER_CLIENTS"

// startClients runs TestHelperWaitingClients in a child process, which
// opens n waiting sessions to addr, and returns once they are all sent. The
// returned function disconnects them.
func startClients(tb testing.TB, addr, proto string, n int) (stop func()) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWaitingClients$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", helperEnv, addr, proto, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	stop = func() {
		stdin.Close()
		cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		stop()
		tb.Fatalf("client process: %q, %v", line, err)
	}
	return stop
}

// TestHelperWaitingClients is not a test: BenchmarkWaiting runs it in a
// child process to open waiting sessions. It prints "ready" once they are
// open and closes them when its stdin closes.
func TestHelperWaitingClients(t *testing.T) {
	args := strings.Fields(os.Getenv(helperEnv))
	if len(args) != 3 {
		t.Skip("a helper process for BenchmarkWaiting")
	}
	addr := netip.MustParseAddrPort(args[0])
	proto := args[1]
	n, _ := strconv.Atoi(args[2])
	raiseNoFile(t, n+64)
	var counter atomic.Uint64
	fds := make([]int, 0, n)
	for i := range n {
		tok := counterToken(&counter)
		msg := tok[:]
		if proto == "v1" {
			msg, _ = marshalRequest(benchRequest(tok))
		}
		fd, err := rawClient(int(addr.Port()), i, msg)
		if err != nil {
			fmt.Printf("client %d: %v\n", i, err)
			os.Exit(1)
		}
		fds = append(fds, fd)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, fd := range fds {
		syscall.Close(fd)
	}
	os.Exit(0)
}

// mem is a memory reading.
type mem struct{ heapStack, stack, sys, rss uint64 }

// memNow reads memory use after two garbage collections (the second lets
// stacks shrink and frees what the first left for sweeping), with the free
// memory returned to the system, so that the resident set counts only what
// is in use.
func memNow() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{heapStack: ms.HeapInuse + ms.StackInuse, stack: ms.StackInuse, sys: ms.Sys - ms.HeapReleased}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			m.rss = pages * uint64(os.Getpagesize())
		}
	}
	return m
}

// rawClient connects a plain socket to 127.0.0.1:port from a source
// address of 127.0.0.0/8 picked by i, and sends msg.
func rawClient(port, i int, msg []byte) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// 5,000 connections per source address, a small part of the
	// ephemeral port range, so that connect finds a free port at once.
	// Pick the port at connect, by the 4-tuple, rather than at bind,
	// which scans every bound port (TIME_WAIT ones too) for a free one.
	const ipBindAddressNoPort = 24 // IP_BIND_ADDRESS_NO_PORT, Linux 4.2
	syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	// Reset on close: no TIME_WAIT left behind for the next run.
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	group := i / 5000
	src := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, byte(1 + group/250), byte(1 + group%250)}}
	if err := syscall.Bind(fd, src); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if _, err := syscall.Write(fd, msg); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// raiseNoFile raises RLIMIT_NOFILE to at least n if it can (the hard limit
// needs root), or skips tb.
func raiseNoFile(tb testing.TB, n int) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Skipf("getrlimit: %v", err)
	}
	if lim.Cur >= uint64(n) {
		return
	}
	want := lim
	want.Cur = uint64(n)
	if want.Max < want.Cur {
		want.Max = want.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not root: the soft limit can go up to the hard one.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	if want.Cur < uint64(n) {
		tb.Skipf("needs %d file descriptors, RLIMIT_NOFILE allows %d (raise the hard limit, or run as root)", n, want.Cur)
	}
}
