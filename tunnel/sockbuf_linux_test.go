package tunnel

import (
	"os"
	"testing"

	"github.com/punchkit/punch/internal/sockbuf"
)

// TestSocketBuffers checks that NewTransport raises the socket buffers
// to Config.SocketBuffer (root may force them past the sysctl limits);
// with a negative size they are quic-go's business.
func TestSocketBuffers(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"default", 0},
		{"2 MiB", 2 << 20},
		{"untouched", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := listenUDP(t, "udp4", "127.0.0.1:0")
			raw, err := pc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rcv0, snd0 := sockbuf.Sizes(raw)
			tr, err := NewTransport(pc, &Config{SocketBuffer: tt.size})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			rcv, snd := sockbuf.Sizes(raw)
			t.Logf("receive %d -> %d, send %d -> %d", rcv0, rcv, snd0, snd)
			want := tt.size
			switch {
			case tt.size == 0:
				want = defaultSocketBuffer
			case tt.size < 0:
				return // quic-go's own setting, whatever the kernel allows
			}
			if os.Geteuid() != 0 {
				t.Skip("not root: the kernel may cap the buffers at net.core.rmem_max")
			}
			if rcv < want || snd < want {
				t.Errorf("buffers %d and %d, want at least %d", rcv, snd, want)
			}
		})
	}
}
