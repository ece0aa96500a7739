package stunserver

import (
	"net/netip"
	"strconv"
)

// Role is a UDP socket's place in the RFC 5780 grid of two IP addresses
// (A1, A2) by two ports (P1, P2). Bit 1 selects the alternate IP, bit 0 the
// alternate port, so the socket that answers a CHANGE-REQUEST received on
// role r is r XOR the requested changes, and OTHER-ADDRESS names the socket
// at r XOR RoleAltIPPort (RFC 5780 section 6.1, table 1).
type Role uint8

const (
	// RolePrimary is A1:P1, the address clients are usually given.
	RolePrimary Role = 0
	// RoleAltPort is A1:P2.
	RoleAltPort Role = 1
	// RoleAltIP is A2:P1.
	RoleAltIP Role = 2
	// RoleAltIPPort is A2:P2.
	RoleAltIPPort Role = RoleAltIP | RoleAltPort
)

// String names the role by its grid position, as in "A1:P2".
func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "A1:P1"
	case RoleAltPort:
		return "A1:P2"
	case RoleAltIP:
		return "A2:P1"
	case RoleAltIPPort:
		return "A2:P2"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// grid is where a request arrived: the local addresses of the sockets of
// one group, by role.
type grid struct {
	// addrs holds each role's local address, unmapped; the zero AddrPort
	// where the role is absent or its socket is bound to an unspecified
	// address (then the response carries no RESPONSE-ORIGIN).
	addrs [4]netip.AddrPort
	// full means all four roles are present on two IPs by two ports: RFC
	// 5780 mode, with OTHER-ADDRESS and CHANGE-REQUEST.
	full bool
}
