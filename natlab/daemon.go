package natlab

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// stopDaemon asks the process that runs a lab's core to tear the lab down
// and waits for it to exit, killing it if it takes too long.
func stopDaemon(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stopping the lab's core (pid %d): %w", pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if !alive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return nil
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return false
}

// SetDaemon records that process pid runs the lab's core, so that Remove
// from another process stops it.
func (l *Lab) SetDaemon(pid int) error {
	l.Daemon = pid
	return l.save()
}
