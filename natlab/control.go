package natlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/punchkit/punch/natlab/core"
)

// The control protocol lets `punch lab link` and `punch lab fault` reach
// the process that runs a lab's core: a Unix socket at StateDir/NAME.sock
// carrying one JSON request and one JSON response per connection.

type request struct {
	Op       string        `json:"op"` // "link", "state" or "fault"
	Site     string        `json:"site"`
	Up       *core.Params  `json:"up,omitempty"`
	Down     *core.Params  `json:"down,omitempty"`
	Fault    Fault         `json:"fault,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
}

type response struct {
	Error string          `json:"error,omitempty"`
	State *core.LinkState `json:"state,omitempty"`
}

func socketPath(name string) string { return filepath.Join(StateDir, name+".sock") }

// SetLink changes the impairments of a running link (a site's name or
// "server"); a nil Params leaves that direction as it is.
func (l *Lab) SetLink(ctx context.Context, site string, up, down *core.Params) error {
	if l.router == nil {
		return l.control(ctx, request{Op: "link", Site: site, Up: up, Down: down}, nil)
	}
	return l.router.SetParams(site, up, down)
}

// LinkState returns a link's impairments and counters.
func (l *Lab) LinkState(ctx context.Context, site string) (core.LinkState, error) {
	if l.router == nil {
		var r response
		err := l.control(ctx, request{Op: "state", Site: site}, &r)
		if err != nil || r.State == nil {
			return core.LinkState{}, err
		}
		return *r.State, nil
	}
	return l.router.State(site)
}

// control sends a request to the process that runs the lab's core.
func (l *Lab) control(ctx context.Context, req request, resp *response) error {
	if resp == nil {
		resp = new(response)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath(l.Config.Name))
	if err != nil {
		return fmt.Errorf("lab %s: its core is not running (%w); rebuild it with `punch lab down` and `punch lab up`", l.Config.Name, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return err
	}
	if err := json.NewDecoder(c).Decode(resp); err != nil {
		return fmt.Errorf("lab %s: reading the core's answer: %w", l.Config.Name, err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return nil
}

// ServeControl answers control requests for this lab, whose core this
// process runs, until ctx ends.
func (l *Lab) ServeControl(ctx context.Context) error {
	if l.router == nil {
		return fmt.Errorf("lab %s: this process does not run its core", l.Config.Name)
	}
	path := socketPath(l.Config.Name)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go l.serveConn(ctx, c)
	}
}

func (l *Lab) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		return
	}
	var resp response
	var err error
	switch req.Op {
	case "link":
		err = l.SetLink(ctx, req.Site, req.Up, req.Down)
	case "state":
		var s core.LinkState
		if s, err = l.LinkState(ctx, req.Site); err == nil {
			resp.State = &s
		}
	case "fault":
		err = l.Inflict(ctx, req.Site, req.Fault, req.Duration)
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	json.NewEncoder(c).Encode(resp)
}
