package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCredentialsFormat checks the documented format: username
// "<unix expiry>:<id>", password base64(HMAC-SHA-256(secret, username)).
func TestCredentialsFormat(t *testing.T) {
	secret := []byte("a shared secret")
	before := time.Now()
	c := NewIssuer(secret, time.Hour).Issue("session-42")
	m := regexp.MustCompile(`^([0-9]+):session-42$`).FindStringSubmatch(c.Username)
	if m == nil {
		t.Fatalf("username %q", c.Username)
	}
	exp, _ := strconv.ParseInt(m[1], 10, 64)
	if want := before.Add(time.Hour).Unix(); exp < want || exp > want+1 {
		t.Errorf("expiry %d, want %d", exp, want)
	}
	if !c.Expires.Equal(time.Unix(exp, 0)) || c.Expires.Location() != time.UTC {
		t.Errorf("Expires %v, want %v", c.Expires, time.Unix(exp, 0))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(c.Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); c.Password != want {
		t.Errorf("password %q, want %q", c.Password, want)
	}

	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"username":`) || !strings.Contains(string(js), `"password":`) || !strings.Contains(string(js), `"expires":`) {
		t.Errorf("JSON %s", js)
	}
	var back Credentials
	if err := json.Unmarshal(js, &back); err != nil || back.Username != c.Username || back.Password != c.Password || !back.Expires.Equal(c.Expires) {
		t.Errorf("JSON round trip: %+v, %v; want %+v", back, err, c)
	}
}

func TestIssuerDefaults(t *testing.T) {
	a, b := NewIssuer(nil, 0), NewIssuer(nil, 0)
	if len(a.secret) != SecretSize {
		t.Errorf("random secret of %d bytes, want %d", len(a.secret), SecretSize)
	}
	if a.Issue("x").Password == b.Issue("x").Password {
		t.Error("two random issuers give the same password")
	}
	if a.ttl != DefaultTTL {
		t.Errorf("TTL %v, want %v", a.ttl, DefaultTTL)
	}
	secret := []byte("s")
	c, d := NewIssuer(secret, time.Minute), NewIssuer(secret, time.Minute)
	secret[0] = 'x' // the issuer keeps its own copy
	exp := time.Now().Add(time.Minute)
	if c.issue("x", exp) != d.issue("x", exp) {
		t.Error("two issuers with one secret disagree")
	}
	long := strings.Repeat("i", 1000)
	if u := c.Issue(long).Username; len(u) > 20+maxIDLen {
		t.Errorf("username of %d bytes for a long id", len(u))
	}
}

func TestLookup(t *testing.T) {
	iss := NewIssuer(nil, 0)
	c := iss.Issue("id:with:colons")
	pw, exp, ok := iss.lookup(c.Username)
	if !ok || pw != c.Password || !exp.Equal(c.Expires) {
		t.Errorf("lookup(%q) = %q, %v, %v", c.Username, pw, exp, ok)
	}
	for _, u := range []string{"", "nocolon", ":id", "+12:id", "-12:id", "1_000:id", "0x10:id", "99999999999999999999:id", "12:" + strings.Repeat("i", maxIDLen+1)} {
		if _, _, ok := iss.lookup(u); ok {
			t.Errorf("lookup(%q) accepted", u)
		}
	}
}
