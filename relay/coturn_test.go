package relay

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestCoturnClient runs coturn's TURN client, turnutils_uclient, against
// the relay with credentials from its Issuer: two clients, each with an
// allocation, send each other datagrams through it (-y), over channels.
// It checks that a third-party client allocates with punch's credentials
// and that nothing it sends is lost.
func TestCoturnClient(t *testing.T) {
	bin, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient (Debian package coturn, which `make test` installs) is not installed")
	}
	s := newTestServer(t, "udp4", families[0].ip, nil)
	cred := s.Issuer().Issue("coturn")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-y", "-c", "-n", "50", "-l", "1000", "-z", "5",
		"-u", cred.Username, "-w", cred.Password,
		"-p", strconv.Itoa(int(s.Addr().Port())), s.Addr().Addr().String()).CombinedOutput()
	if err != nil {
		t.Fatalf("turnutils_uclient: %v\n%s", err, out)
	}
	total := regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n`).FindSubmatch(out)
	lost := regexp.MustCompile(`Total lost packets (\d+)`).FindSubmatch(out)
	if total == nil || string(total[1]) != "100" || string(total[2]) != "100" || lost == nil || string(lost[1]) != "0" {
		t.Fatalf("turnutils_uclient did not pass its 100 datagrams:\n%s", out)
	}
}
