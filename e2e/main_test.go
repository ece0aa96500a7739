package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// punchBin is the punch binary that TestMain builds.
var punchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "punch-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	punchBin = filepath.Join(dir, "punch")
	build := exec.Command("go", "build", "-o", punchBin, "github.com/punchkit/punch/cmd/punch")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building punch:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is the outcome of one punch run.
type result struct {
	stdout, stderr string
	code           int
}

// punch runs the punch binary with args and returns its output and exit
// code; it fails the test only if the binary cannot run at all.
func punch(tb testing.TB, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(tb, exec.CommandContext(ctx, punchBin, args...))
}

func runCmd(tb testing.TB, cmd *exec.Cmd) result {
	tb.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("%v: %v", cmd.Args, err)
	}
	return r
}

// mustPunch runs punch and fails the test unless it exits 0.
func mustPunch(tb testing.TB, args ...string) string {
	tb.Helper()
	r := punch(tb, args...)
	if r.code != 0 {
		tb.Fatalf("punch %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// background starts punch with args and stops it when the test ends.
func background(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(punchBin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			tb.Logf("punch %s stderr:\n%s", strings.Join(args, " "), errb.String())
		}
	})
}

// netnsExists reports whether any network namespace's name starts with
// prefix.
func netnsWithPrefix(prefix string) []string {
	out, _ := exec.Command("ip", "netns", "list").Output()
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			found = append(found, f[0])
		}
	}
	return found
}
