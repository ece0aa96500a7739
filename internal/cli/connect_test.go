package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestConnectBadInput checks that punch connect refuses bad flags and
// arguments as usage errors (exit 2) that name the problem, before it
// touches the network.
func TestConnectBadInput(t *testing.T) {
	t.Setenv(serverEnv, "")
	tests := []struct {
		name string
		args []string
		want string // in the error message
	}{
		{"no-server", []string{"key-1"}, "no punch server"},
		{"bad-path", []string{"-T", "127.0.0.1", "--path", "carrier-pigeon", "key-1"}, "--path"},
		{"send-and-receive", []string{"-T", "127.0.0.1", "-s", "-r", "key-1"}, "-s and -r"},
		{"connect-and-listen", []string{"-T", "127.0.0.1", "-c", "22", "-l", "2222", "key-1"}, "-c and -l"},
		{"bad-grace", []string{"-T", "127.0.0.1", "--relay-grace", "0s", "key-1"}, "--relay-grace"},
		{"bad-stun-port", []string{"-T", "127.0.0.1", "--stun-port", "70000", "key-1"}, "--stun-port"},
		{"two-keys", []string{"-T", "127.0.0.1", "--key", "key-1", "key-2"}, "twice"},
		{"too-many", []string{"-T", "127.0.0.1", "key-1", "key-2"}, "too many arguments"},
		{"bad-key", []string{"-T", "127.0.0.1", "bad\x01key"}, "control character"},
		{"bad-bind", []string{"-T", "127.0.0.1", "-H", "nope", "key-1"}, "-H"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkUsageError(t, append([]string{"connect"}, tt.args...), tt.want)
		})
	}
}

// TestForwardAddrBadInput checks that a -c or -l value that is no
// [HOST:]PORT is refused as a usage error before the punch, by every
// command that forwards.
func TestForwardAddrBadInput(t *testing.T) {
	t.Setenv(serverEnv, "")
	for _, cmd := range []string{"connect", "tcp", "udp"} {
		for _, tt := range []struct {
			name string
			args []string
			want string
		}{
			{"connect-word", []string{"-c", "notaport"}, `-c "notaport"`},
			{"connect-port-range", []string{"-c", "70000"}, `-c "70000"`},
			{"connect-port-zero", []string{"-c", "localhost:0"}, `-c "localhost:0"`},
			{"connect-no-port", []string{"-c", "localhost:"}, `-c "localhost:"`},
			{"listen-bad-port", []string{"-l", "127.0.0.1:x1"}, `-l "127.0.0.1:x1"`},
			{"listen-colons", []string{"-l", "a:b:c"}, `-l "a:b:c"`},
		} {
			t.Run(cmd+"/"+tt.name, func(t *testing.T) {
				checkUsageError(t, append([]string{cmd, "-T", "127.0.0.1"}, append(tt.args, "key-1")...), tt.want)
			})
		}
	}
}

func TestCheckAddrAccepts(t *testing.T) {
	for _, v := range []string{"22", "localhost:22", "10.0.0.1:ssh", "[::1]:8080", ":8080"} {
		if err := checkAddr("-c", v, false); err != nil {
			t.Errorf("-c %s: %v", v, err)
		}
	}
	if err := checkAddr("-l", "127.0.0.1:0", true); err != nil {
		t.Errorf("-l 127.0.0.1:0: %v", err)
	}
}

// TestLabMatrixBadInput checks punch lab matrix's usage errors, which come
// before it needs root or builds a lab.
func TestLabMatrixBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no-types", []string{"--types", ""}, "--types"},
		{"bad-type", []string{"--types", "fullcone,nat5"}, "nat5"},
		{"bad-input", []string{"--input", "maybe"}, "maybe"},
		{"no-runs", []string{"--runs", "0"}, "--runs"},
		{"negative-delay", []string{"--delay", "-1ms"}, "--delay"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkUsageError(t, append([]string{"lab", "matrix"}, tt.args...), tt.want)
		})
	}
}

// checkUsageError runs punch with args and checks that it fails with a
// usage error (exit 2) that mentions want.
func checkUsageError(t *testing.T, args []string, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := New()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(io.Discard)
	cmd.SetErr(new(bytes.Buffer))
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		t.Fatal("no error")
	}
	if code := Report(io.Discard, err); code != 2 {
		t.Errorf("exit code %d for %v, want 2", code, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not mention %q", err, want)
	}
}
