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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(cli.Report(os.Stderr, err))
	}
}
