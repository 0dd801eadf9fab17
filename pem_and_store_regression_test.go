package anaplan

// Regression tests of the settings store, the connection-string parser and the
// credential loaders. Each test guards a bug the review found, since fixed;
// its comment describes the bug as it was.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// reviewEncryptedPKCS8 encrypts key as PBES2 (PBKDF2 with hmacWithSHA256,
// AES-256-CBC), the way RFC 8018 allows. With withKeyLength the PBKDF2
// parameters carry the optional keyLength field (32), exactly as the JDK's
// PBES2Parameters write it for "PBEWithHmacSHA256AndAES_256":
//
//	SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER (32), prf AlgorithmIdentifier }
//
// OpenSSL reads both forms (`openssl pkey -in key.pem -passin pass:…`).
func reviewEncryptedPKCS8(t *testing.T, key any, password string, withKeyLength bool) []byte {
	t.Helper()
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	salt, iv := make([]byte, 16), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	const iterations = 2048
	dk, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	pad := 16 - len(plain)%16
	for range pad {
		plain = append(plain, byte(pad))
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)

	prf := pkix.AlgorithmIdentifier{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}
	var kdfParams []byte
	if withKeyLength {
		kdfParams, err = asn1.Marshal(struct {
			Salt       []byte
			Iterations int
			KeyLength  int
			PRF        pkix.AlgorithmIdentifier
		}{salt, iterations, 32, prf})
	} else {
		kdfParams, err = asn1.Marshal(struct {
			Salt       []byte
			Iterations int
			PRF        pkix.AlgorithmIdentifier
		}{salt, iterations, prf})
	}
	if err != nil {
		t.Fatal(err)
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		t.Fatal(err)
	}
	params, err := asn1.Marshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(encryptedPKInfo{
		Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		Data: ct,
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

// Found in review (fixed: PBKDF2 keys are now decrypted natively): an encrypted PKCS#8 key whose PBKDF2 parameters include the optional
// keyLength field (RFC 8018 A.2; the JDK always writes it, e.g. for
// PBEWithHmacSHA256AndAES_256) does not load with its correct password.
// parseEncryptedPKCS8 (auth_cert.go:421-424) understands keyLength when it
// validates the parameters, but then hands the key to youmark/pkcs8, whose
// pbkdf2Params struct has no keyLength field: asn1 skips the optional PRF
// (it sees the keyLength INTEGER where it expects a SEQUENCE), the PRF
// defaults to HMAC-SHA1, the derived key is wrong, and the failure is
// reported as "pkcs8: incorrect password" (auth_cert.go:447-451).
//
// Expected: LoadPEM returns the certificate and key (as OpenSSL does).
// Actual:   an error wrapping ErrWrongPassword ("the password does not open
// the private key"), which sends the user hunting for a password that is right.
func TestRegressionLoadPEMEncryptedPKCS8WithKeyLength(t *testing.T) {
	f := fixtures(t)

	// Control: the same construction without keyLength loads, so the
	// fixture itself is sound.
	plainForm := reviewEncryptedPKCS8(t, f.leaf.Key, certTestPassword, false)
	if _, _, err := LoadPEM(f.leaf.CertPEM, plainForm, certTestPassword); err != nil {
		t.Fatalf("control (no keyLength): LoadPEM = %v", err)
	}

	withKeyLength := reviewEncryptedPKCS8(t, f.leaf.Key, certTestPassword, true)
	cert, key, err := LoadPEM(f.leaf.CertPEM, withKeyLength, certTestPassword)
	checkNoSecrets(t, err)
	if err != nil {
		t.Fatalf("LoadPEM(PBES2 key with PBKDF2 keyLength, correct password) = %v (ErrWrongPassword: %v); want the key",
			err, errors.Is(err, ErrWrongPassword))
	}
	if !cert.Equal(f.leaf.Cert) || key == nil {
		t.Fatal("LoadPEM returned another certificate or no key")
	}
}

// Found in review (fixed: Load refuses a non-regular file before opening it): FileStore.Load blocked forever, ignoring its context, when the settings
// path is a named pipe (for example OAuthSettingsLocation=/dev/stdin, or a
// path from a shell's process substitution). settings_store.go:355 opens the
// path with a blocking os.Open before the "is not a regular file" check at
// settings_store.go:367 can run, so that check is never reached and ctx is
// never looked at again. Every OAuth call of the client then hangs.
//
// Expected: Load returns promptly with the "not a regular file" error (or at
// the latest when ctx ends).
// Actual:   Load is still blocked in open(2) long after ctx has ended.
func TestRegressionLoadNamedPipeHangs(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system on Windows")
	}
	mkfifo, err := exec.LookPath("mkfifo")
	if err != nil {
		t.Skip("mkfifo not available")
	}
	path := filepath.Join(t.TempDir(), "settings")
	if out, err := exec.Command(mkfifo, "-m", "600", path).CombinedOutput(); err != nil {
		t.Skipf("mkfifo: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := NewFileStore(path, make([]byte, 32)).Load(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Load of a named pipe succeeded")
		}
		return // the fixed behaviour
	case <-time.After(time.Second):
	}
	// Unblock the reader so that no goroutine is left behind: Load is
	// blocked opening the pipe for reading, so opening it for writing
	// completes at once.
	if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		w.Close()
	}
	err = <-done
	t.Fatalf("Load of a named pipe was still blocked 1 s after its 100 ms context ended (then returned %v); want a prompt error", err)
}
