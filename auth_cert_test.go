package anaplan

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/go-anaplan/anaplan/internal/testpki"
)

// Passwords used by the fixtures; the tests check that no error ever shows them.
const (
	certTestPassword  = "Corr3ct-Horse-Battery"
	certWrongPassword = "Wr0ng-Pa55word-Given"
)

type certFixtures struct {
	ca       *testpki.CA
	leaf     *testpki.Leaf // RSA, valid now
	other    *testpki.Leaf // RSA, another key
	ec       *testpki.Leaf // ECDSA P-256
	expired  *testpki.Leaf
	future   *testpki.Leaf
	pkcs1PEM []byte // leaf key as "RSA PRIVATE KEY"
}

var (
	certFixOnce sync.Once
	certFix     *certFixtures
	certFixErr  error
)

func fixtures(tb testing.TB) *certFixtures {
	tb.Helper()
	certFixOnce.Do(func() {
		f := &certFixtures{}
		var err error
		if f.ca, err = testpki.NewCA("Anaplan Test CA"); err != nil {
			certFixErr = err
			return
		}
		now := time.Now()
		issue := []struct {
			dst  **testpki.Leaf
			cn   string
			opts *testpki.LeafOptions
		}{
			{&f.leaf, "client", nil},
			{&f.other, "other", nil},
			{&f.ec, "ec-client", &testpki.LeafOptions{ECDSA: true}},
			{&f.expired, "expired-client", &testpki.LeafOptions{NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)}},
			{&f.future, "future-client", &testpki.LeafOptions{NotBefore: now.AddDate(0, 1, 0), NotAfter: now.AddDate(1, 0, 0)}},
		}
		for _, is := range issue {
			if *is.dst, err = f.ca.Issue(is.cn, is.opts); err != nil {
				certFixErr = err
				return
			}
		}
		f.pkcs1PEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(f.leaf.Key.(*rsa.PrivateKey))})
		certFix = f
	})
	if certFixErr != nil {
		tb.Fatalf("fixtures: %v", certFixErr)
	}
	return certFix
}

func encPKCS8PEM(tb testing.TB, key crypto.Signer, password string, opts *pkcs8.Opts) []byte {
	tb.Helper()
	der, err := pkcs8.MarshalPrivateKey(key, []byte(password), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func legacyPEM(tb testing.TB, key *rsa.PrivateKey, password string, alg x509.PEMCipher) []byte {
	tb.Helper()
	//lint:ignore SA1019 the test writes the legacy format on purpose, to prove that LoadPEM reads it
	b, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), []byte(password), alg)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(b)
}

var (
	pbkdf2SHA256AES256 = &pkcs8.Opts{Cipher: pkcs8.AES256CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 2048, HMACHash: crypto.SHA256}}
	pbkdf2SHA1AES128   = &pkcs8.Opts{Cipher: pkcs8.AES128CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 1000, HMACHash: crypto.SHA1}}
	pbkdf2SHA2563DES   = &pkcs8.Opts{Cipher: pkcs8.TripleDESCBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 2048, HMACHash: crypto.SHA256}}
	scryptAES256       = &pkcs8.Opts{Cipher: pkcs8.AES256CBC, KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1024, BlockSize: 8, ParallelizationParameter: 1}}
)

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// checkNoSecrets fails when err (in any verb) shows a password or key material.
func checkNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	f := fixtures(t)
	keyB64 := strings.Split(string(f.leaf.KeyPEM), "\n")[1] // first line of the key body
	all := append([]string{certTestPassword, certWrongPassword, keyB64}, secrets...)
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, secret := range all {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("error shows a secret %q: %s", secret, s)
			}
		}
	}
}

func TestLoadPEM(t *testing.T) {
	f := fixtures(t)
	leafKey := f.leaf.Key.(*rsa.PrivateKey)
	crlf := bytes.ReplaceAll(join(f.leaf.CertPEM, f.leaf.KeyPEM), []byte("\n"), []byte("\r\n"))
	tests := []struct {
		name     string
		cert     []byte
		key      []byte
		password string
	}{
		{"PKCS#8", f.leaf.CertPEM, f.leaf.KeyPEM, ""},
		{"PKCS#1", f.leaf.CertPEM, f.pkcs1PEM, ""},
		{"PKCS#8 password ignored when not encrypted", f.leaf.CertPEM, f.leaf.KeyPEM, certTestPassword},
		{"encrypted PKCS#8 PBKDF2-SHA256 AES-256", f.leaf.CertPEM, encPKCS8PEM(t, leafKey, certTestPassword, pbkdf2SHA256AES256), certTestPassword},
		{"encrypted PKCS#8 PBKDF2-SHA1 AES-128", f.leaf.CertPEM, encPKCS8PEM(t, leafKey, certTestPassword, pbkdf2SHA1AES128), certTestPassword},
		{"encrypted PKCS#8 PBKDF2 3DES", f.leaf.CertPEM, encPKCS8PEM(t, leafKey, certTestPassword, pbkdf2SHA2563DES), certTestPassword},
		{"encrypted PKCS#8 scrypt", f.leaf.CertPEM, encPKCS8PEM(t, leafKey, certTestPassword, scryptAES256), certTestPassword},
		{"legacy PEM AES-256", f.leaf.CertPEM, legacyPEM(t, leafKey, certTestPassword, x509.PEMCipherAES256), certTestPassword},
		{"legacy PEM AES-128", f.leaf.CertPEM, legacyPEM(t, leafKey, certTestPassword, x509.PEMCipherAES128), certTestPassword},
		{"legacy PEM 3DES", f.leaf.CertPEM, legacyPEM(t, leafKey, certTestPassword, x509.PEMCipher3DES), certTestPassword},
		{"combined cert+key, key nil", join(f.leaf.CertPEM, f.leaf.KeyPEM), nil, ""},
		{"combined key+cert, key empty", join(f.pkcs1PEM, f.leaf.CertPEM), []byte{}, ""},
		{"combined, encrypted key", join(f.leaf.CertPEM, encPKCS8PEM(t, leafKey, certTestPassword, pbkdf2SHA256AES256)), nil, certTestPassword},
		{"chain, leaf not first", join(f.ca.CertPEM, f.other.CertPEM, f.leaf.CertPEM), f.leaf.KeyPEM, ""},
		{"chain in a combined file", join([]byte("Bag Attributes\n  friendlyName: x\n"), f.ca.CertPEM, f.leaf.KeyPEM, f.leaf.CertPEM), nil, ""},
		{"unrelated blocks and text skipped", join([]byte("subject=CN=client\n"), pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}), f.leaf.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}})), f.leaf.KeyPEM, ""},
		{"CRLF line endings", crlf, nil, ""},
		{"expired and renewed certificate for one key", join(f.expired.CertPEM, f.leaf.CertPEM), f.leaf.KeyPEM, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, key, err := LoadPEM(tc.cert, tc.key, tc.password)
			if err != nil {
				t.Fatalf("LoadPEM: %v", err)
			}
			if !bytes.Equal(cert.Raw, f.leaf.Cert.Raw) {
				t.Errorf("got certificate %q, want the leaf", cert.Subject.CommonName)
			}
			if !key.Public().(*rsa.PublicKey).Equal(leafKey.Public()) {
				t.Errorf("got another key")
			}
		})
	}
}

// TestLoadPEMExpiredChoice: a renewed certificate is preferred to an expired
// one for the same key, whatever the order.
func TestLoadPEMExpiredChoice(t *testing.T) {
	f := fixtures(t)
	// An expired certificate for the same key as a valid one.
	ca := f.ca
	tmpl := *f.leaf.Cert
	tmpl.NotBefore = time.Now().AddDate(-2, 0, 0)
	tmpl.NotAfter = time.Now().AddDate(-1, 0, 0)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, f.leaf.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	old := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for _, in := range [][]byte{join(old, f.leaf.CertPEM), join(f.leaf.CertPEM, old)} {
		cert, _, err := LoadPEM(in, f.leaf.KeyPEM, "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cert.Raw, f.leaf.Cert.Raw) {
			t.Errorf("picked the expired certificate")
		}
	}
	_, _, err = LoadPEM(old, f.leaf.KeyPEM, "")
	if !errors.Is(err, ErrCertificateExpired) {
		t.Errorf("only the expired one: got %v, want ErrCertificateExpired", err)
	}
}

// reencode rewrites an encrypted PKCS#8 DER through edit, for crafting
// damaged or hostile parameters without paying for them.
func reencode(t *testing.T, der []byte, edit func(info *encryptedPKInfo, p *pbes2Params)) []byte {
	t.Helper()
	var info encryptedPKInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatal(err)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		t.Fatal(err)
	}
	edit(&info, &p)
	pb, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	info.Algo.Parameters = asn1.RawValue{FullBytes: pb}
	out, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadPEMErrors(t *testing.T) {
	f := fixtures(t)
	leafKey := f.leaf.Key.(*rsa.PrivateKey)
	enc := encPKCS8PEM(t, leafKey, certTestPassword, pbkdf2SHA256AES256)
	encDER := func() []byte { b, _ := pem.Decode(enc); return b.Bytes }()
	legacy := legacyPEM(t, leafKey, certTestPassword, x509.PEMCipherAES256)
	ecPKCS1 := func() []byte {
		der, err := x509.MarshalECPrivateKey(f.ec.Key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}()
	badDEK := func() []byte {
		b, _ := pem.Decode(legacy)
		b.Headers["DEK-Info"] = "NOT-A-CIPHER,00112233"
		return pem.EncodeToMemory(b)
	}()
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}})
	certB64 := []byte(base64.StdEncoding.EncodeToString(f.leaf.CertPEM))

	tests := []struct {
		name     string
		cert     []byte
		key      []byte
		password string
		want     error
		wantIn   string // a fragment the message must hold
	}{
		{"encrypted PKCS#8, wrong password", f.leaf.CertPEM, enc, certWrongPassword, ErrWrongPassword, "does not open"},
		{"encrypted PKCS#8, no password", f.leaf.CertPEM, enc, "", ErrWrongPassword, "no password was given"},
		{"legacy PEM, wrong password", f.leaf.CertPEM, legacy, certWrongPassword, ErrWrongPassword, "does not open"},
		{"legacy PEM, no password", f.leaf.CertPEM, legacy, "", ErrWrongPassword, "no password was given"},
		{"key does not match", f.leaf.CertPEM, f.other.KeyPEM, "", ErrKeyMismatch, `"CN=client"`},
		{"key matches no certificate of a chain", join(f.ca.CertPEM, f.leaf.CertPEM), f.other.KeyPEM, "", ErrKeyMismatch, "none of the 2"},
		{"ECDSA key (PKCS#8)", f.ec.CertPEM, f.ec.KeyPEM, "", ErrNotRSA, "EC (ECDSA)"},
		{"ECDSA key (EC PRIVATE KEY)", f.ec.CertPEM, ecPKCS1, "", ErrNotRSA, "EC (ECDSA)"},
		{"ECDSA certificate, RSA key", f.ec.CertPEM, f.leaf.KeyPEM, "", ErrNotRSA, "RSA certificate"},
		{"expired", f.expired.CertPEM, f.expired.KeyPEM, "", ErrCertificateExpired, f.expired.Cert.NotAfter.UTC().Format(time.RFC3339)},
		{"not yet valid", f.future.CertPEM, f.future.KeyPEM, "", ErrCertificateNotYetValid, f.future.Cert.NotBefore.UTC().Format(time.RFC3339)},
		{"no certificate", f.leaf.KeyPEM, nil, "", ErrNoCertificate, "CERTIFICATE"},
		{"arguments swapped", f.leaf.KeyPEM, f.leaf.CertPEM, "", ErrNoCertificate, "swapped"},
		{"damaged certificate only", join(badCert, f.leaf.KeyPEM), nil, "", ErrNoCertificate, "block 1"},
		{"no key in combined input", f.leaf.CertPEM, nil, "", ErrNoPrivateKey, "second argument"},
		{"no key in key input", f.leaf.CertPEM, f.ca.CertPEM, "", ErrNoPrivateKey, "PRIVATE KEY"},
		{"certificate is a path", []byte("/etc/anaplan/client.pem"), nil, "", ErrNotPEM, "file path"},
		{"certificate is a Windows path", []byte(`C:\certs\client.crt`), nil, "", ErrNotPEM, "file path"},
		{"key is a path", f.leaf.CertPEM, []byte("client.key\n"), "", ErrNotPEM, "private key input looks like a file path"},
		{"certificate is DER", f.leaf.Cert.Raw, f.leaf.KeyPEM, "", ErrNotPEM, "DER"},
		{"certificate is base64 of PEM", certB64, f.leaf.KeyPEM, "", ErrNotPEM, "base64"},
		{"empty", nil, nil, "", ErrNotPEM, "empty"},
		{"plain text", []byte("hello world"), nil, "", ErrNotPEM, "BEGIN"},
		{"OpenSSH key", f.leaf.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("openssh-key-v1\x00")}), "", ErrUnsupportedFormat, "ssh-keygen"},
		{"damaged PKCS#1", f.leaf.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30, 0}}), "", ErrUnsupportedFormat, "cannot be parsed"},
		{"legacy PEM, unknown DEK-Info", f.leaf.CertPEM, badDEK, certTestPassword, ErrUnsupportedFormat, "DEK-Info"},
		{"encrypted PKCS#8, PBES1", f.leaf.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: mustMarshal(t, encryptedPKInfo{
			Algo: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, struct {
				Salt []byte
				Iter int
			}{[]byte("saltsalt"), 2048})}},
			Data: make([]byte, 32),
		})}), certTestPassword, ErrUnsupportedFormat, "PBES1"},
		{"encrypted PKCS#8, huge PBKDF2 iterations", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			var kp struct {
				Salt []byte
				Iter int
				PRF  pkix.AlgorithmIdentifier `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
				t.Fatal(err)
			}
			kp.Iter = maxKDFIterations + 1
			p.KDF.Parameters = asn1.RawValue{FullBytes: mustMarshal(t, kp)}
		}), certTestPassword, ErrUnsupportedFormat, "iteration"},
		{"encrypted PKCS#8, huge scrypt cost", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			p.KDF = pkix.AlgorithmIdentifier{Algorithm: oidScrypt, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, scryptParams{Salt: []byte("salt"), N: 1 << 22, R: 8, P: 1})}}
		}), certTestPassword, ErrUnsupportedFormat, "scrypt"},
		{"encrypted PKCS#8, scrypt p=0", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			p.KDF = pkix.AlgorithmIdentifier{Algorithm: oidScrypt, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, scryptParams{Salt: []byte("salt"), N: 1024, R: 8, P: 0})}}
		}), certTestPassword, ErrUnsupportedFormat, "scrypt"},
		{"encrypted PKCS#8, bad IV", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			p.Enc.Parameters = asn1.RawValue{FullBytes: mustMarshal(t, []byte{1, 2, 3})}
		}), certTestPassword, ErrUnsupportedFormat, "IV"},
		{"encrypted PKCS#8, truncated", f.leaf.CertPEM, reencode(t, encDER, func(info *encryptedPKInfo, _ *pbes2Params) {
			info.Data = info.Data[:len(info.Data)-3]
		}), certTestPassword, ErrUnsupportedFormat, "truncated"},
		{"encrypted PKCS#8, unknown cipher", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			p.Enc.Algorithm = asn1.ObjectIdentifier{1, 2, 3, 4}
		}), certTestPassword, ErrUnsupportedFormat, "cipher"},
		{"encrypted PKCS#8, unknown PRF", f.leaf.CertPEM, reencode(t, encDER, func(_ *encryptedPKInfo, p *pbes2Params) {
			p.KDF.Parameters = asn1.RawValue{FullBytes: mustMarshal(t, struct {
				Salt []byte
				Iter int
				PRF  pkix.AlgorithmIdentifier
			}{[]byte("salt"), 2048, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 3, 4}, Parameters: asn1.NullRawValue}})}
		}), certTestPassword, ErrUnsupportedFormat, "hmacWithSHA256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, key, err := LoadPEM(tc.cert, tc.key, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cert != nil || key != nil {
				t.Errorf("got a certificate or key together with an error")
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("message %q does not mention %q", err, tc.wantIn)
			}
			checkNoSecrets(t, err, tc.password)
		})
	}
}

func pfxOf(t *testing.T, enc *pkcs12.Encoder, l *testpki.Leaf, cert *x509.Certificate, cas []*x509.Certificate, password string) []byte {
	t.Helper()
	if cert == nil {
		cert = l.Cert
	}
	b, err := enc.Encode(l.Key, cert, cas, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadPKCS12(t *testing.T) {
	f := fixtures(t)
	chain := []*x509.Certificate{f.ca.Cert}
	tests := []struct {
		name     string
		pfx      []byte
		password string
	}{
		{"Modern (AES-256, SHA-256 MAC)", pfxOf(t, pkcs12.Modern, f.leaf, nil, chain, certTestPassword), certTestPassword},
		{"Modern2026 (PBMAC1)", pfxOf(t, pkcs12.Modern2026, f.leaf, nil, chain, certTestPassword), certTestPassword},
		{"LegacyRC2", pfxOf(t, pkcs12.LegacyRC2, f.leaf, nil, chain, certTestPassword), certTestPassword},
		{"LegacyDES", pfxOf(t, pkcs12.LegacyDES, f.leaf, nil, nil, certTestPassword), certTestPassword},
		{"Modern, empty password", pfxOf(t, pkcs12.Modern, f.leaf, nil, nil, ""), ""},
		{"Passwordless", pfxOf(t, pkcs12.Passwordless, f.leaf, nil, nil, ""), ""},
		{"Passwordless, password given and ignored", pfxOf(t, pkcs12.Passwordless, f.leaf, nil, nil, ""), certTestPassword},
		{"empty password, password given and ignored", pfxOf(t, pkcs12.Modern, f.leaf, nil, nil, ""), certTestPassword},
		{"leaf not first", pfxOf(t, pkcs12.Modern, f.leaf, f.ca.Cert, []*x509.Certificate{f.other.Cert, f.leaf.Cert}, certTestPassword), certTestPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, key, err := LoadPKCS12(tc.pfx, tc.password)
			if err != nil {
				t.Fatalf("LoadPKCS12: %v", err)
			}
			if !bytes.Equal(cert.Raw, f.leaf.Cert.Raw) {
				t.Errorf("got certificate %q, want the leaf", cert.Subject.CommonName)
			}
			if !key.Public().(*rsa.PublicKey).Equal(f.leaf.Key.Public()) {
				t.Errorf("got another key")
			}
		})
	}
}

func TestLoadPKCS12Errors(t *testing.T) {
	f := fixtures(t)
	good := pfxOf(t, pkcs12.Modern, f.leaf, nil, nil, certTestPassword)
	// 65537 iterations, patched to 0x7fffff (above maxKDFIterations) without paying for it.
	slow := pfxOf(t, pkcs12.Modern.WithIterations(65537), f.leaf, nil, nil, certTestPassword)
	huge := bytes.ReplaceAll(slow, []byte{2, 3, 1, 0, 1}, []byte{2, 3, 0x7f, 0xff, 0xff})
	if bytes.Equal(huge, slow) {
		t.Fatal("iteration count not found in the PFX")
	}
	trust, err := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{f.ca.Cert}, certTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pfx      []byte
		password string
		want     error
		wantIn   string
	}{
		{"wrong password", good, certWrongPassword, ErrWrongPassword, "does not open the PKCS#12"},
		{"no password", good, "", ErrWrongPassword, "no password was given"},
		{"legacy, wrong password", pfxOf(t, pkcs12.LegacyRC2, f.leaf, nil, nil, certTestPassword), certWrongPassword, ErrWrongPassword, "does not open"},
		{"password outside UCS-2", good, "pass\U0001F600word", ErrWrongPassword, "cannot encode"},
		{"ECDSA key", pfxOf(t, pkcs12.Modern, f.ec, nil, nil, certTestPassword), certTestPassword, ErrNotRSA, "EC (ECDSA)"},
		{"expired", pfxOf(t, pkcs12.Modern, f.expired, nil, nil, certTestPassword), certTestPassword, ErrCertificateExpired, f.expired.Cert.NotAfter.UTC().Format(time.RFC3339)},
		{"not yet valid", pfxOf(t, pkcs12.Modern, f.future, nil, nil, certTestPassword), certTestPassword, ErrCertificateNotYetValid, "NotBefore"},
		{"key matches no certificate", pfxOf(t, pkcs12.Modern, f.leaf, f.other.Cert, []*x509.Certificate{f.ca.Cert}, certTestPassword), certTestPassword, ErrKeyMismatch, "none of the 2"},
		{"no private key (trust store)", trust, certTestPassword, ErrNoPrivateKey, "private key"},
		{"PEM text", join(f.leaf.CertPEM, f.leaf.KeyPEM), certTestPassword, ErrNotPKCS12, "LoadPEM"},
		{"path", []byte("/home/me/client.pfx"), certTestPassword, ErrNotPKCS12, "file path"},
		{"relative path", []byte("client.p12"), certTestPassword, ErrNotPKCS12, "file path"},
		{"base64 of the file", []byte(base64.StdEncoding.EncodeToString(good)), certTestPassword, ErrNotPKCS12, "base64"},
		{"DER certificate", f.leaf.Cert.Raw, certTestPassword, ErrNotPKCS12, "DER certificate"},
		{"garbage DER", []byte{0x30, 0x03, 0x02, 0x01, 0x03}, certTestPassword, ErrNotPKCS12, ""},
		{"truncated", good[:len(good)/2], certTestPassword, ErrNotPKCS12, ""},
		{"empty", nil, "", ErrNotPKCS12, "empty"},
		{"huge iteration count", huge, certTestPassword, ErrUnsupportedFormat, "iterations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, key, err := LoadPKCS12(tc.pfx, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cert != nil || key != nil {
				t.Errorf("got a certificate or key together with an error")
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("message %q does not mention %q", err, tc.wantIn)
			}
			checkNoSecrets(t, err, tc.password)
		})
	}
}

// TestLoadOpenSSLFiles reads what the real openssl command writes: PKCS#12
// with its defaults (AES-256, SHA-256 MAC) and with -legacy, and encrypted
// PEM keys in both the PKCS#8 and the traditional format.
func TestLoadOpenSSLFiles(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipWithoutOpenSSL(t, "not on PATH")
	}
	f := fixtures(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPath := write("cert.pem", f.leaf.CertPEM)
	keyPath := write("key.pem", f.leaf.KeyPEM)
	caPath := write("ca.pem", f.ca.CertPEM)
	pass := "pass:" + certTestPassword
	tests := []struct {
		name string
		args []string
		pfx  bool
	}{
		{"pkcs12 default", []string{"pkcs12", "-export", "-in", certPath, "-inkey", keyPath, "-certfile", caPath, "-passout", pass}, true},
		{"pkcs12 -legacy", []string{"pkcs12", "-export", "-legacy", "-in", certPath, "-inkey", keyPath, "-certfile", caPath, "-passout", pass}, true},
		{"pkcs8 -topk8 (encrypted PKCS#8)", []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", keyPath, "-passout", pass}, false},
		{"pkcs8 -topk8 -scrypt", []string{"pkcs8", "-topk8", "-scrypt", "-in", keyPath, "-passout", pass}, false},
		{"pkcs8 -topk8 hmacWithSHA512", []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512", "-in", keyPath, "-passout", pass}, false},
		{"pkcs8 -topk8 des3", []string{"pkcs8", "-topk8", "-v2", "des3", "-in", keyPath, "-passout", pass}, false},
		{"rsa -aes256 -traditional (legacy PEM)", []string{"rsa", "-aes256", "-traditional", "-in", keyPath, "-passout", pass}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("out%d", i))
			cmd := exec.Command("openssl", append(tc.args, "-out", out)...)
			if msg, err := cmd.CombinedOutput(); err != nil {
				if strings.Contains(tc.name, "legacy") && bytes.Contains(msg, []byte("unsupported")) {
					t.Skipf("this openssl cannot write legacy files: %s", msg)
				}
				t.Fatalf("openssl: %v: %s", err, msg)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var cert *x509.Certificate
			var key crypto.Signer
			if tc.pfx {
				cert, key, err = LoadPKCS12(b, certTestPassword)
			} else {
				cert, key, err = LoadPEM(f.leaf.CertPEM, b, certTestPassword)
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if !bytes.Equal(cert.Raw, f.leaf.Cert.Raw) || !key.Public().(*rsa.PublicKey).Equal(f.leaf.Key.Public()) {
				t.Fatal("wrong certificate or key")
			}
			// And the wrong password is reported as such.
			if tc.pfx {
				_, _, err = LoadPKCS12(b, certWrongPassword)
			} else {
				_, _, err = LoadPEM(f.leaf.CertPEM, b, certWrongPassword)
			}
			if !errors.Is(err, ErrWrongPassword) {
				t.Errorf("wrong password: got %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestCheckCertificateKey(t *testing.T) {
	f := fixtures(t)
	now := time.Now()
	var nilKey *rsa.PrivateKey
	tests := []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
		now  time.Time
		want error
	}{
		{"ok", f.leaf.Cert, f.leaf.Key, now, nil},
		{"ok through a bare signer", f.leaf.Cert, signerOnly{f.leaf.Key}, now, nil},
		{"mismatch", f.leaf.Cert, f.other.Key, now, ErrKeyMismatch},
		{"ECDSA key", f.leaf.Cert, f.ec.Key, now, ErrNotRSA},
		{"ECDSA certificate", f.ec.Cert, f.leaf.Key, now, ErrNotRSA},
		{"expired", f.leaf.Cert, f.leaf.Key, f.leaf.Cert.NotAfter.Add(time.Second), ErrCertificateExpired},
		{"not yet valid", f.leaf.Cert, f.leaf.Key, f.leaf.Cert.NotBefore.Add(-time.Second), ErrCertificateNotYetValid},
		{"nil certificate", nil, f.leaf.Key, now, ErrNoCertificate},
		{"nil key", f.leaf.Cert, nil, now, ErrNoPrivateKey},
		{"typed nil key", f.leaf.Cert, nilKey, now, ErrNoPrivateKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCertificateKey(tc.cert, tc.key, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// signerOnly hides everything but crypto.Signer, like an HSM or KMS key.
type signerOnly struct{ s crypto.Signer }

func (s signerOnly) Public() crypto.PublicKey { return s.s.Public() }
func (s signerOnly) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.s.Sign(r, d, o)
}

type failingSigner struct{ pub crypto.PublicKey }

func (s failingSigner) Public() crypto.PublicKey { return s.pub }
func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hsm: device not present")
}

func TestCertAuthHeader(t *testing.T) {
	f := fixtures(t)
	h := certAuthHeader(f.leaf.Cert)
	enc, ok := strings.CutPrefix(h, "CACertificate ")
	if !ok {
		t.Fatalf("header %q lacks the CACertificate prefix", h)
	}
	if strings.ContainsAny(enc, "\r\n ") {
		t.Errorf("header value has line breaks or spaces")
	}
	got, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		t.Fatalf("not standard padded base64: %v", err)
	}
	if diff := cmp.Diff(string(f.leaf.CertPEM), string(got)); diff != "" {
		t.Errorf("decoded header is not the certificate PEM (-want +got):\n%s", diff)
	}
}

func TestCertAuthBody(t *testing.T) {
	f := fixtures(t)
	now := time.Date(2026, 7, 1, 12, 34, 56, 789, time.UTC)
	stream := make([]byte, 256)
	for i := range stream {
		stream[i] = byte(i*7 + 3)
	}
	tests := []struct {
		name       string
		format     string
		wantFormat string // "" means the field is absent
		timestamp  bool
	}{
		{"v2", "v2", "v2", true},
		{"default is v2", "", "v2", true},
		{"v1", "v1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := certAuthBody(signerOnly{f.leaf.Key}, now, bytes.NewReader(stream), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			wantKeys := map[string]bool{"encodedData": true, "encodedSignedData": true, "encodedDataFormat": tc.wantFormat != ""}
			gotKeys := map[string]bool{"encodedData": false, "encodedSignedData": false, "encodedDataFormat": false}
			for k := range m {
				gotKeys[k] = true
			}
			if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if m["encodedDataFormat"] != tc.wantFormat {
				t.Errorf("encodedDataFormat = %q, want %q", m["encodedDataFormat"], tc.wantFormat)
			}
			nonce, err := base64.StdEncoding.Strict().DecodeString(m["encodedData"])
			if err != nil {
				t.Fatalf("encodedData: %v", err)
			}
			if len(nonce) != 100 {
				t.Fatalf("nonce is %d bytes, want 100", len(nonce))
			}
			random := nonce
			if tc.timestamp {
				if got := int64(binary.BigEndian.Uint64(nonce[:8])); got != now.Unix() {
					t.Errorf("nonce timestamp = %d, want %d", got, now.Unix())
				}
				random = nonce[8:]
			}
			if diff := cmp.Diff(stream[:len(random)], random); diff != "" {
				t.Errorf("random part is not read from rnd (-want +got):\n%s", diff)
			}
			sig, err := base64.StdEncoding.Strict().DecodeString(m["encodedSignedData"])
			if err != nil {
				t.Fatalf("encodedSignedData: %v", err)
			}
			digest := sha512.Sum512(nonce)
			if err := rsa.VerifyPKCS1v15(f.leaf.Key.Public().(*rsa.PublicKey), crypto.SHA512, digest[:], sig); err != nil {
				t.Errorf("signature does not verify (SHA512withRSA over the raw nonce): %v", err)
			}
		})
	}
}

func TestCertAuthBodyErrors(t *testing.T) {
	f := fixtures(t)
	now := time.Now()
	tests := []struct {
		name   string
		signer crypto.Signer
		rnd    io.Reader
		format string
		want   error  // nil: any error
		wantIn string // fragment of the message
	}{
		{"ECDSA signer", signerOnly{f.ec.Key}, rand.Reader, "v2", ErrNotRSA, "RSA"},
		{"nil signer", nil, rand.Reader, "v2", ErrNoPrivateKey, "nil"},
		{"short random source", signerOnly{f.leaf.Key}, bytes.NewReader(make([]byte, 10)), "v2", io.ErrUnexpectedEOF, "random"},
		{"nil random source", signerOnly{f.leaf.Key}, nil, "v2", nil, "random"},
		{"unknown format", signerOnly{f.leaf.Key}, rand.Reader, "v3", nil, "v2"},
		{"signer fails", failingSigner{f.leaf.Key.Public()}, rand.Reader, "v2", nil, "device not present"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := certAuthBody(tc.signer, now, tc.rnd, tc.format)
			if err == nil || body != nil {
				t.Fatalf("got body %q, err %v; want an error", body, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("message %q does not mention %q", err, tc.wantIn)
			}
		})
	}
}

// lowerKDFLimits keeps fuzzing fast: a mutated iteration count below the
// real limit is legitimate but would cost seconds per input.
func lowerKDFLimits(f *testing.F) {
	it, n := maxKDFIterations, maxScryptN
	maxKDFIterations, maxScryptN = 4096, 1024
	f.Cleanup(func() { maxKDFIterations, maxScryptN = it, n })
}

// checkLoadResult holds for every loader result, whatever the input.
func checkLoadResult(t *testing.T, cert *x509.Certificate, key crypto.Signer, err error, password string) {
	t.Helper()
	if err != nil {
		if cert != nil || key != nil {
			t.Fatalf("certificate or key returned together with error %v", err)
		}
		if len(password) >= 16 && strings.Contains(err.Error(), password) {
			t.Fatalf("error shows the password: %v", err)
		}
		return
	}
	if cert == nil || key == nil {
		t.Fatalf("nil certificate or key without an error")
	}
	if err := checkCertificateKey(cert, key, time.Now()); err != nil && !errors.Is(err, ErrCertificateExpired) {
		t.Fatalf("loaded pair fails the check: %v", err)
	}
}

func FuzzLoadPEM(f *testing.F) {
	fx := fixtures(f)
	lowerKDFLimits(f)
	leafKey := fx.leaf.Key.(*rsa.PrivateKey)
	enc := encPKCS8PEM(f, leafKey, certTestPassword, pbkdf2SHA256AES256)
	f.Add(fx.leaf.CertPEM, fx.leaf.KeyPEM, "")
	f.Add(fx.leaf.CertPEM, fx.pkcs1PEM, "")
	f.Add(join(fx.ca.CertPEM, fx.leaf.CertPEM, fx.leaf.KeyPEM), []byte(nil), "")
	f.Add(fx.leaf.CertPEM, enc, certTestPassword)
	f.Add(fx.leaf.CertPEM, enc, certWrongPassword)
	f.Add(fx.leaf.CertPEM, encPKCS8PEM(f, leafKey, certTestPassword, scryptAES256), certTestPassword)
	f.Add(fx.leaf.CertPEM, legacyPEM(f, leafKey, certTestPassword, x509.PEMCipherAES256), certTestPassword)
	f.Add(fx.ec.CertPEM, fx.ec.KeyPEM, "")
	f.Add(fx.leaf.CertPEM, fx.other.KeyPEM, "")
	f.Add([]byte("/etc/anaplan/cert.pem"), []byte(nil), "")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), "x")
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte, password string) {
		cert, key, err := LoadPEM(certPEM, keyPEM, password)
		checkLoadResult(t, cert, key, err, password)
	})
}

func FuzzLoadPKCS12(f *testing.F) {
	fx := fixtures(f)
	lowerKDFLimits(f)
	mk := func(enc *pkcs12.Encoder, l *testpki.Leaf, cas []*x509.Certificate, pw string) []byte {
		b, err := enc.Encode(l.Key, l.Cert, cas, pw)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	chain := []*x509.Certificate{fx.ca.Cert}
	f.Add(mk(pkcs12.Modern, fx.leaf, chain, certTestPassword), certTestPassword)
	f.Add(mk(pkcs12.Modern, fx.leaf, chain, certTestPassword), certWrongPassword)
	f.Add(mk(pkcs12.Modern2026, fx.leaf, nil, certTestPassword), certTestPassword)
	f.Add(mk(pkcs12.LegacyRC2, fx.leaf, chain, certTestPassword), certTestPassword)
	f.Add(mk(pkcs12.LegacyDES, fx.leaf, nil, certTestPassword), certTestPassword)
	f.Add(mk(pkcs12.Passwordless, fx.leaf, nil, ""), "")
	f.Add(mk(pkcs12.Modern, fx.ec, nil, ""), "")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Add(fx.leaf.CertPEM, "")
	f.Fuzz(func(t *testing.T, pfx []byte, password string) {
		cert, key, err := LoadPKCS12(pfx, password)
		checkLoadResult(t, cert, key, err, password)
	})
}
