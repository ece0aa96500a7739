package rendezvous

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// check validates r as the server does, with Kind defaulted. It returns a
// message for the user, or "" when r is fine.
func (r *Request) check() string {
	if !slices.Contains(kinds, r.Kind) {
		return fmt.Sprintf("unknown kind %q: want one of %q", r.Kind, kinds)
	}
	if len(r.Local) > MaxCandidates || len(r.UDP) > MaxCandidates {
		return fmt.Sprintf("more than %d local or udp addresses", MaxCandidates)
	}
	for _, list := range [][]netip.AddrPort{r.Local, r.UDP} {
		for _, a := range list {
			if !a.IsValid() || a.Port() == 0 {
				return fmt.Sprintf("bad candidate address %v", a)
			}
		}
	}
	if len(r.Info) > MaxInfoSize {
		return fmt.Sprintf("info larger than %d bytes", MaxInfoSize)
	}
	if len(r.Info) > 0 {
		if t := bytes.TrimLeft(r.Info, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(r.Info) {
			return "info is not a JSON object"
		}
	}
	if len(r.Handshake) > MaxHandshakeSize {
		return fmt.Sprintf("hs larger than %d bytes", MaxHandshakeSize)
	}
	return ""
}

// marshalRequest is what a version 1 client sends: Hello and the request
// line. It returns a message for the user when r is not valid.
func marshalRequest(r Request) ([]byte, string) {
	if r.Kind == "" {
		r.Kind = KindTCP
	}
	if msg := r.check(); msg != "" {
		return nil, msg
	}
	w := wireRequest{
		Token: hex.EncodeToString(r.Token[:]),
		Kind:  r.Kind,
		Local: r.Local,
		UDP:   r.UDP,
		Info:  r.Info,
	}
	if len(r.Handshake) > 0 {
		hs := base64.StdEncoding.EncodeToString(r.Handshake)
		w.HS = &hs
	}
	var buf bytes.Buffer
	buf.WriteString(Hello)
	err := encodeLine(&buf, w)
	if err != nil {
		return nil, err.Error()
	}
	if buf.Len()-len(Hello) > MaxRequestSize {
		return nil, fmt.Sprintf("request larger than %d bytes", MaxRequestSize)
	}
	return buf.Bytes(), ""
}

// encodeLine writes v to buf as one line of JSON. Unlike json.Marshal it
// does not escape <, > and &, so that info objects keep their size.
func encodeLine(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(v) // with "\n"
}

// parseRequest parses a version 1 request line without its "\n". The
// error is a message for the client.
func parseRequest(line []byte) (Request, error) {
	var w wireRequest
	if err := json.Unmarshal(line, &w); err != nil {
		return Request{}, fmt.Errorf("bad JSON: %v", err)
	}
	var r Request
	if len(w.Token) != 2*KeySize {
		return Request{}, fmt.Errorf("token: want %d hex digits, got %d characters", 2*KeySize, len(w.Token))
	}
	if _, err := hex.Decode(r.Token[:], []byte(w.Token)); err != nil {
		return Request{}, fmt.Errorf("token: %v", err)
	}
	r.Kind, r.Local, r.UDP = w.Kind, w.Local, w.UDP
	if r.Kind == "" {
		r.Kind = KindTCP
	}
	if len(w.Info) > 0 && !bytes.Equal(w.Info, []byte("null")) {
		r.Info = w.Info
	}
	if w.HS != nil {
		hs, err := decodeHandshake(*w.HS)
		if err != nil {
			return Request{}, fmt.Errorf("hs: %v", err)
		}
		r.Handshake = hs
	}
	if msg := r.check(); msg != "" {
		return Request{}, fmt.Errorf("%s", msg)
	}
	if r.Info != nil {
		// Keep a compact copy, not a slice of the read buffer.
		var buf bytes.Buffer
		buf.Grow(len(r.Info))
		if err := json.Compact(&buf, r.Info); err != nil {
			return Request{}, fmt.Errorf("info: %v", err)
		}
		r.Info = buf.Bytes()
	}
	return r, nil
}
