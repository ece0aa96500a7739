// Package bench holds punch's load generators, which `punch bench` runs to
// measure punch against a baseline in the same run.
package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionstun "github.com/pion/stun/v4"
)

// STUNConfig tunes a STUN load run; the zero value works.
type STUNConfig struct {
	// Duration is how long to send. Default 5 s.
	Duration time.Duration
	// Conns is the number of client sockets, each with its own goroutine.
	// Default 8.
	Conns int
	// Window is how many requests each socket keeps outstanding. Default 16.
	Window int
}

// STUNResult is the outcome of a load run against one server.
type STUNResult struct {
	Server   netip.AddrPort `json:"server"`
	Sent     int64          `json:"sent"`
	Answered int64          `json:"answered"`
	Elapsed  time.Duration  `json:"elapsed"`
}

// PerSecond is the rate of answered requests.
func (r STUNResult) PerSecond() float64 { return float64(r.Answered) / r.Elapsed.Seconds() }

// STUN sends Binding requests to server from cfg.Conns UDP sockets, each
// keeping cfg.Window requests outstanding, and counts the valid success
// responses whose transaction ID matches one it sent. A window that gets no
// answer for 100 ms is sent again, so losses slow the run down rather than
// stall it.
func STUN(ctx context.Context, server netip.AddrPort, cfg *STUNConfig) (STUNResult, error) {
	c := STUNConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.Duration = cmpOr(c.Duration, 5*time.Second)
	c.Conns = cmpOr(c.Conns, 8)
	c.Window = cmpOr(c.Window, 16)
	res := STUNResult{Server: server}
	conns := make([]*net.UDPConn, c.Conns)
	for i := range conns {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return res, err
		}
		conn.SetReadBuffer(1 << 20)
		conns[i] = conn
	}
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var sent, answered atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	errs := make([]error, c.Conns)
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = load(ctx, conn, uint32(i), c.Window, &sent, &answered)
		}()
	}
	<-ctx.Done()
	for _, conn := range conns {
		conn.SetReadDeadline(time.Now()) // wakes the readers
	}
	wg.Wait()
	for _, conn := range conns {
		conn.Close()
	}
	res.Elapsed = time.Since(start)
	res.Sent, res.Answered = sent.Load(), answered.Load()
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("loading %s: %w", server, err)
	}
	if res.Answered == 0 {
		return res, fmt.Errorf("no answer from %s", server)
	}
	return res, nil
}

// load drives one socket: the transaction ID carries the worker number and
// a sequence number, so a response counts only if it answers a request of
// this worker.
func load(ctx context.Context, conn *net.UDPConn, worker uint32, window int, sent, answered *atomic.Int64) error {
	req := new(pionstun.Message)
	var seq uint64
	send := func() error {
		seq++
		req.Reset()
		req.Type = pionstun.BindingRequest
		binary.BigEndian.PutUint32(req.TransactionID[0:4], worker)
		binary.BigEndian.PutUint64(req.TransactionID[4:12], seq)
		req.WriteHeader()
		if err := pionstun.Fingerprint.AddTo(req); err != nil {
			return err
		}
		_, err := conn.Write(req.Raw)
		sent.Add(1)
		return err
	}
	resp := &pionstun.Message{Raw: make([]byte, 1500)}
	buf := resp.Raw
	for ctx.Err() == nil {
		for range window {
			if err := send(); err != nil {
				return err
			}
		}
		for ctx.Err() == nil {
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := conn.Read(buf)
			if err != nil {
				break // resend a full window
			}
			resp.Raw = buf[:n]
			if resp.Decode() != nil || resp.Type != pionstun.BindingSuccess ||
				binary.BigEndian.Uint32(resp.TransactionID[0:4]) != worker {
				continue
			}
			answered.Add(1)
			if err := send(); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
