// Package testkit holds small helpers that tests of several packages
// share: a buffer a process can write while the test reads it, and the
// scaling of test data to the build (race detector, -short).
package testkit

import (
	"bytes"
	"runtime/debug"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer that a writer (a process's stderr, say)
// and a reader may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Race reports a binary built with -race, which runs data paths about
// ten times slower.
var Race = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}()

// Size returns n bytes of test data, or a sixteenth of it (at least
// floor) under -race or -short.
func Size(n, floor int) int {
	if Race || testing.Short() {
		return max(n/16, floor)
	}
	return n
}
