// Command punch connects two hosts behind NATs and firewalls.
//
// See README.md for a quick start and `punch --help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/punchkit/punch/internal/cli"
)

func main() {
	// quic-go prints a line when the kernel caps the UDP socket buffers;
	// the tunnel logs that itself.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(cli.Report(os.Stderr, err))
	}
}
