package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is how long credentials from an Issuer made with a zero TTL
// allow new allocations.
const DefaultTTL = 10 * time.Minute

// SecretSize is the length of the random secret NewIssuer draws when given
// none.
const SecretSize = 32

// maxIDLen bounds the id in a username, so that the USERNAME attribute
// stays within the 513 bytes STUN allows.
const maxIDLen = 256

// Credentials let their holder allocate on a relay that shares the secret
// of the Issuer that made them, until Expires. They travel to the peers in
// the rendezvous server's answer, hence the JSON tags.
//
// The format is the time-limited credential of the TURN REST API
// (draft-uberti-behave-turn-rest-00), with HMAC-SHA-256 in place of
// HMAC-SHA-1:
//
//	Username = decimal Unix time of expiry ":" id
//	Password = base64(HMAC-SHA-256(secret, Username))   (standard encoding, padded)
//
// A TURN client uses them as they are with the long-term credential
// mechanism (RFC 8489 section 9.2); the realm comes from the relay.
type Credentials struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// An Issuer makes credentials for a relay and checks them on the relay's
// side. The rendezvous server and the relay hold the same Issuer (or two
// made with the same secret). It is safe for concurrent use.
type Issuer struct {
	secret []byte
	ttl    time.Duration
}

// NewIssuer returns an Issuer with secret, or with a random secret of
// SecretSize bytes if secret is empty, whose credentials allow new
// allocations for ttl (DefaultTTL if ttl <= 0).
func NewIssuer(secret []byte, ttl time.Duration) *Issuer {
	if len(secret) == 0 {
		secret = make([]byte, SecretSize)
		rand.Read(secret)
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Issuer{secret: append([]byte(nil), secret...), ttl: ttl}
}

// Issue returns credentials for id (for example the rendezvous session;
// quotas count allocations per username, so per id and expiry). An id
// longer than 256 bytes is cut to 256 bytes.
func (i *Issuer) Issue(id string) Credentials {
	return i.issue(id, time.Now().Add(i.ttl))
}

// issue returns credentials for id that expire at expires (rounded down to
// the second).
func (i *Issuer) issue(id string, expires time.Time) Credentials {
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	exp := expires.Unix()
	username := strconv.FormatInt(exp, 10) + ":" + id
	return Credentials{Username: username, Password: i.password(username), Expires: time.Unix(exp, 0).UTC()}
}

// password is the password that goes with username.
func (i *Issuer) password(username string) string {
	mac := hmac.New(sha256.New, i.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// lookup returns the password and expiry of username if it has the form
// of i's usernames. Whether the caller knows that password is proved by
// its request's MESSAGE-INTEGRITY, which the relay checks with a key
// derived from the password returned here.
func (i *Issuer) lookup(username string) (password string, expires time.Time, ok bool) {
	exp, ok := parseExpiry(username)
	if !ok {
		return "", time.Time{}, false
	}
	return i.password(username), time.Unix(exp, 0), true
}

// parseExpiry returns the expiry of a username of the form
// "<unix seconds>:<id>".
func parseExpiry(username string) (int64, bool) {
	ts, id, ok := strings.Cut(username, ":")
	if !ok || len(id) > maxIDLen || ts == "" || ts[0] == '+' || ts[0] == '-' {
		return 0, false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	return exp, err == nil
}
