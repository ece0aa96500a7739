package natlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// listNetns returns the names of all named network namespaces.
func listNetns(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// deleteNetns kills every process in a namespace, then deletes it.
func deleteNetns(ctx context.Context, ns string) error {
	killNetns(ctx, ns)
	return ip(ctx, "netns", "del", ns)
}

// killNetns kills every process running in a namespace.
func killNetns(ctx context.Context, ns string) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Command returns a command that runs name with args inside the node's
// namespace. The lab's Close kills it if it is still running.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Netns, name}, args...)...)
}

// Do runs f on an OS thread switched into the node's namespace. Sockets f
// opens stay in that namespace after Do returns, so a test can hold
// sockets of many lab hosts in one process.
func (n *Node) Do(f func() error) error {
	target, err := netns.GetFromName(n.Netns)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("node %s: entering namespace: %w", n.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: Go terminates it with the goroutine
		// rather than reuse a thread in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("node %s: leaving namespace: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// WaitTCP waits until a TCP connection from inside the node to addr
// succeeds (a server started in the lab is up), for at most timeout.
func (n *Node) WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := n.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: nothing answers at %s: %w", n.Name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
