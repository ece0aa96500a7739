package core

import (
	"time"

	"golang.org/x/sys/unix"
)

// SleepSlop is how early a queue may release a packet: packets due within
// SleepSlop of now leave together, which bounds the wake-ups per second
// without showing in delays.
const SleepSlop = 50 * time.Microsecond

// preciseSleepMax is the longest wait done with clock_nanosleep; longer
// waits use a Go timer (whose granularity is about a millisecond) for all
// but this last stretch.
const preciseSleepMax = 4 * time.Millisecond

// sleepUntil blocks the calling thread until the monotonic clock reaches
// the deadline (in nanoseconds of CLOCK_MONOTONIC).
func sleepUntil(deadline int64) {
	ts := unix.NsecToTimespec(deadline)
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}

// monotime returns CLOCK_MONOTONIC in nanoseconds. It reads the clock
// through Go's monotonic time, which the vDSO serves without a system
// call (clock_gettime by unix.ClockGettime is one, and the core reads the
// clock for every packet): Go's monotonic clock is CLOCK_MONOTONIC, so
// the offset taken once at start stays exact.
func monotime() int64 { return monoBase + int64(time.Since(monoStart)) }

var monoStart, monoBase = func() (time.Time, int64) {
	var before, after unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
	start := time.Now()
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
	return start, (before.Nano() + after.Nano()) / 2
}()
