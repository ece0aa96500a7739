package udppunch

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

const (
	packetSize = 40
	version    = 1
	typeProbe  = 1
	typeAck    = 2
	macSize    = 16
)

// magic starts every punch packet; its first byte is below 0x40, so that
// a QUIC transport sharing the socket passes punch packets on as non-QUIC.
var magic = [4]byte{0x2a, 'P', 'N', 'C'}

// packet is a decoded punch packet.
type packet struct {
	typ   byte
	nonce uint64
	echo  uint64
}

// macKey derives the punch MAC key from the shared key.
func macKey(key string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "punch udp punch v1", 32)
	if err != nil {
		panic(err) // only for invalid lengths, which 32 is not
	}
	return k
}

// encode writes the packet, MAC included, into b (at least packetSize).
func (p packet) encode(b []byte, key []byte) []byte {
	b = b[:packetSize]
	copy(b[0:4], magic[:])
	b[4], b[5], b[6], b[7] = version, p.typ, 0, 0
	binary.BigEndian.PutUint64(b[8:16], p.nonce)
	binary.BigEndian.PutUint64(b[16:24], p.echo)
	m := hmac.New(sha256.New, key)
	m.Write(b[:24])
	copy(b[24:], m.Sum(nil)[:macSize])
	return b
}

// IsPunch reports whether b looks like a punch packet (right size and
// magic), whatever its MAC: callers that share the socket use it to tell
// punch packets from their own.
func IsPunch(b []byte) bool {
	return len(b) == packetSize && [4]byte(b[0:4]) == magic
}

// decode parses and authenticates b.
func decode(b []byte, key []byte) (packet, bool) {
	if !IsPunch(b) || b[4] != version || (b[5] != typeProbe && b[5] != typeAck) {
		return packet{}, false
	}
	m := hmac.New(sha256.New, key)
	m.Write(b[:24])
	if !hmac.Equal(m.Sum(nil)[:macSize], b[24:]) {
		return packet{}, false
	}
	return packet{typ: b[5], nonce: binary.BigEndian.Uint64(b[8:16]), echo: binary.BigEndian.Uint64(b[16:24])}, true
}
