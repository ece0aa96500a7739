package natlab

import (
	"fmt"
	"net/netip"
	"strings"
)

// Ports that the lab's allocators hand out, where the type does not
// preserve the internal port.
const (
	hashPortBase = 40000 // endpoint-independent, not preserving: 40000-44095
	hashPorts    = 4096
	seqPortBase  = 20000 // symmetric-seq: 20000, 20001, ... 21023, then again
	seqPorts     = 1024
	// mappingTimeout bounds how long the lab remembers a public mapping
	// after the last outgoing packet, as the UDP mapping timer of
	// RFC 4787 (REQ-5: at least 2 minutes).
	mappingTimeout = "180s"
)

// family holds what differs between the IPv4 and IPv6 halves of a ruleset.
type family struct {
	nfproto, ip, addrType, suffix string
	wan, lan                      netip.Addr
	lanNet                        netip.Prefix
}

// routerRuleset returns the nftables ruleset that turns a site's router
// into its NAT type. wan and lan are the router's own addresses.
func routerRuleset(s Site, wan4, wan6 netip.Addr, lan4, lan6 netip.Prefix) string {
	fams := []family{
		{"ipv4", "ip", "ipv4_addr", "4", wan4, lan4.Addr(), lan4.Masked()},
		{"ipv6", "ip6", "ipv6_addr", "6", wan6, lan6.Addr(), lan6.Masked()},
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("table inet punchlab {")
	recordMaps := s.NAT == FullCone || s.NAT == Restricted || (s.Hairpin && s.NAT.translates())
	for _, f := range fams {
		if recordMaps {
			// Public (protocol, port) -> internal address and internal
			// port. Two maps, because nft 1.0.6 cannot update a map whose
			// data is an IPv6 address concatenated with a port.
			w("  map paddr%s { type inet_proto . inet_service : %s; flags dynamic,timeout; timeout %s; }", f.suffix, f.addrType, mappingTimeout)
			w("  map pport%s { type inet_proto . inet_service : inet_service; flags dynamic,timeout; timeout %s; }", f.suffix, mappingTimeout)
		}
		if s.NAT == Restricted {
			// (remote address, protocol, public port) the LAN has sent to.
			w("  set peers%s { type %s . inet_proto . inet_service; flags dynamic,timeout; timeout %s; }", f.suffix, f.addrType, mappingTimeout)
		}
	}
	writePrerouting(w, s, fams)
	writePostrouting(w, s, fams)
	if recordMaps {
		writeRecord(w, s, fams)
	}
	writeFilter(w, s)
	w("}")
	return b.String()
}

// writePrerouting lets inbound packets reach a mapping where the filtering
// allows it (fullcone, restricted) and loops hairpinned packets back.
func writePrerouting(w func(string, ...any), s Site, fams []family) {
	w("  chain prerouting {")
	w("    type nat hook prerouting priority dstnat; policy accept;")
	for _, f := range fams {
		lookup := fmt.Sprintf("meta l4proto { tcp, udp } dnat %s to meta l4proto . th dport map @paddr%s : meta l4proto . th dport map @pport%s", f.ip, f.suffix, f.suffix)
		switch s.NAT {
		case FullCone:
			w("    iifname \"wan\" %s daddr %s %s", f.ip, f.wan, lookup)
		case Restricted:
			w("    iifname \"wan\" %s daddr %s %s saddr . meta l4proto . th dport @peers%s %s", f.ip, f.wan, f.ip, f.suffix, lookup)
		}
		if s.Hairpin && s.NAT.translates() {
			w("    iifname \"lan\" %s daddr %s %s", f.ip, f.wan, lookup)
		}
	}
	w("  }")
}

// writePostrouting translates outgoing packets: this is where the mapping
// behaviour lives.
func writePostrouting(w func(string, ...any), s Site, fams []family) {
	w("  chain postrouting {")
	w("    type nat hook postrouting priority srcnat; policy accept;")
	for _, f := range fams {
		if !s.NAT.translates() {
			break
		}
		to := portExpr(s, f)
		if s.Hairpin {
			// The LAN host sees hairpinned packets come from the sender's
			// public mapping.
			w("    oifname \"lan\" ct status dnat %s saddr %s %s", f.ip, f.lanNet, to)
		}
		w("    oifname \"wan\" %s", to)
	}
	w("  }")
}

// portExpr returns the snat statement (with its protocol match) that picks
// the public port for the site's NAT type, and a fallback for other
// protocols (ICMP) joined by a newline.
func portExpr(s Site, f family) string {
	plain := fmt.Sprintf("meta nfproto %s snat %s to %s", f.nfproto, f.ip, f.wan)
	var mapped string
	switch {
	case s.NAT == Symmetric:
		return plain + " random"
	case s.NAT == SymmetricSeq:
		mapped = "numgen inc mod " + fmt.Sprint(seqPorts) + " map " + portMap(seqPortBase, seqPorts)
	case s.NoPortPreservation:
		mapped = fmt.Sprintf("jhash %s saddr . th sport mod %d seed 0x70756e63 map %s", f.ip, hashPorts, portMap(hashPortBase, hashPorts))
	default:
		return plain
	}
	return fmt.Sprintf("meta nfproto %s meta l4proto { tcp, udp } snat %s to %s : %s", f.nfproto, f.ip, f.wan, mapped)
}

// portMap returns an anonymous nftables map from 0..n-1 to base..base+n-1.
// Expressions such as numgen and jhash land in the port field in host byte
// order, so they go through a map to give real consecutive port numbers.
func portMap(base, n int) string {
	var b strings.Builder
	b.WriteString("{ ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d : %d", i, base+i)
	}
	b.WriteString(" }")
	return b.String()
}

// writeRecord remembers, after translation, which public port belongs to
// which internal endpoint, and which remote addresses each public port has
// sent to (restricted filtering).
func writeRecord(w func(string, ...any), s Site, fams []family) {
	w("  chain record {")
	w("    type filter hook postrouting priority srcnat + 10; policy accept;")
	for _, f := range fams {
		match := fmt.Sprintf("meta iifname \"lan\" oifname \"wan\" ct direction original meta nfproto %s meta l4proto { tcp, udp }", f.nfproto)
		w("    %s update @paddr%s { meta l4proto . th sport : ct original %s saddr }", match, f.suffix, f.ip)
		w("    %s update @pport%s { meta l4proto . th sport : ct original proto-src }", match, f.suffix)
		if s.NAT == Restricted {
			w("    %s update @peers%s { %s daddr . meta l4proto . th sport }", match, f.suffix, f.ip)
		}
	}
	w("  }")
}

// writeFilter lets replies in, keeps unsolicited packets out of the LAN,
// and gives unsolicited packets to the router itself the site's Input
// behaviour.
func writeFilter(w func(string, ...any), s Site) {
	reject := "meta l4proto tcp reject with tcp reset\n    meta l4proto udp reject with icmpx port-unreachable"
	w("  chain forward {")
	w("    type filter hook forward priority filter; policy accept;")
	if s.NAT != None {
		w("    ct state established,related accept")
		w("    iifname \"lan\" accept")
		w("    ct status dnat accept")
		if s.Input == Reject {
			w("    iifname \"wan\" " + strings.ReplaceAll(reject, "\n    ", "\n    iifname \"wan\" "))
		}
		w("    iifname \"wan\" drop")
	}
	w("  }")
	w("  chain input {")
	w("    type filter hook input priority filter; policy accept;")
	w("    ct state established,related accept")
	switch s.Input {
	case Drop:
		w("    iifname \"wan\" meta l4proto { tcp, udp } drop")
	case Reject:
		w("    iifname \"wan\" " + strings.ReplaceAll(reject, "\n    ", "\n    iifname \"wan\" "))
	}
	w("  }")
}
