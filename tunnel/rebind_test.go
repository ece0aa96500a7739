package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/punchkit/punch/internal/leakcheck"
)

// TestNATRebinding puts a NAT-like proxy between the initiator and the
// responder and moves the initiator's public port while a 16 MiB transfer
// runs in each direction: the responder follows the new address and
// both transfers complete intact.
func TestNATRebinding(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b, p := proxiedPair(t, f.network, f.addr)
			if got, want := b.RemoteAddr(), p.backAddr(); got != want {
				t.Fatalf("responder sees %v, want %v", got, want)
			}
			transferDuring(t, a, b, func() {
				t.Logf("rebinding: %v -> %v", p.backAddr(), p.rebind(t, f.network, f.addr))
			})
			if got, want := b.RemoteAddr(), p.backAddr(); got != want {
				t.Errorf("after rebinding the responder sees %v, want %v", got, want)
			}
			a.Close()
			b.Close()
		})
	}
}

// TestMove breaks the path from the initiator to the responder (a proxy
// that drops everything, as a NAT does to a peer whose public address
// changed) mid-transfer, and moves the initiator to a second path (a
// new proxy in front of the responder) with Move: both transfers complete
// intact, on the new path. (Without the Move the initiator keeps sending
// to the dead path and the transfer stalls: checked by disabling it.)
func TestMove(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			leakcheck.Check(t)
			a, b, old := proxiedPair(t, f.network, f.addr)
			if err := b.Move(a.LocalAddr()); err != nil || b.RemoteAddr() != old.backAddr() {
				t.Fatalf("Move on the responder: %v, and it sees %v; want nothing done", err, b.RemoteAddr())
			}
			moved := newProxy(t, f.network, f.addr, old.target)
			transferDuring(t, a, b, func() {
				old.drop.Store(true)
				// Once what was in flight has landed, nothing gets
				// through the old path.
				time.Sleep(200 * time.Millisecond)
				got := b.Stats().WireReceived
				time.Sleep(500 * time.Millisecond)
				if now := b.Stats().WireReceived; now != got {
					t.Errorf("the dead path carried %d bytes", now-got)
				}
				if err := a.Move(addrOf(moved.front)); err != nil {
					t.Error(err)
				}
			})
			if got, want := a.RemoteAddr(), addrOf(moved.front); got != want {
				t.Errorf("after Move the initiator sees %v, want %v", got, want)
			}
			if got, want := b.RemoteAddr(), moved.backAddr(); got != want {
				t.Errorf("after Move the responder sees %v, want %v", got, want)
			}
			a.Close()
			b.Close()
		})
	}
}

// proxiedPair opens a tunnel whose initiator a reaches the responder b
// through a proxy p, a NAT-like middle box.
func proxiedPair(t *testing.T, network, addr string) (a, b *Conn, p *proxy) {
	t.Helper()
	pcA, pcB := listenUDP(t, network, addr), listenUDP(t, network, addr)
	p = newProxy(t, network, addr, addrOf(pcB))
	ra, rb := dialAccept(t, pcA, pcB, addrOf(p.front), testKey, testKey, testConfig(), testConfig())
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	return ra.c, rb.c, p
}

// transferDuring moves 16 MiB each way between a and b on one stream and
// calls fault once a quarter of the upload has arrived; both directions
// must arrive intact, and the fault must have come mid-transfer.
func transferDuring(t *testing.T, a, b *Conn, fault func()) {
	t.Helper()
	n := size(16 << 20)
	up, down := random(n), random(n)
	// b sends down while it reads up; a the reverse.
	go func() {
		st, err := b.Accept(context.Background())
		if err != nil {
			return
		}
		sent := make(chan struct{})
		go func() {
			st.Write(down)
			st.(interface{ CloseWrite() error }).CloseWrite()
			close(sent)
		}()
		got, _ := io.ReadAll(st)
		if !bytes.Equal(got, up) {
			t.Errorf("responder got %d bytes, want %d intact", len(got), len(up))
		}
		<-sent // Close during a Write would reset the stream
		st.Close()
	}()
	st, err := a.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	faulted := make(chan [2]uint64, 1)
	go func() {
		for b.Stats().Received < uint64(n/4) && b.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		at := [2]uint64{b.Stats().Received, a.Stats().Received}
		fault()
		faulted <- at
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := st.Write(up)
		if err == nil {
			err = st.(interface{ CloseWrite() error }).CloseWrite()
		}
		wrote <- err
	}()
	h := sha256.New()
	if _, err := io.Copy(h, st); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(down); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the initiator's download differs")
	}
	st.Close()
	if at := <-faulted; at[0] >= uint64(n) || at[1] >= uint64(n) {
		t.Errorf("the fault came after %d bytes up and %d down of %d: not mid-transfer", at[0], at[1], n)
	} else {
		t.Logf("the fault came after %d bytes up and %d down of %d", at[0], at[1], n)
	}
	t.Logf("initiator %+v", a.Stats())
	t.Logf("responder %+v", b.Stats())
}
