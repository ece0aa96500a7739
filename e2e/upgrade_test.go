package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/testkit"
	"github.com/punchkit/punch/natlab/labtest"
)

// waitFor polls the buffers until each contains want, or fails after d.
func waitFor(t *testing.T, d time.Duration, want string, bufs ...*testkit.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		all := true
		for _, b := range bufs {
			all = all && strings.Contains(b.String(), want)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, b := range bufs {
				logs = append(logs, b.String())
			}
			t.Fatalf("no %q within %v:\n%s", want, d, strings.Join(logs, "\n---\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectUpgrade starts punch connect while natA's router blocks
// every packet between the two sites, so that only the relay works; then
// lifts the block. The relayed session must move to the direct UDP path
// and carry a transfer that started on the relay to its end intact.
func TestConnectUpgrade(t *testing.T) {
	lab := tcpLab(t, "--delay", "20ms")
	natA := labtest.Node(t, lab, "natA")
	nft := func(script string) {
		t.Helper()
		cmd := natA.Command(context.Background(), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
	}
	peer := labtest.Node(t, lab, "b").PublicAddr(true)
	nft("table inet punchblock {\n chain block {\n  type filter hook forward priority -10; policy accept;\n" +
		"  ip daddr " + peer.String() + " drop\n  ip saddr " + peer.String() + " drop\n }\n}\n")

	key := "upgrade-" + labtest.Name()
	data := randomBytes(6 << 20)
	var stderrA, stderrB testkit.SyncBuffer
	var received bytes.Buffer
	tx := exec.Command(punchBin, "lab", "exec", lab.Config.Name, "a", "--", punchBin, "connect", "-s", "-T", "198.51.100.2", key)
	rx := exec.Command(punchBin, "lab", "exec", lab.Config.Name, "b", "--", punchBin, "connect", "-r", "-T", "198.51.100.2", key)
	in, err := tx.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tx.Stderr, rx.Stderr, rx.Stdout = &stderrA, &stderrB, &received
	for _, c := range []*exec.Cmd{rx, tx} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill() })
	}
	waitFor(t, 20*time.Second, "connected via relay", &stderrA, &stderrB)
	in.Write(data[:1<<20]) // on the relay

	nft("delete table inet punchblock\n")
	waitFor(t, 30*time.Second, "moved from the relay to a direct UDP path", &stderrA, &stderrB)
	in.Write(data[1<<20:]) // on the direct path
	in.Close()

	done := make(chan error, 1)
	go func() { done <- rx.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("receiver: %v\n%s", err, stderrB.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the transfer did not finish:\na: %s\nb: %s", stderrA.String(), stderrB.String())
	}
	tx.Wait()
	if sha256.Sum256(received.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("received %d of %d bytes, or corrupted", received.Len(), len(data))
	}
	t.Logf("a: %s", lastLine(stderrA.String()))
}
