// Package testpki generates throwaway certificate authorities and client
// certificates for tests. Nothing it produces is meant for production use.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CA is a self-signed RSA-2048 certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     *rsa.PrivateKey
	CertPEM []byte
}

// LeafOptions tunes Issue. Zero times mean now-1h .. now+1y.
type LeafOptions struct {
	NotBefore, NotAfter time.Time
	// ECDSA makes a P-256 key instead of RSA-2048 (for non-RSA error tests).
	ECDSA bool
}

// Leaf is a client-authentication certificate issued by a CA.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is the "CERTIFICATE" PEM block of Cert.
	CertPEM []byte
	// KeyPEM is Key as an unencrypted PKCS#8 "PRIVATE KEY" PEM block.
	KeyPEM []byte
}

// String hides the key so that %v of a Leaf never prints key material.
func (l Leaf) String() string {
	if l.Cert == nil {
		return "testpki.Leaf{}"
	}
	return fmt.Sprintf("testpki.Leaf{%s}", l.Cert.Subject.CommonName)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// NewCA returns a self-signed RSA-2048 CA valid from now-1h to now+10y.
func NewCA(commonName string) (*CA, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("testpki: generate CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, fmt.Errorf("testpki: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"testpki"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testpki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: parse CA certificate: %w", err)
	}
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Issue returns a client-authentication leaf certificate signed by ca.
// o may be nil.
func (ca *CA) Issue(commonName string, o *LeafOptions) (*Leaf, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("testpki: Issue on an empty CA; use NewCA")
	}
	if o == nil {
		o = &LeafOptions{}
	}
	now := time.Now()
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = now.AddDate(1, 0, 0)
	}
	var key crypto.Signer
	var err error
	keyUsage := x509.KeyUsageDigitalSignature
	if o.ECDSA {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	if err != nil {
		return nil, fmt.Errorf("testpki: generate leaf key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, fmt.Errorf("testpki: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"testpki"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("testpki: create leaf certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: parse leaf certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testpki: marshal leaf key: %w", err)
	}
	return &Leaf{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
	}, nil
}
