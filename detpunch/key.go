package detpunch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
)

// keyLabel starts the input of [Key]'s hash, naming the scheme and its
// version.
const keyLabel = "punch det key v1"

// Key returns the key that both sides derive when they share no key of
// their own: "det-" followed by the first 16 bytes, in lower-case hex, of
// SHA-256 over the ASCII label "punch det key v1", the bucket as 8 bytes
// big-endian (two's complement), then the lower and the higher of the two
// IPs as 16 bytes each (IPv4 as IPv4-mapped IPv6). It depends only on
// things both sides know, in the same way on both sides, and it is not
// secret: anyone who knows the scheme, the two IPs and roughly the time
// can compute it. It keeps out only those who do not.
func Key(bucket int64, a, b netip.Addr) string {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	h := sha256.New()
	h.Write([]byte(keyLabel))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(bucket)))
	a16, b16 := a.As16(), b.As16()
	h.Write(a16[:])
	h.Write(b16[:])
	return "det-" + hex.EncodeToString(h.Sum(nil)[:16])
}
