package natlab_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
	"github.com/punchkit/punch/natlab/labtest"
)

// BenchmarkCoreTCP measures TCP through the lab's core with 20 ms of delay
// on each link (an 80 ms round trip): throughput, and the CPU the whole
// test process (core router, TCP sender and receiver) spends per GB.
func BenchmarkCoreTCP(b *testing.B) {
	lab := labtest.New(b, natlab.Config{
		Sites:      []natlab.Site{linkSite(b, "natA", natlab.PortRestricted, "delay=20ms")},
		ServerLink: natlab.LinkParams{Up: delay20, Down: delay20},
	})
	host, server := labtest.Node(b, lab, "a"), labtest.Node(b, lab, "server")
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	bps := tcpThroughput(b, host, server, time.Duration(b.N)*time.Second)
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	gb := bps / 8 * elapsed.Seconds() / 1e9
	b.ReportMetric(bps/1e9, "Gbit/s")
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
}
