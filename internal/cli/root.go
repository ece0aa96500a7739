// Package cli holds punch's command-line interface: one file per
// subcommand, each a thin layer over the library packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Version is the punch version, set at build time with
// -ldflags "-X github.com/punchkit/punch/internal/cli.Version=v1.2.3".
var Version = "v0.1.0-dev"

// globals are the flags every subcommand shares.
type globals struct {
	verbose bool
}

// logger returns the debug logger when -v is set, a warnings-only logger
// otherwise. Logs go to stderr so that stdout stays free for data.
func (g *globals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// debugLogger is logger, but nil (no logging at all) without -v.
func (g *globals) debugLogger(w io.Writer) *slog.Logger {
	if !g.verbose {
		return nil
	}
	return g.logger(w)
}

// New builds the root command with every subcommand attached.
func New() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "punch",
		Short: "Connect two hosts behind NATs and firewalls",
		Long: `punch connects two computers that both sit behind NATs and firewalls:
directly where the network allows it (TCP simultaneous open, UDP hole
punching, reverse connection), through a relay where it does not.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "print debug logs to stderr")
	root.SetErr(os.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, add := range subcommands {
		root.AddCommand(add(g))
	}
	return root
}

// subcommands lists the constructors of the subcommands; each file in this
// package appends its own from init.
var subcommands []func(*globals) *cobra.Command

// usageError marks an error caused by bad command-line input.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Report writes err for the user to w and returns the process exit code:
// a passed-on exit status as it is (printing nothing), 130 for an
// interrupt, 2 for bad usage, 1 for anything else.
func Report(w io.Writer, err error) int {
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	if errors.Is(err, context.Canceled) {
		// Ctrl-C or SIGTERM: the shell's convention for an interrupt.
		fmt.Fprintln(w, "punch: interrupted")
		return 130
	}
	fmt.Fprintln(w, "punch:", err)
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(w, "Run 'punch --help' for usage.")
		return 2
	}
	return 1
}

// exitStatus is an error that carries a process exit status to pass on,
// such as the status of a command run by `punch lab exec`.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
