package anaplan_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/go-anaplan/anaplan/internal/testpki"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// hsmSigner hides the key type, as an HSM or KMS signer does.
type hsmSigner struct{ s crypto.Signer }

func (h hsmSigner) Public() crypto.PublicKey { return h.s.Public() }
func (h hsmSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return h.s.Sign(r, d, o)
}

func newLeaf(t *testing.T, srv *anaplantest.Server) *testpki.Leaf {
	t.Helper()
	ca, err := testpki.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(basicUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(leaf.Cert, basicUser)
	return leaf
}

func TestCertificateSignIn(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	cert, key, err := srv.IssueCertificate(basicUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []anaplan.Option
	}{
		{"v2", nil},
		{"v1", []anaplan.Option{anaplan.WithCertificateFormat(anaplan.CertificateV1)}},
		{"hsm signer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k crypto.Signer = key
			if tc.name == "hsm signer" {
				k = hsmSigner{key}
			}
			c, err := anaplan.New(ctx, fakeOptions(srv, append(tc.opts, anaplan.WithCertificate(cert, k))...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if code, body := whoami(t, c); code != 200 || !strings.Contains(body, basicUser) {
				t.Fatalf("users/me %d %s", code, body)
			}
		})
	}
	// The fake refuses v1 when told to: the default is v2.
	srv2 := newFake(t, anaplantest.WithoutV1Signatures())
	cert2, key2, _ := srv2.IssueCertificate(basicUser)
	c, err := anaplan.New(ctx, fakeOptions(srv2, anaplan.WithCertificate(cert2, key2))...)
	if err != nil {
		t.Fatalf("default format is not v2: %v", err)
	}
	c.Close(ctx)
}

func TestCertificateRejected(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	ca, _ := testpki.NewCA("Unregistered CA")
	leaf, _ := ca.Issue(basicUser, nil)
	_, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithCertificate(leaf.Cert, leaf.Key))...)
	if !errors.Is(err, anaplan.ErrUnauthorized) || !strings.Contains(err.Error(), "registered") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	// A key that does not belong to the certificate fails before any request.
	other, _ := ca.Issue("other", nil)
	before := srv.Calls("POST /token/authenticate")
	if _, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithCertificate(leaf.Cert, other.Key))...); err == nil {
		t.Fatal("mismatched key accepted")
	}
	if _, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithCertificate(nil, nil))...); err == nil {
		t.Fatal("nil certificate accepted")
	}
	expired, _ := ca.Issue(basicUser, &testpki.LeafOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if _, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithCertificate(expired.Cert, expired.Key))...); err == nil || !strings.Contains(strings.ToLower(err.Error()), "expired") {
		t.Fatalf("expired certificate: %v", err)
	}
	if srv.Calls("POST /token/authenticate") != before {
		t.Fatal("a bad certificate reached the server")
	}
}

func encryptedPKCS8PEM(t *testing.T, leaf *testpki.Leaf, password string) []byte {
	t.Helper()
	// openssl is the reference writer of legacy encrypted PEM keys.
	dir := t.TempDir()
	in := filepath.Join(dir, "k.pem")
	os.WriteFile(in, leaf.KeyPEM, 0o600)
	out := filepath.Join(dir, "enc.pem")
	if err := runOpenSSL("pkcs8", "-topk8", "-in", in, "-out", out, "-passout", "pass:"+password, "-v2", "aes-256-cbc"); err != nil {
		skipWithoutOpenSSL(t, err.Error())
	}
	b, _ := os.ReadFile(out)
	return b
}

func TestCertificateFromConnectionString(t *testing.T) {
	srv := newFake(t)
	leaf := newLeaf(t, srv)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const pw = "Cert-Pa55!"
	combined := write("combined.pem", append(append([]byte{}, leaf.CertPEM...), leaf.KeyPEM...))
	certOnly := write("cert.pem", leaf.CertPEM)
	keyOnly := write("key.pem", leaf.KeyPEM)
	pfx, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, pw)
	if err != nil {
		t.Fatal(err)
	}
	pfxFile := write("c.pfx", pfx)
	encKey := encryptedPKCS8PEM(t, leaf, pw)
	encKeyFile := write("enc.pem", encKey)
	b64 := base64.StdEncoding.EncodeToString

	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	for _, tc := range []struct{ name, cs string }{
		{"PEMKEY_FILE combined", "AuthScheme=Certificate;Certificate=" + q(combined)},
		{"PEMKEY_FILE + PrivateKey", "AuthScheme=certificate;CertificateType=PEMKEY_FILE;Certificate=" + q(certOnly) + ";PrivateKey=" + q(keyOnly)},
		{"PEMKEY_BLOB text", "AuthScheme=Certificate;CertificateType=PEMKEY_BLOB;Certificate=" + q(string(leaf.CertPEM)+string(leaf.KeyPEM))},
		{"PEMKEY_BLOB base64", "AuthScheme=Certificate;CertificateType=PEMKEY_BLOB;Certificate=" + b64(append(append([]byte{}, leaf.CertPEM...), leaf.KeyPEM...))},
		{"PFXFILE", "AuthScheme=Certificate;CertificateType=PFXFILE;Certificate=" + q(pfxFile) + ";CertificatePassword=" + pw},
		{"PFXBLOB", "AuthScheme=Certificate;CertificateType=PFXBLOB;Certificate=" + b64(pfx) + ";CertificatePassword=" + q(pw)},
		{"PUBLIC_KEY_FILE + encrypted key file", "AuthScheme=Certificate;CertificateType=PUBLIC_KEY_FILE;Certificate=" + q(certOnly) + ";PrivateKey=" + q(encKeyFile) + ";PrivateKeyPassword=" + q(pw)},
		{"PUBLIC_KEY_BLOB + key blob", "AuthScheme=Certificate;CertificateType=PUBLIC_KEY_BLOB;Certificate=" + b64(leaf.CertPEM) + ";PrivateKeyType=PEMKEY_BLOB;PrivateKey=" + b64(leaf.KeyPEM)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.FromConnectionString(tc.cs))...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if code, _ := whoami(t, c); code != 200 {
				t.Fatalf("users/me %d", code)
			}
		})
	}

	for _, tc := range []struct{ name, cs, want string }{
		{"wrong pfx password", "AuthScheme=Certificate;CertificateType=PFXFILE;Certificate=" + q(pfxFile) + ";CertificatePassword=Wrong-Pa55", "password"},
		{"missing file", "AuthScheme=Certificate;Certificate=" + q(filepath.Join(dir, "missing-secret-name.pem")), "cannot be read"},
		{"pem text with FILE type", "AuthScheme=Certificate;Certificate=" + q(string(leaf.CertPEM)), "PEMKEY_BLOB"},
		{"public key without key", "AuthScheme=Certificate;CertificateType=PUBLIC_KEY_FILE;Certificate=" + q(certOnly), "PrivateKey"},
		{"bad base64", "AuthScheme=Certificate;CertificateType=PFXBLOB;Certificate=***", "base64"},
		{"wrong key password", "AuthScheme=Certificate;CertificateType=PUBLIC_KEY_FILE;Certificate=" + q(certOnly) + ";PrivateKey=" + q(encKeyFile) + ";PrivateKeyPassword=Wrong-Pa55", "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := anaplan.New(ctx, fakeOptions(srv, anaplan.FromConnectionString(tc.cs))...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			for _, secret := range []string{pw, "Wrong-Pa55", "missing-secret-name", "BEGIN"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows %q: %v", secret, err)
				}
			}
		})
	}
}
