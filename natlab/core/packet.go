package core

import (
	"encoding/binary"
	"net/netip"
)

// dst returns the destination address of an IP packet.
func dst(p []byte) (netip.Addr, bool) {
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(p[16:20])), true
	case len(p) >= 40 && p[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(p[24:40])), true
	}
	return netip.Addr{}, false
}

// src returns the source address of an IP packet already known to be
// valid.
func src(p []byte) netip.Addr {
	if p[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(p[12:16]))
	}
	return netip.AddrFrom16([16]byte(p[8:24]))
}

// forwardTTL decrements the packet's TTL or hop limit, as a router does
// before forwarding, and reports false if the packet must not be forwarded
// because it would expire.
func forwardTTL(p []byte) bool {
	if p[0]>>4 == 6 {
		if p[7] <= 1 {
			return false
		}
		p[7]--
		return true
	}
	if p[8] <= 1 {
		return false
	}
	p[8]--
	// RFC 1141: the TTL is the high byte of its 16-bit word, so the
	// checksum grows by 0x0100, with end-around carry.
	sum := uint32(binary.BigEndian.Uint16(p[10:12])) + 0x0100
	binary.BigEndian.PutUint16(p[10:12], uint16(sum+sum>>16))
	return true
}

// timeExceeded returns the ICMP (or ICMPv6) time exceeded message that a
// router at address from sends about packet p, quoting as much of p as the
// RFCs allow (576 bytes in all for IPv4, RFC 1812; 1280 for IPv6, RFC
// 4443). It returns nil for packets that must not be answered: ICMP
// errors themselves.
func timeExceeded(p []byte, from netip.Addr) []byte {
	if p[0]>>4 == 4 {
		ihl := int(p[0]&0x0f) * 4
		if len(p) < ihl+1 || (p[9] == 1 && !icmp4Informational(p[ihl])) {
			return nil
		}
		quote := p[:min(len(p), 576-28)]
		out := make([]byte, 28+len(quote))
		out[0], out[8], out[9] = 0x45, 64, 1 // version/IHL, TTL, ICMP
		binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
		copy(out[12:16], from.AsSlice())
		copy(out[16:20], p[12:16])
		binary.BigEndian.PutUint16(out[10:12], checksum(out[:20], 0))
		out[20] = 11 // time exceeded, code 0: TTL exceeded in transit
		copy(out[28:], quote)
		binary.BigEndian.PutUint16(out[22:24], checksum(out[20:], 0))
		return out
	}
	if len(p) > 40 && p[6] == 58 && p[40] < 128 { // an ICMPv6 error
		return nil
	}
	quote := p[:min(len(p), 1280-48)]
	out := make([]byte, 48+len(quote))
	out[0], out[6], out[7] = 0x60, 58, 64 // version, next header ICMPv6, hop limit
	binary.BigEndian.PutUint16(out[4:6], uint16(8+len(quote)))
	copy(out[8:24], from.AsSlice())
	copy(out[24:40], p[8:24])
	out[40] = 3 // time exceeded, code 0: hop limit exceeded in transit
	copy(out[48:], quote)
	binary.BigEndian.PutUint16(out[42:44], checksum(out[40:], pseudoHeader6(out[8:24], out[24:40], len(out)-40, 58)))
	return out
}

// icmp4Informational reports whether an ICMP type is a query (echo and
// the like) rather than an error.
func icmp4Informational(typ byte) bool {
	switch typ {
	case 0, 8, 13, 14, 17, 18:
		return true
	}
	return false
}

// pseudoHeader6 returns the partial checksum sum of an IPv6 pseudo-header.
func pseudoHeader6(src, dst []byte, length int, next byte) uint32 {
	var sum uint32
	for _, b := range [][]byte{src, dst} {
		for i := 0; i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	return sum + uint32(length>>16) + uint32(length&0xffff) + uint32(next)
}

// checksum returns the Internet checksum of b, starting from a partial sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// echoReply turns an ICMP or ICMPv6 echo request addressed to the core
// into its reply, or returns nil for anything else.
func echoReply(p []byte) []byte {
	if p[0]>>4 == 4 {
		ihl := int(p[0]&0x0f) * 4
		if p[9] != 1 || len(p) < ihl+8 || p[ihl] != 8 {
			return nil
		}
		out := append([]byte(nil), p...)
		copy(out[12:16], p[16:20])
		copy(out[16:20], p[12:16])
		out[8] = 64
		out[10], out[11] = 0, 0
		binary.BigEndian.PutUint16(out[10:12], checksum(out[:ihl], 0))
		out[ihl] = 0 // echo reply
		out[ihl+2], out[ihl+3] = 0, 0
		binary.BigEndian.PutUint16(out[ihl+2:ihl+4], checksum(out[ihl:], 0))
		return out
	}
	if len(p) < 48 || p[6] != 58 || p[40] != 128 {
		return nil
	}
	out := append([]byte(nil), p...)
	copy(out[8:24], p[24:40])
	copy(out[24:40], p[8:24])
	out[7] = 64
	out[40] = 129 // echo reply
	out[42], out[43] = 0, 0
	binary.BigEndian.PutUint16(out[42:44], checksum(out[40:], pseudoHeader6(out[8:24], out[24:40], len(out)-40, 58)))
	return out
}
