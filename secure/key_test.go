package secure

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var keyFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){4}$`)

func TestNewKey(t *testing.T) {
	const n = 2000
	seen := make(map[string]bool, n)
	counts := make(map[rune]int)
	for range n {
		k := NewKey()
		if !keyFormat.MatchString(k) {
			t.Fatalf("NewKey() = %q, want five dash-joined groups of four base32 characters", k)
		}
		if err := ValidateKey(k); err != nil {
			t.Fatalf("ValidateKey(%q): %v", k, err)
		}
		if seen[k] {
			t.Fatalf("NewKey returned %q twice", k)
		}
		seen[k] = true
		for _, r := range strings.ReplaceAll(k, "-", "") {
			counts[r]++
		}
	}
	// 40000 characters over 32 symbols: about 1250 each. A symbol far off
	// means the bits are not spread evenly over the alphabet.
	if len(counts) != len(keyAlphabet) {
		t.Errorf("%d distinct characters in %d keys, want %d", len(counts), n, len(keyAlphabet))
	}
	for r, c := range counts {
		if c < 1000 || c > 1500 {
			t.Errorf("character %q appears %d times in %d keys, want about 1250", r, c, n)
		}
	}
	if KeyBits < 80 {
		t.Errorf("KeyBits = %d, want at least 80", KeyBits)
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"7k3q-m9xd-2f8h-tp4w-c6rn", true},
		{"1234", true},
		{"correct horse battery staple", true},
		{"pässwörd ✓", true},
		{strings.Repeat("k", MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
		{"line\nbreak", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"c1 \u0085 control", false},
		{"bad utf-8 \xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := ValidateKey(tt.key)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %v does not wrap ErrInvalidKey", err)
			}
		})
	}
}

// TestDerivations pins the token and PAKE password to vectors computed
// independently (Python's hmac and hashlib, RFC 5869 HKDF), for people
// writing other clients.
func TestDerivations(t *testing.T) {
	tests := []struct {
		key, token, password string
	}{
		{"7k3q-m9xd-2f8h-tp4w-c6rn",
			"d7a5fbd8ed2a678ce7e7dfdb78bd970c51bac3b3213046a66dc018d37ab93530",
			"6de5f7722d6160dc1035a0cc48d63b2d8b473fe58e1635f5d9f7207ce1b1a70f"},
		{"1234",
			"8f28f38ad5ae5c04ca28964e8afd7d2c00ccb387907ebe7d151ed464c6b3f51c",
			"37ddd8f76508148ceb728512fecb10eaad0c529e5120ce5923ee8c4dd6ca2236"},
		{"pässwörd",
			"dc8bf4010d61e8df4f637460c095d8a6ed526c69c5dcd76ef4339c3f14e115f9",
			"6415bf0e0acc9214d2acfc6f2d0d9b080fc19e34ea4f0da725dc797ff115ddbf"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			tok := Token(tt.key)
			if got := hex.EncodeToString(tok[:]); got != tt.token {
				t.Errorf("Token = %s, want %s", got, tt.token)
			}
			pw, err := pakePassword(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(pw); got != tt.password {
				t.Errorf("PAKE password = %s, want %s", got, tt.password)
			}
		})
	}
}

// TestRejoinToken pins the tokens of later meetings to vectors computed
// independently (Python's hmac and hashlib, RFC 5869 HKDF): each differs
// from the first meeting's and from the others.
func TestRejoinToken(t *testing.T) {
	const key = "7k3q-m9xd-2f8h-tp4w-c6rn"
	for n, want := range map[int]string{
		1: "2d30d96bda16560e6f23e092fbcc15e95799769f4a50feb3bda5fedd76be5b7e",
		2: "b1a79b036a3df588042024f2c08c8836214e160c404171495659ebcfcf99a67d",
	} {
		tok := RejoinToken(key, n)
		if got := hex.EncodeToString(tok[:]); got != want {
			t.Errorf("RejoinToken(%d) = %s, want %s", n, got, want)
		}
	}
}
