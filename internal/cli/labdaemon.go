package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/punchkit/punch/natlab"
)

// A lab outlives `punch lab up`: its core router runs in a daemon, a
// second punch process (`punch lab daemon`, hidden) that reads the lab's
// configuration on stdin, builds the lab, answers with one JSON object on
// stdout ({"lab": ...} or {"error": "..."}), closes stdout, and then runs
// the core until `punch lab down` sends it SIGTERM.

type daemonReply struct {
	Lab   *natlab.Lab `json:"lab,omitempty"`
	Error string      `json:"error,omitempty"`
}

// startLabDaemon starts the daemon for cfg and returns the lab it built.
func startLabDaemon(ctx context.Context, cfg natlab.Config) (*natlab.Lab, error) {
	if err := natlab.CheckSupported(); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(natlab.StateDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(natlab.StateDir, cfg.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(exe, "lab", "daemon")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var reply daemonReply
	derr := json.NewDecoder(out).Decode(&reply)
	switch {
	case derr != nil:
		cmd.Process.Kill()
		cmd.Wait()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("the lab daemon failed: %v\n%s", derr, log)
	case reply.Error != "":
		cmd.Wait()
		return nil, errors.New(reply.Error)
	}
	// The daemon lives on in its own session; do not wait for it.
	cmd.Process.Release()
	return reply.Lab, nil
}

func newLabDaemonCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "daemon",
		Short:  "Run a lab's core (started by punch lab up)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg natlab.Config
			if err := json.NewDecoder(cmd.InOrStdin()).Decode(&cfg); err != nil {
				return err
			}
			return runLabDaemon(cmd.Context(), os.Stdout, cfg, g)
		},
	}
}

// runLabDaemon builds the lab, reports it on out (then closes out if it is
// a file), serves control requests and runs the core until ctx ends, then
// tears the lab down.
func runLabDaemon(ctx context.Context, out io.Writer, cfg natlab.Config, g *globals) error {
	lab, err := natlab.New(ctx, cfg, g.logger(os.Stderr))
	if err == nil {
		err = lab.SetDaemon(os.Getpid())
	}
	reply := daemonReply{Lab: lab}
	if err != nil {
		reply = daemonReply{Error: err.Error()}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.Encode(reply)
	if f, ok := out.(*os.File); ok && f == os.Stdout {
		f.Close()
	}
	if err != nil {
		if lab != nil {
			lab.Close()
		}
		return exitStatus(1)
	}
	serr := lab.ServeControl(ctx)
	return errors.Join(serr, lab.Close())
}
