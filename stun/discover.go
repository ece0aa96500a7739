package stun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Discover measures the behaviour of the NAT or firewall between pc and
// server with the tests of RFC 5780 section 4, and reports it. server must
// support RFC 5780 (answer with OTHER-ADDRESS and honour CHANGE-REQUEST)
// for the mapping and filtering tests; cfg may be nil.
//
// Everything is sent from pc, so the mapping measured is the one pc keeps
// for later use; Discover reads from pc, sets and clears its read deadline
// and drops (or hands to [Config.Unmatched]) packets that answer none of
// its requests; nothing else may read from pc meanwhile.
//
// The tests run in three rounds, each waiting at most cfg.Timeout:
//
//  1. Test I: a binding request to server gives the public address and
//     the server's alternate address (OTHER-ADDRESS).
//  2. Filtering tests II (CHANGE-REQUEST "change IP and port") and III
//     ("change port"), sent to the primary address only: an answer to II
//     means endpoint-independent filtering, else an answer to III
//     address-dependent filtering, else address-and-port-dependent. They
//     run before anything goes to the alternate address, whose traffic
//     would open an address-dependent filter and fake an answer.
//  3. Mapping tests II (alternate IP, primary port) and III (alternate IP
//     and port), compared with test I, and the hairpin test: a binding
//     request sent to our own public address that must come back to pc.
//
// If test I gets no answer, Discover returns a nil report and an error
// wrapping [ErrNoResponse]. If some tests cannot run (a server without
// RFC 5780 support, an alternate address that does not answer, a server
// that ignores CHANGE-REQUEST) it returns the report of what it could
// measure, with [Report.Skipped] naming the rest, and an error wrapping
// [ErrIncomplete] (and [ErrNoRFC5780] when that is the cause). If ctx ends
// or the socket fails after test I, it returns the partial report and
// that error.
func Discover(ctx context.Context, pc net.PacketConn, server netip.AddrPort, cfg *Config) (*Report, error) {
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	d := &discovery{prober: newProber(pc, cfg), r: &Report{
		Local:     addrPortOf(pc.LocalAddr()),
		Server:    server,
		Mapping:   MappingUnknown,
		Filtering: FilteringUnknown,
		Class:     ClassUnknown,
	}}
	r := d.r
	t1, err := d.newProbe("I", server, ChangeRequest{})
	if err != nil {
		return nil, err
	}
	if err := d.run(ctx, t1); err != nil {
		return nil, err
	}
	if err := d.mustAnswer(t1); err != nil {
		return nil, err
	}
	r.Public = t1.resp.Mapped
	r.NAT = !isLocal(r.Public, r.Local)
	r.PortPreserving = r.Public.Port() == r.Local.Port()

	hp, err := d.newProbe("hairpin", r.Public, ChangeRequest{})
	if err != nil {
		return nil, err
	}
	hp.loop = true
	if why := unusableOther(server, t1.resp.Other); why != "" {
		d.skip(fmt.Errorf("%w: %s", ErrNoRFC5780, why), "mapping", "filtering")
		err = d.run(ctx, hp)
	} else {
		r.Other = t1.resp.Other
		err = d.behaviour(ctx, hp)
	}
	if err != nil {
		return r.finish(), err
	}
	r.Hairpin = hp.answered
	if hp.err != nil {
		d.skip(hp.err, "hairpin")
	}
	r.finish()
	if len(r.Skipped) > 0 {
		return r, fmt.Errorf("%w (%s): %w", ErrIncomplete, strings.Join(r.Skipped, ", "), d.problems)
	}
	return r, nil
}

// discovery is the state of one Discover call.
type discovery struct {
	*prober
	r        *Report
	problems errorList // why the tests in r.Skipped could not run
}

// skip records tests that could not run, and why.
func (d *discovery) skip(err error, tests ...string) {
	d.r.Skipped = append(d.r.Skipped, tests...)
	d.problems = append(d.problems, fmt.Errorf("%s: %w", strings.Join(tests, " and "), err))
}

// behaviour runs the RFC 5780 rounds against a server with a usable
// alternate address: the filtering tests first, then the mapping tests
// together with the hairpin probe hp.
func (d *discovery) behaviour(ctx context.Context, hp *probe) error {
	server, other := d.r.Server, d.r.Other
	f2, err2 := d.newProbe("filtering II", server, ChangeRequest{IP: true, Port: true})
	f3, err3 := d.newProbe("filtering III", server, ChangeRequest{Port: true})
	m2, err4 := d.newProbe("mapping II", netip.AddrPortFrom(other.Addr(), server.Port()), ChangeRequest{})
	m3, err5 := d.newProbe("mapping III", other, ChangeRequest{})
	if err := errors.Join(err2, err3, err4, err5); err != nil {
		return err
	}
	if err := d.run(ctx, f2, f3); err != nil {
		return err
	}
	var err error
	if d.r.Filtering, err = filteringOf(server, f2, f3); err != nil {
		d.skip(err, "filtering")
	}
	if err := d.run(ctx, m2, m3, hp); err != nil {
		return err
	}
	if d.r.Mapping, err = mappingOf(d.r.Public, m2, m3); err != nil {
		d.skip(err, "mapping")
	}
	return nil
}

// run runs one round of probes and records them in the report.
func (d *discovery) run(ctx context.Context, probes ...*probe) error {
	err := d.round(ctx, probes...)
	for _, p := range probes {
		rec := Probe{Test: p.name, To: p.to, Change: p.change.String(),
			Answered: p.answered, From: p.from, RTT: p.rtt, Sent: p.sent}
		if p.resp != nil {
			rec.Mapped = p.resp.Mapped
		}
		if p.err != nil {
			rec.Error = p.err.Error()
		}
		d.r.Probes = append(d.r.Probes, rec)
	}
	return err
}

// finish fills in the fields derived from the measurements.
func (r *Report) finish() *Report {
	r.Class = Classify(r.NAT, r.Mapping, r.Filtering)
	r.Advice = r.Class.Advice()
	return r
}

// unusableOther says why the OTHER-ADDRESS of test I cannot serve the
// behaviour tests, or returns "" if it can.
func unusableOther(server, other netip.AddrPort) string {
	switch {
	case !other.IsValid():
		return "its answer has no OTHER-ADDRESS"
	case other.Addr().Is4() != server.Addr().Is4():
		return fmt.Sprintf("its OTHER-ADDRESS %s is of the other address family", other)
	case other.Addr().IsUnspecified() || other.Port() == 0:
		return fmt.Sprintf("its OTHER-ADDRESS %s is unusable", other)
	case other.Addr() == server.Addr() || other.Port() == server.Port():
		return fmt.Sprintf("its OTHER-ADDRESS %s does not differ from %s in both address and port", other, server)
	}
	return ""
}

// filteringOf decides the filtering behaviour from filtering tests II and
// III (RFC 5780 section 4.4), checking that the server really answered
// from where it was asked to.
func filteringOf(server netip.AddrPort, f2, f3 *probe) (Filtering, error) {
	switch {
	case f2.err != nil:
		return FilteringUnknown, f2.err
	case f2.answered && (f2.from.Addr() == server.Addr() || f2.from.Port() == server.Port()):
		return FilteringUnknown, fmt.Errorf("the server ignored CHANGE-REQUEST: "+
			"it answered a change of IP and port from %s", f2.from)
	case f2.answered:
		return EndpointIndependentFiltering, nil
	case f3.err != nil:
		return FilteringUnknown, f3.err
	case f3.answered && f3.from.Port() == server.Port():
		return FilteringUnknown, fmt.Errorf("the server ignored CHANGE-REQUEST: "+
			"it answered a change of port from %s", f3.from)
	case f3.answered:
		return AddressDependentFiltering, nil
	}
	return AddressAndPortDependentFiltering, nil
}

// mappingOf decides the mapping behaviour from the public address of test
// I and mapping tests II and III (RFC 5780 section 4.3).
func mappingOf(public netip.AddrPort, m2, m3 *probe) (Mapping, error) {
	if err := answerErr(m2); err != nil {
		return MappingUnknown, err
	}
	if m2.resp.Mapped == public {
		return EndpointIndependentMapping, nil
	}
	if err := answerErr(m3); err != nil {
		return MappingUnknown, err
	}
	if m3.resp.Mapped == m2.resp.Mapped {
		return AddressDependentMapping, nil
	}
	return AddressAndPortDependentMapping, nil
}

// answerErr explains why a probe that needed an answer has none.
func answerErr(p *probe) error {
	switch {
	case p.err != nil:
		return p.err
	case !p.answered:
		return fmt.Errorf("no answer from the server's alternate address %s", p.to)
	}
	return nil
}

// isLocal reports whether public is the socket's own address: the local
// address itself, or, for a socket bound to an unspecified address, one of
// the host's interface addresses with the local port.
func isLocal(public, local netip.AddrPort) bool {
	if !local.IsValid() || public.Port() != local.Port() {
		return false
	}
	la := local.Addr().Unmap().WithZone("")
	pa := public.Addr().Unmap().WithZone("")
	if !la.IsUnspecified() {
		return pa == la
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == pa {
			return true
		}
	}
	return false
}

// errorList is several errors in one line, each still matched by
// errors.Is and errors.As.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errorList) Unwrap() []error { return l }
