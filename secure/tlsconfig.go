package secure

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// NextProto is the ALPN protocol both sides of a punch TLS session (or a
// QUIC connection built with [TLSConfig]) must negotiate.
const NextProto = "punch/1"

// TLSConfig returns a TLS 1.3-only configuration with ALPN [NextProto] for
// one side of a punch session: the initiator is the TLS (or QUIC) client,
// the responder the server. The responder's config carries a fresh
// self-signed Ed25519 certificate, made for this call and never reused,
// and has session tickets (resumption) disabled.
//
// The certificate carries no identity and the client does not verify it
// (InsecureSkipVerify): TLS provides encryption with forward secrecy, and
// the peer is authenticated afterwards by [Confirm], which binds the shared
// key to this session's [Exporter]. A connection made with this config is
// therefore NOT authenticated until Confirm has succeeded; send nothing
// before.
func TLSConfig(initiator bool) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		NextProtos:       []string{NextProto},
		VerifyConnection: verifyConnection,
	}
	if initiator {
		cfg.InsecureSkipVerify = true // see above: Confirm authenticates
		return cfg, nil
	}
	cert, err := ephemeralCert()
	if err != nil {
		return nil, fmt.Errorf("ephemeral TLS certificate: %w", err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	cfg.SessionTicketsDisabled = true
	return cfg, nil
}

// verifyConnection insists on TLS 1.3 and the punch ALPN protocol.
func verifyConnection(cs tls.ConnectionState) error {
	if cs.Version != tls.VersionTLS13 {
		return errors.New("punch needs TLS 1.3")
	}
	if cs.NegotiatedProtocol != NextProto {
		return fmt.Errorf("the peer did not negotiate ALPN %q", NextProto)
	}
	return nil
}

// ephemeralCert makes a self-signed Ed25519 certificate valid for a day.
func ephemeralCert() (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "punch"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}
