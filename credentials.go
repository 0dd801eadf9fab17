package anaplan

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/youmark/pkcs8"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"software.sslmate.com/src/go-pkcs12"
)

// Errors returned by LoadPEM, LoadPKCS12 and WithCertificate. Each is wrapped
// with a message that says what to fix; test for them with errors.Is. None of
// them ever carries a password or key material.
var (
	// ErrWrongPassword reports a wrong password for an encrypted private key or
	// PKCS#12 file, or a missing one when the input is encrypted.
	ErrWrongPassword = errors.New("anaplan: wrong or missing password")

	// ErrKeyMismatch reports a private key that does not belong to the certificate.
	ErrKeyMismatch = errors.New("anaplan: private key does not match the certificate")

	// ErrNotRSA reports a key or certificate that is not RSA; Anaplan requires RSA.
	ErrNotRSA = errors.New("anaplan: not an RSA key (Anaplan requires RSA)")

	// ErrCertificateExpired reports a certificate past its NotAfter date.
	ErrCertificateExpired = errors.New("anaplan: certificate has expired")

	// ErrCertificateNotYetValid reports a certificate before its NotBefore date.
	ErrCertificateNotYetValid = errors.New("anaplan: certificate is not valid yet")

	// ErrNoCertificate reports input that holds no usable certificate.
	ErrNoCertificate = errors.New("anaplan: no certificate found")

	// ErrNoPrivateKey reports input that holds no private key.
	ErrNoPrivateKey = errors.New("anaplan: no private key found")

	// ErrNotPEM reports input to LoadPEM that is not PEM text at all.
	ErrNotPEM = errors.New("anaplan: input is not PEM text")

	// ErrNotPKCS12 reports input to LoadPKCS12 that is not a PKCS#12 file.
	ErrNotPKCS12 = errors.New("anaplan: input is not a PKCS#12 (.pfx/.p12) file")

	// ErrUnsupportedFormat reports a key or file in a format or encryption
	// scheme this package does not read; the message says how to convert it.
	ErrUnsupportedFormat = errors.New("anaplan: unsupported key or file format")
)

// Bounds on the key-derivation cost a file may ask for, so that a damaged or
// hostile file cannot keep the loader busy for minutes or exhaust memory.
// Real tools write 2,048 (OpenSSL) to about 600,000 PBKDF2 iterations, and
// scrypt N=16384 (OpenSSL). Variables only so that the fuzz targets can lower
// them; nothing else changes them.
var (
	maxKDFIterations = 1 << 22 // PBKDF2 and PKCS#12 PBE/MAC iterations
	maxScryptN       = 1 << 20 // with r <= 32 and 128*N*r <= 256 MiB
)

// LoadPEM reads a certificate and its RSA private key from PEM text.
//
// keyPEM may be nil when certPEM also holds the key (a combined file). The key
// may be PKCS#1 ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8
// ("ENCRYPTED PRIVATE KEY", PBES2 with PBKDF2 or scrypt) or legacy encrypted
// PEM (Proc-Type: 4,ENCRYPTED); password is ignored when the key is not
// encrypted. Unrelated PEM blocks are skipped. When several certificates are
// present (a chain), the one whose public key matches the private key is
// returned. The certificate must be valid now.
func LoadPEM(certPEM, keyPEM []byte, password string) (*x509.Certificate, crypto.Signer, error) {
	rememberSecret(password)
	cert, key, err := loadPEM(certPEM, keyPEM, password, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// LoadPKCS12 reads a certificate and its RSA private key from a PKCS#12
// (.pfx/.p12) file: the files OpenSSL 3 and current Windows write (PBES2 with
// AES, SHA-256 MAC) as well as legacy 3DES/RC2 ones. When the file holds a
// chain, the certificate whose public key matches the key is returned. The
// certificate must be valid now.
func LoadPKCS12(pfx []byte, password string) (*x509.Certificate, crypto.Signer, error) {
	rememberSecret(password)
	cert, key, err := loadPKCS12(pfx, password, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// checkCertificateKey checks what Anaplan needs of a certificate and its key:
// both RSA, the key belongs to the certificate, and the certificate is within
// its validity period at now.
func checkCertificateKey(cert *x509.Certificate, key crypto.Signer, now time.Time) error {
	if cert == nil {
		return fmt.Errorf("%w: the certificate is nil", ErrNoCertificate)
	}
	pub, err := signerPublic(key)
	if err != nil {
		return err
	}
	kpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the private key is %s; use an RSA key", ErrNotRSA, keyKind(pub))
	}
	cpub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the certificate %s holds %s; use an RSA certificate", ErrNotRSA, certName(cert), keyKind(cert.PublicKey))
	}
	if !kpub.Equal(cpub) {
		return fmt.Errorf("%w: the key given does not belong to certificate %s; pass the private key created together with it", ErrKeyMismatch, certName(cert))
	}
	return checkValidity(cert, now)
}

func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: certificate %s expired on %s (NotAfter); renew it and register the new certificate with Anaplan",
			ErrCertificateExpired, certName(cert), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: certificate %s is valid only from %s (NotBefore, valid until %s); check the system clock or wait",
			ErrCertificateNotYetValid, certName(cert), cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// signerPublic returns key.Public(), turning a nil key (or a typed nil whose
// Public method panics) into an error.
func signerPublic(key crypto.Signer) (pub crypto.PublicKey, err error) {
	if key == nil {
		return nil, fmt.Errorf("%w: the private key is nil", ErrNoPrivateKey)
	}
	defer func() {
		if recover() != nil {
			pub, err = nil, fmt.Errorf("%w: the private key is a nil or unusable crypto.Signer", ErrNoPrivateKey)
		}
	}()
	pub = key.Public()
	if pub == nil {
		return nil, fmt.Errorf("%w: the private key has no public key", ErrNoPrivateKey)
	}
	return pub, nil
}

func certName(cert *x509.Certificate) string {
	if cn := cert.Subject.CommonName; cn != "" {
		return fmt.Sprintf("%q", "CN="+cn)
	}
	return fmt.Sprintf("%q", cert.Subject.String())
}

func keyKind(pub any) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case nil:
		return "no key"
	default:
		t := fmt.Sprintf("%T", pub)
		switch {
		case strings.Contains(t, "ecdsa"), strings.Contains(t, "ecdh"):
			return "an EC (ECDSA) key"
		case strings.Contains(t, "ed25519"):
			return "an Ed25519 key"
		case strings.Contains(t, "dsa"):
			return "a DSA key"
		}
		return "a " + t + " key"
	}
}

// ---- PEM

func loadPEM(certPEM, keyPEM []byte, password string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certs, certKeyBlocks, certErr, found := scanPEM(certPEM)
	if !found {
		return nil, nil, fmt.Errorf("%w: the certificate input %s", ErrNotPEM, describeNotPEM(certPEM))
	}
	keyBlocks := certKeyBlocks
	if len(keyPEM) > 0 {
		var ok bool
		_, keyBlocks, _, ok = scanPEM(keyPEM)
		if !ok {
			return nil, nil, fmt.Errorf("%w: the private key input %s", ErrNotPEM, describeNotPEM(keyPEM))
		}
	}
	if len(certs) == 0 {
		if len(keyPEM) > 0 {
			if kc, _, _, _ := scanPEM(keyPEM); len(kc) > 0 {
				return nil, nil, fmt.Errorf("%w: the certificate input holds no CERTIFICATE block but the key input does; the two arguments may be swapped", ErrNoCertificate)
			}
		}
		if certErr != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrNoCertificate, certErr)
		}
		return nil, nil, fmt.Errorf("%w: the certificate input holds no CERTIFICATE block; pass the certificate PEM first", ErrNoCertificate)
	}
	if len(keyBlocks) == 0 {
		if len(keyPEM) > 0 {
			return nil, nil, fmt.Errorf("%w: the private key input holds no PRIVATE KEY block", ErrNoPrivateKey)
		}
		return nil, nil, fmt.Errorf("%w: the certificate input holds no PRIVATE KEY block; pass the key PEM as the second argument", ErrNoPrivateKey)
	}
	keys := make([]crypto.Signer, 0, len(keyBlocks))
	for _, b := range keyBlocks {
		k, err := parsePEMKey(b, password)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	return pickPair(certs, keys, now)
}

// scanPEM returns the certificates and private-key blocks in data, the
// first certificate parse error, and whether data held any PEM block.
func scanPEM(data []byte) (certs []*x509.Certificate, keys []*pem.Block, certErr error, found bool) {
	rest := data
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certs, keys, certErr, found
		}
		found = true
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			n++
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				if certErr == nil {
					certErr = fmt.Errorf("certificate block %d cannot be parsed (%v); export the certificate again", n, err)
				}
				continue
			}
			certs = append(certs, c)
		case "RSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
			"EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY":
			keys = append(keys, b)
		}
	}
}

func parsePEMKey(b *pem.Block, password string) (crypto.Signer, error) {
	der := b.Bytes
	decrypted := false
	if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		if password == "" {
			return nil, passwordError("the private key (legacy encrypted PEM)", false)
		}
		//lint:ignore SA1019 legacy encrypted PEM (DEK-Info) is still in use and the standard library has no replacement; it is only read, never written
		d, err := x509.DecryptPEMBlock(b, []byte(password))
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, passwordError("the private key (legacy encrypted PEM)", true)
			}
			return nil, fmt.Errorf("%w: the legacy encrypted PEM key cannot be decrypted (check its DEK-Info header); convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`", ErrUnsupportedFormat)
		}
		der, decrypted = d, true
	}
	var key any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
		if err != nil && !decrypted {
			// Some tools label PKCS#8 as "RSA PRIVATE KEY".
			if k, err8 := x509.ParsePKCS8PrivateKey(der); err8 == nil {
				key, err = k, nil
			}
		}
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
		if err != nil && !decrypted {
			if k, err1 := x509.ParsePKCS1PrivateKey(der); err1 == nil {
				key, err = k, nil
			}
		}
	case "ENCRYPTED PRIVATE KEY":
		if decrypted {
			return nil, fmt.Errorf("%w: the ENCRYPTED PRIVATE KEY block also has a Proc-Type header; export the key again", ErrUnsupportedFormat)
		}
		return parseEncryptedPKCS8(der, password)
	case "EC PRIVATE KEY":
		return nil, fmt.Errorf("%w: the private key is an EC (ECDSA) key; create an RSA key and certificate", ErrNotRSA)
	case "DSA PRIVATE KEY":
		return nil, fmt.Errorf("%w: the private key is a DSA key; create an RSA key and certificate", ErrNotRSA)
	case "OPENSSH PRIVATE KEY":
		return nil, fmt.Errorf("%w: the key is in OpenSSH format; convert it with `ssh-keygen -p -m PKCS8 -f FILE`", ErrUnsupportedFormat)
	default:
		return nil, fmt.Errorf("%w: PEM block type %q is not a private key", ErrNoPrivateKey, b.Type)
	}
	if err != nil {
		if decrypted {
			// A wrong password passes the padding check about once in 256 tries.
			return nil, passwordError("the private key (legacy encrypted PEM)", true)
		}
		return nil, fmt.Errorf("%w: the %s block cannot be parsed (%v); export the key again", ErrUnsupportedFormat, b.Type, err)
	}
	return asRSASigner(key)
}

func asRSASigner(key any) (crypto.Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: the private key (%T) cannot sign; use an RSA key", ErrNotRSA, key)
	}
	pub, err := signerPublic(s)
	if err != nil {
		return nil, err
	}
	if _, ok := pub.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: the private key is %s; create an RSA key and certificate", ErrNotRSA, keyKind(pub))
	}
	return s, nil
}

func passwordError(what string, given bool) error {
	if !given {
		return fmt.Errorf("%w: %s is encrypted and no password was given; pass its password", ErrWrongPassword, what)
	}
	return fmt.Errorf("%w: the password does not open %s; check it (passwords are case-sensitive)", ErrWrongPassword, what)
}

// ---- encrypted PKCS#8

var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPKInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	Rest       asn1.RawValue `asn1:"optional"` // keyLength or prf
	PRF        asn1.RawValue `asn1:"optional"`
}

type scryptParams struct {
	Salt []byte
	N    int
	R    int
	P    int
}

const reencryptHint = "convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`"

// parseEncryptedPKCS8 validates the encryption parameters (so that the
// decrypting library can neither panic nor run for minutes) and decrypts.
func parseEncryptedPKCS8(der []byte, password string) (crypto.Signer, error) {
	var info encryptedPKInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: the ENCRYPTED PRIVATE KEY block is damaged; export the key again", ErrUnsupportedFormat)
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: the key is encrypted with an old scheme (PBES1, OID %s); %s", ErrUnsupportedFormat, info.Algo.Algorithm, reencryptHint)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("%w: the key's PBES2 parameters are damaged; %s", ErrUnsupportedFormat, reencryptHint)
	}
	blockSize := 16
	switch {
	case p.Enc.Algorithm.Equal(oidAES128CBC), p.Enc.Algorithm.Equal(oidAES192CBC), p.Enc.Algorithm.Equal(oidAES256CBC):
	case p.Enc.Algorithm.Equal(oidDESEDE3CBC):
		blockSize = 8
	default:
		return nil, fmt.Errorf("%w: the key is encrypted with cipher OID %s; %s", ErrUnsupportedFormat, p.Enc.Algorithm, reencryptHint)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != blockSize {
		return nil, fmt.Errorf("%w: the key's cipher parameters (IV) are damaged; export the key again", ErrUnsupportedFormat)
	}
	if len(info.Data) == 0 || len(info.Data)%blockSize != 0 {
		return nil, fmt.Errorf("%w: the encrypted key data is truncated or damaged; export the key again", ErrUnsupportedFormat)
	}
	switch {
	case p.KDF.Algorithm.Equal(oidPBKDF2):
		var kp pbkdf2Params
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
			return nil, fmt.Errorf("%w: the key's PBKDF2 parameters are damaged; %s", ErrUnsupportedFormat, reencryptHint)
		}
		if kp.Iterations < 1 || kp.Iterations > maxKDFIterations {
			return nil, fmt.Errorf("%w: the key's PBKDF2 iteration count is outside 1..%d; %s", ErrUnsupportedFormat, maxKDFIterations, reencryptHint)
		}
		prf := kp.PRF
		if kp.Rest.Tag == asn1.TagSequence {
			prf = kp.Rest // keyLength absent
		}
		newHash := sha1.New
		if len(prf.FullBytes) > 0 {
			var alg pkix.AlgorithmIdentifier
			if _, err := asn1.Unmarshal(prf.FullBytes, &alg); err != nil {
				return nil, fmt.Errorf("%w: the key's PBKDF2 parameters are damaged; %s", ErrUnsupportedFormat, reencryptHint)
			}
			var ok bool
			if newHash, ok = pbkdf2Hashes[alg.Algorithm.String()]; !ok {
				return nil, fmt.Errorf("%w: the key's PBKDF2 uses a hash other than SHA-1/SHA-224/SHA-256/SHA-384/SHA-512; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in OLD -out NEW`", ErrUnsupportedFormat)
			}
		}
		if password == "" {
			return nil, passwordError("the private key (ENCRYPTED PRIVATE KEY)", false)
		}
		// Decrypted here rather than by youmark/pkcs8, which ignores an
		// explicit keyLength (Java writes one) and then derives the wrong key.
		return decryptPBKDF2(info.Data, password, kp.Salt, kp.Iterations, newHash, p.Enc.Algorithm, iv)
	case p.KDF.Algorithm.Equal(oidScrypt):
		var sp scryptParams
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &sp); err != nil {
			return nil, fmt.Errorf("%w: the key's scrypt parameters are damaged; %s", ErrUnsupportedFormat, reencryptHint)
		}
		if sp.N < 2 || sp.N&(sp.N-1) != 0 || sp.N > maxScryptN || sp.R < 1 || sp.R > 32 || sp.P < 1 || sp.P > 16 ||
			int64(sp.N)*int64(sp.R)*128 > 256<<20 {
			return nil, fmt.Errorf("%w: the key's scrypt cost parameters are out of range; %s", ErrUnsupportedFormat, reencryptHint)
		}
	default:
		return nil, fmt.Errorf("%w: the key is encrypted with key-derivation OID %s; %s", ErrUnsupportedFormat, p.KDF.Algorithm, reencryptHint)
	}
	if password == "" {
		return nil, passwordError("the private key (ENCRYPTED PRIVATE KEY)", false)
	}
	key, err := decryptPKCS8(der, password)
	if err != nil {
		if strings.Contains(err.Error(), "incorrect password") {
			return nil, passwordError("the private key (ENCRYPTED PRIVATE KEY)", true)
		}
		return nil, fmt.Errorf("%w: the encrypted key cannot be read (%v); %s", ErrUnsupportedFormat, err, reencryptHint)
	}
	return asRSASigner(key)
}

// pbkdf2Hashes are the PBKDF2 PRFs (hmacWith…) by OID.
var pbkdf2Hashes = map[string]func() hash.Hash{
	"1.2.840.113549.2.7":       sha1.New,
	"1.2.840.113549.2.8":       sha256.New224,
	oidHMACWithSHA256.String(): sha256.New,
	"1.2.840.113549.2.10":      sha512.New384,
	"1.2.840.113549.2.11":      sha512.New,
}

// decryptPBKDF2 decrypts PBES2 (PBKDF2 with AES-CBC or 3DES-CBC) key data.
// A padding or parse failure after decryption means the password is wrong.
func decryptPBKDF2(data []byte, password string, salt []byte, iter int, newHash func() hash.Hash, enc asn1.ObjectIdentifier, iv []byte) (crypto.Signer, error) {
	var keyLen int
	switch {
	case enc.Equal(oidAES128CBC):
		keyLen = 16
	case enc.Equal(oidAES192CBC), enc.Equal(oidDESEDE3CBC):
		keyLen = 24
	default:
		keyLen = 32
	}
	dk, err := pbkdf2.Key(newHash, password, salt, iter, keyLen)
	if err != nil {
		return nil, fmt.Errorf("%w: the key's PBKDF2 parameters cannot be used (%v); %s", ErrUnsupportedFormat, err, reencryptHint)
	}
	var block cipher.Block
	if enc.Equal(oidDESEDE3CBC) {
		block, err = des.NewTripleDESCipher(dk)
	} else {
		block, err = aes.NewCipher(dk)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedFormat, err)
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	n := int(plain[len(plain)-1])
	wrong := passwordError("the private key (ENCRYPTED PRIVATE KEY)", true)
	if n == 0 || n > block.BlockSize() || n > len(plain) {
		return nil, wrong
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, wrong
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(plain[:len(plain)-n])
	if err != nil {
		return nil, wrong
	}
	return asRSASigner(key)
}

func decryptPKCS8(der []byte, password string) (key any, err error) {
	defer func() {
		if recover() != nil {
			key, err = nil, errors.New("damaged encryption parameters")
		}
	}()
	return pkcs8.ParsePKCS8PrivateKey(der, []byte(password))
}

// ---- choosing the certificate

// pickPair returns the first certificate/key pair that belong together,
// preferring a certificate that is valid at now.
func pickPair(certs []*x509.Certificate, keys []crypto.Signer, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	var firstErr error
	rsaCert := false
	for _, k := range keys {
		kpub, _ := k.Public().(*rsa.PublicKey) // asRSASigner checked
		for _, c := range certs {
			cpub, ok := c.PublicKey.(*rsa.PublicKey)
			if !ok {
				continue
			}
			rsaCert = true
			if !kpub.Equal(cpub) {
				continue
			}
			if err := checkValidity(c, now); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			return c, k, nil
		}
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if !rsaCert {
		return nil, nil, fmt.Errorf("%w: the certificate %s holds %s; use an RSA certificate", ErrNotRSA, certName(certs[0]), keyKind(certs[0].PublicKey))
	}
	if len(certs) == 1 {
		return nil, nil, fmt.Errorf("%w: the key given does not belong to certificate %s; pass the private key created together with it", ErrKeyMismatch, certName(certs[0]))
	}
	return nil, nil, fmt.Errorf("%w: the key given belongs to none of the %d certificates in the input; pass the private key created together with the certificate", ErrKeyMismatch, len(certs))
}

// ---- PKCS#12

func loadPKCS12(pfx []byte, password string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if len(pfx) == 0 || pfx[0] != 0x30 {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotPKCS12, describeNotPKCS12(pfx))
	}
	if err := checkDERIterations(cryptobyte.String(pfx), 0); err != nil {
		return nil, nil, err
	}
	key, cert, cas, err := decodePKCS12(pfx, password)
	if err != nil && password != "" && (errors.Is(err, pkcs12.ErrIncorrectPassword) || strings.Contains(err.Error(), "no MAC")) {
		// The file may have no password at all: then the one given is ignored.
		if k2, c2, cas2, err2 := decodePKCS12(pfx, ""); err2 == nil {
			key, cert, cas, err = k2, c2, cas2, nil
		}
	}
	if err != nil {
		return nil, nil, pkcs12Error(pfx, err, password != "")
	}
	signer, err := asRSASigner(key)
	if err != nil {
		return nil, nil, err
	}
	certs := append([]*x509.Certificate{cert}, cas...)
	return pickPair(certs, []crypto.Signer{signer}, now)
}

func decodePKCS12(pfx []byte, password string) (key any, cert *x509.Certificate, cas []*x509.Certificate, err error) {
	defer func() {
		if recover() != nil {
			key, cert, cas, err = nil, nil, nil, errors.New("pkcs12: damaged file structure")
		}
	}()
	return pkcs12.DecodeChain(pfx, password)
}

func pkcs12Error(pfx []byte, err error, given bool) error {
	msg := err.Error()
	var ni pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
		return passwordError("the PKCS#12 file", given)
	case strings.Contains(msg, "no MAC"):
		return fmt.Errorf("%w: the PKCS#12 file has no integrity MAC; export it again with a password", ErrUnsupportedFormat)
	case strings.Contains(msg, "UCS-2"):
		return fmt.Errorf("%w: the password holds characters PKCS#12 cannot encode (outside the Basic Multilingual Plane)", ErrWrongPassword)
	case msg == "pkcs12: certificate missing":
		return fmt.Errorf("%w: the PKCS#12 file holds no certificate; export it again with the certificate", ErrNoCertificate)
	case msg == "pkcs12: private key missing":
		return fmt.Errorf("%w: the PKCS#12 file holds no private key; export it again including the private key", ErrNoPrivateKey)
	case strings.Contains(msg, "exactly one key bag"):
		return fmt.Errorf("%w: the PKCS#12 file holds more than one private key; export only the key for this certificate", ErrUnsupportedFormat)
	case errors.As(err, &ni):
		return fmt.Errorf("%w: %v; export the file again with `openssl pkcs12 -export` (AES-256, SHA-256 MAC)", ErrUnsupportedFormat, err)
	case strings.Contains(msg, "error reading P12 data"):
		if _, cerr := x509.ParseCertificate(pfx); cerr == nil {
			return fmt.Errorf("%w: it is a DER certificate without a private key; use LoadPEM with the certificate and key in PEM (`openssl x509 -inform der -in FILE`)", ErrNotPKCS12)
		}
		return fmt.Errorf("%w: the data is damaged or of another kind (%v)", ErrNotPKCS12, err)
	}
	return fmt.Errorf("%w: the file cannot be read (%v); export it again", ErrNotPKCS12, err)
}

// checkDERIterations walks DER and refuses iteration counts above
// maxKDFIterations: an INTEGER right after an OCTET STRING in a SEQUENCE is
// the (salt, iterations) shape of PBKDF2, PKCS#12 PBE and MAC parameters.
// Anything that is not DER is left for the real parser to report.
func checkDERIterations(s cryptobyte.String, depth int) error {
	if depth > 24 {
		return nil
	}
	prevOctet := false
	for !s.Empty() {
		var body cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&body, &tag) {
			return nil
		}
		switch {
		case tag == cbasn1.INTEGER && prevOctet && depth > 0:
			if len(body) > 0 && body[0]&0x80 == 0 { // negative counts are not ours to judge
				limit := uint64(maxKDFIterations)
				var v uint64
				for _, c := range body {
					if v > limit {
						break
					}
					v = v<<8 | uint64(c)
				}
				if v > limit {
					return fmt.Errorf("%w: the PKCS#12 file asks for more than %d key-derivation iterations; export it again with `openssl pkcs12 -export`", ErrUnsupportedFormat, maxKDFIterations)
				}
			}
		case tag&0x20 != 0: // constructed
			if err := checkDERIterations(body, depth+1); err != nil {
				return err
			}
		case tag == cbasn1.OCTET_STRING:
			// Wrapped DER (the PFX authSafe) is exactly one SEQUENCE.
			inner := body
			var seq cryptobyte.String
			var itag cbasn1.Tag
			if inner.ReadAnyASN1Element(&seq, &itag) && inner.Empty() && itag == cbasn1.SEQUENCE {
				if err := checkDERIterations(body, depth+1); err != nil {
					return err
				}
			}
		}
		prevOctet = tag == cbasn1.OCTET_STRING
	}
	return nil
}

// ---- diagnosing the wrong kind of input (never echoing it)

func describeNotPEM(b []byte) string {
	t := bytes.TrimSpace(b)
	switch {
	case len(t) == 0:
		return "is empty"
	case t[0] == 0x30:
		return "is binary DER, not PEM text: use LoadPKCS12 for a .pfx/.p12 file, or convert a DER certificate with `openssl x509 -inform der -in FILE -out FILE.pem`"
	}
	if k := base64Kind(t); k != "" {
		return "is base64 text without -----BEGIN/-----END lines (" + k + "): decode it first"
	}
	if looksLikePath(t) {
		return "looks like a file path, not file content: read the file (os.ReadFile) and pass its bytes"
	}
	return "holds no -----BEGIN ...----- block: pass the PEM text of the certificate and key"
}

func describeNotPKCS12(b []byte) string {
	t := bytes.TrimSpace(b)
	switch {
	case len(t) == 0:
		return "the input is empty"
	case bytes.Contains(t, []byte("-----BEGIN")):
		return "the input is PEM text: use LoadPEM"
	case t[0] == 0x30:
		return "the input has white space around binary data: pass the file's bytes unchanged"
	}
	if k := base64Kind(t); k != "" {
		return "the input is base64 text (" + k + "): decode it (base64.StdEncoding) first"
	}
	if looksLikePath(t) {
		return "the input looks like a file path, not file content: read the file (os.ReadFile) and pass its bytes"
	}
	return "the data does not start like a PKCS#12 file: pass the bytes of the .pfx/.p12 file"
}

// base64Kind reports what base64 text decodes to, or "" when it is not
// base64 of DER or PEM.
func base64Kind(t []byte) string {
	clean := make([]byte, 0, len(t))
	for _, c := range t {
		if c == '\r' || c == '\n' || c == ' ' || c == '\t' {
			continue
		}
		clean = append(clean, c)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		d, err := enc.DecodeString(string(clean))
		if err != nil || len(d) < 16 {
			continue
		}
		switch {
		case bytes.Contains(d, []byte("-----BEGIN")):
			return "of PEM text"
		case d[0] == 0x30:
			return "of binary DER"
		}
	}
	return ""
}

func looksLikePath(t []byte) bool {
	if len(t) > 4096 || !utf8.Valid(t) {
		return false
	}
	s := string(t)
	for _, r := range s {
		if r == '\n' || unicode.IsControl(r) {
			return false
		}
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".pem", ".crt", ".cer", ".key", ".pfx", ".p12", ".der":
		return true
	}
	return strings.ContainsAny(s, `/\`) || strings.HasPrefix(s, "~")
}
