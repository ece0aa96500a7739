package stun

import (
	"net/netip"
	"time"
)

// Mapping is a NAT's mapping behaviour (RFC 4787 section 4.1): how it
// picks the public address of an outgoing flow.
type Mapping string

// The mapping behaviours.
const (
	// MappingUnknown: not measured.
	MappingUnknown Mapping = "unknown"
	// EndpointIndependentMapping: one public address for every
	// destination.
	EndpointIndependentMapping Mapping = "endpoint-independent"
	// AddressDependentMapping: a public address per destination IP.
	AddressDependentMapping Mapping = "address-dependent"
	// AddressAndPortDependentMapping: a public address per destination IP
	// and port.
	AddressAndPortDependentMapping Mapping = "address-and-port-dependent"
)

// Filtering is a NAT's or firewall's filtering behaviour (RFC 4787 section
// 5): which inbound packets it lets through to a mapping.
type Filtering string

// The filtering behaviours.
const (
	// FilteringUnknown: not measured.
	FilteringUnknown Filtering = "unknown"
	// EndpointIndependentFiltering: anyone may send to the mapping.
	EndpointIndependentFiltering Filtering = "endpoint-independent"
	// AddressDependentFiltering: only IP addresses the host has sent to.
	AddressDependentFiltering Filtering = "address-dependent"
	// AddressAndPortDependentFiltering: only IP addresses and ports the
	// host has sent to.
	AddressAndPortDependentFiltering Filtering = "address-and-port-dependent"
)

// Class sums a NAT up in the classic four types (RFC 3489's cones), the
// terms most punching folklore uses.
type Class string

// The classes.
const (
	// ClassUnknown: the tests that decide the class could not run.
	ClassUnknown Class = "unknown"
	// ClassOpen: no NAT and no filtering: a public host.
	ClassOpen Class = "open"
	// ClassFirewall: no NAT, but a stateful firewall filters inbound
	// packets.
	ClassFirewall Class = "firewall"
	// ClassNAT1, full cone: endpoint-independent mapping and filtering.
	ClassNAT1 Class = "NAT1"
	// ClassNAT2, restricted cone: endpoint-independent mapping,
	// address-dependent filtering.
	ClassNAT2 Class = "NAT2"
	// ClassNAT3, port-restricted cone: endpoint-independent mapping,
	// address-and-port-dependent filtering.
	ClassNAT3 Class = "NAT3"
	// ClassNAT4, symmetric: the mapping depends on the destination.
	ClassNAT4 Class = "NAT4"
)

// Classify names the class of a host from its measured behaviour.
func Classify(nat bool, m Mapping, f Filtering) Class {
	if !nat {
		switch f {
		case EndpointIndependentFiltering:
			return ClassOpen
		case AddressDependentFiltering, AddressAndPortDependentFiltering:
			return ClassFirewall
		}
		return ClassUnknown
	}
	switch m {
	case AddressDependentMapping, AddressAndPortDependentMapping:
		return ClassNAT4
	case EndpointIndependentMapping:
		switch f {
		case EndpointIndependentFiltering:
			return ClassNAT1
		case AddressDependentFiltering:
			return ClassNAT2
		case AddressAndPortDependentFiltering:
			return ClassNAT3
		}
	}
	return ClassUnknown
}

// Description is the classic name of the class, e.g. "full cone".
func (c Class) Description() string {
	switch c {
	case ClassOpen:
		return "no NAT, no firewall"
	case ClassFirewall:
		return "no NAT, stateful firewall"
	case ClassNAT1:
		return "full cone"
	case ClassNAT2:
		return "restricted cone"
	case ClassNAT3:
		return "port-restricted cone"
	case ClassNAT4:
		return "symmetric"
	}
	return "not determined"
}

// Advice says in one sentence, for a user, what the class means for
// connecting to peers.
func (c Class) Advice() string {
	switch c {
	case ClassOpen:
		return "Directly reachable: peers can connect to your public address; no hole punching needed."
	case ClassFirewall:
		return "Public address behind a firewall: hole punching (both sides send first) works with " +
			"NAT1-NAT3 peers; symmetric (NAT4) peers may need port prediction or a relay."
	case ClassNAT1:
		return "Full cone: once you have sent one packet, anyone can reach your public address; " +
			"hole punching works with every peer, symmetric (NAT4) ones included."
	case ClassNAT2:
		return "Restricted cone: hole punching works with every peer, symmetric (NAT4) ones " +
			"included, since your NAT admits any port of an address you have sent to."
	case ClassNAT3:
		return "Port-restricted cone: hole punching works with NAT1-NAT3 peers; with a symmetric " +
			"(NAT4) peer it needs port prediction or many probes (birthday punching), else a relay."
	case ClassNAT4:
		return "Symmetric: every destination sees a different public port, so the address STUN " +
			"reports is not the one a peer sees. Hole punching works with NAT1 and NAT2 peers; " +
			"NAT3 peers need port prediction or birthday punching; two NAT4 hosts usually need a relay."
	}
	return "NAT behaviour not fully measured: punch will try every method and fall back to a relay."
}

// Report is the outcome of [Discover]. It encodes to JSON with the field
// names shown; addresses encode as "ip:port" strings.
type Report struct {
	// Local is the socket's local address.
	Local netip.AddrPort `json:"local"`
	// Server is the STUN server's primary address.
	Server netip.AddrPort `json:"server"`
	// Other is the server's alternate address (OTHER-ADDRESS); zero when
	// the server does not support RFC 5780.
	Other netip.AddrPort `json:"other,omitzero"`
	// Public is the mapped address the server saw (test I).
	Public netip.AddrPort `json:"public"`
	// NAT reports whether Public differs from every local address of the
	// socket, i.e. whether something translates it.
	NAT bool `json:"nat"`
	// Mapping is the mapping behaviour (RFC 5780 section 4.3).
	Mapping Mapping `json:"mapping"`
	// Filtering is the filtering behaviour (RFC 5780 section 4.4).
	Filtering Filtering `json:"filtering"`
	// PortPreserving reports whether Public has the socket's local port.
	PortPreserving bool `json:"port_preserving"`
	// Hairpin reports whether a packet sent to our own Public address came
	// back to the socket (RFC 5780 section 4.5).
	Hairpin bool `json:"hairpin"`
	// Class is the NAT1..NAT4 / open / firewall summary.
	Class Class `json:"class"`
	// Advice is Class.Advice(): what the class means for punching.
	Advice string `json:"advice"`
	// Skipped names the tests that could not run ("mapping",
	// "filtering", "hairpin"); their fields above are unknown or false.
	Skipped []string `json:"skipped,omitempty"`
	// Probes lists every request sent and what came back, in order.
	Probes []Probe `json:"probes,omitempty"`
}

// Probe is one request of a discovery and its outcome.
type Probe struct {
	// Test names the test: "I", "filtering II", "filtering III",
	// "mapping II", "mapping III" or "hairpin".
	Test string `json:"test"`
	// To is where the request went.
	To netip.AddrPort `json:"to"`
	// Change is the CHANGE-REQUEST sent: "", "port" or "ip+port".
	Change string `json:"change,omitempty"`
	// Answered reports whether an answer came back.
	Answered bool `json:"answered"`
	// From is the source address of the answer.
	From netip.AddrPort `json:"from,omitzero"`
	// Mapped is the mapped address in the answer.
	Mapped netip.AddrPort `json:"mapped,omitzero"`
	// RTT is the time from the first transmission to the answer.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Sent is how many times the request was sent.
	Sent int `json:"sent"`
	// Error describes a send failure, an error response or a bad answer.
	Error string `json:"error,omitempty"`
}
