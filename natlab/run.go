package natlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// run runs a command and returns its error with the command line and its
// standard error attached.
func run(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		line := name + " " + strings.Join(args, " ")
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		return fmt.Errorf("%s: %w: %s", line, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ip runs iproute2's ip with the given arguments.
func ip(ctx context.Context, args ...string) error { return run(ctx, "", "ip", args...) }

// inNetns runs a command inside a network namespace.
func inNetns(ctx context.Context, netns, stdin string, args ...string) error {
	return run(ctx, stdin, "ip", append([]string{"netns", "exec", netns}, args...)...)
}

// CheckSupported reports why this machine cannot build a lab, or nil: the
// lab needs root, iproute2's ip, nftables' nft and tc.
func CheckSupported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root (network namespaces and nftables)", ErrUnsupported)
	}
	var missing []string
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found (install the Debian packages iproute2 and nftables)", ErrUnsupported, strings.Join(missing, ", "))
	}
	return nil
}
