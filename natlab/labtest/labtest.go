// Package labtest builds natlab labs for tests: it skips a lab test where
// the machine cannot build a lab unless the run requires labs (in CI),
// serialises lab tests across test binaries so that timing-sensitive ones
// do not race each other for the CPU, and tears the lab down when the test
// ends, whether it passed or not.
package labtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/punchkit/punch/natlab"
)

// RequiredEnv names the environment variable that makes lab tests fail,
// rather than skip, on a machine that cannot build a lab. `make test` and
// CI set it; CI=true has the same effect.
const RequiredEnv = "PUNCH_LAB_REQUIRED"

// Required reports whether this run must build labs.
func Required() bool {
	return os.Getenv(RequiredEnv) != "" || os.Getenv("CI") != ""
}

var (
	mu      sync.Mutex // one lab at a time within this process
	counter atomic.Int64
)

// New builds a lab from cfg (its Name is chosen here when empty) and
// returns it with the lab lock held (see [Require]); both are released
// when the test ends.
func New(tb testing.TB, cfg natlab.Config) *natlab.Lab {
	tb.Helper()
	Require(tb)
	if cfg.Name == "" {
		cfg.Name = Name()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := natlab.New(ctx, cfg, nil)
	if err != nil {
		tb.Fatalf("building lab: %v", err)
	}
	tb.Cleanup(func() {
		if err := lab.Close(); err != nil {
			tb.Errorf("tearing down lab %s: %v", cfg.Name, err)
		}
	})
	return lab
}

// Require skips the test where this machine cannot build a lab, or fails
// it when the run requires labs; then it takes the in-process lab mutex
// and the machine-wide lab lock until the test ends. Call it before
// building a lab by other means, such as the punch command.
func Require(tb testing.TB) {
	tb.Helper()
	if err := natlab.CheckSupported(); err != nil {
		if Required() {
			tb.Fatalf("lab tests are required here (%s or CI is set) but: %v", RequiredEnv, err)
		}
		tb.Skipf("skipping lab test: %v (run `make test` as root to run it)", err)
	}
	mu.Lock()
	if err := os.MkdirAll(natlab.StateDir, 0o755); err != nil {
		mu.Unlock()
		tb.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(natlab.StateDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		mu.Unlock()
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		mu.Unlock()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		f.Close() // releases the flock
		mu.Unlock()
	})
}

// Node returns the named node of lab or fails the test.
func Node(tb testing.TB, lab *natlab.Lab, name string) *natlab.Node {
	tb.Helper()
	n, err := lab.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// Name returns a lab name unique to this test process.
func Name() string {
	return fmt.Sprintf("t%d-%d", os.Getpid()%1000000, counter.Add(1))
}
