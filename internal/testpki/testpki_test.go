package testpki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	ca, err := NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Key.N.BitLen() != 2048 {
		t.Fatalf("CA: IsCA=%v bits=%d", ca.Cert.IsCA, ca.Key.N.BitLen())
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	nb := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	na := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	tests := []struct {
		name   string
		opts   *LeafOptions
		ecdsa  bool
		expire bool
	}{
		{name: "default rsa", opts: nil},
		{name: "ecdsa", opts: &LeafOptions{ECDSA: true}, ecdsa: true},
		{name: "expired", opts: &LeafOptions{NotBefore: nb, NotAfter: na}, expire: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ca.Issue("client", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			switch k := l.Key.(type) {
			case *rsa.PrivateKey:
				if tc.ecdsa || k.N.BitLen() != 2048 {
					t.Fatalf("unexpected RSA key")
				}
			case *ecdsa.PrivateKey:
				if !tc.ecdsa {
					t.Fatalf("unexpected ECDSA key")
				}
			default:
				t.Fatalf("key type %T", k)
			}
			if _, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM); err != nil {
				t.Fatalf("cert/key PEM do not pair: %v", err)
			}
			if !strings.Contains(string(l.KeyPEM), "-----BEGIN PRIVATE KEY-----") {
				t.Fatalf("KeyPEM is not PKCS#8")
			}
			vo := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if tc.expire {
				if !l.Cert.NotAfter.Equal(na) || !l.Cert.NotBefore.Equal(nb) {
					t.Fatalf("validity %v..%v, want %v..%v", l.Cert.NotBefore, l.Cert.NotAfter, nb, na)
				}
				if err := l.Cert.CheckSignatureFrom(ca.Cert); err != nil {
					t.Fatalf("signature: %v", err)
				}
				return // the CA itself is not valid at that time, so no chain check
			}
			if _, err := l.Cert.Verify(vo); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if s := fmt.Sprintf("%v %+v %v", l, l, *l); strings.Contains(s, "PRIVATE") {
				t.Fatalf("%%v leaks key: %s", s)
			}
		})
	}
}
