package anaplan

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"
)

// CA-certificate sign-in: the signed request (v2 nonce by default, v1 by
// choice, see auth_cert_format.go). Loading certificates and keys is in
// credentials.go.

// certAuthHeader returns "CACertificate " + standard padded base64 of the
// whole PEM text of cert.
func certAuthHeader(cert *x509.Certificate) string {
	if cert == nil {
		return "CACertificate "
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return "CACertificate " + base64.StdEncoding.EncodeToString(p)
}

type certAuthRequest struct {
	EncodedData       string `json:"encodedData"`
	EncodedSignedData string `json:"encodedSignedData"`
	EncodedDataFormat string `json:"encodedDataFormat,omitempty"`
}

// certAuthBody builds the JSON body of the certificate sign-in. Format "v2"
// (or ""): the nonce is the 8-byte big-endian Unix seconds of now followed by
// 92 random bytes from rnd; "v1": 100 random bytes and no encodedDataFormat.
// The signature is RSASSA-PKCS1-v1_5 with SHA-512 over the raw nonce, made
// with signer.Sign so that any RSA crypto.Signer (HSM, KMS) works.
func certAuthBody(signer crypto.Signer, now time.Time, rnd io.Reader, format string) ([]byte, error) {
	pub, err := signerPublic(signer)
	if err != nil {
		return nil, err
	}
	if _, ok := pub.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: the signing key is %s; Certificate sign-in needs an RSA key", ErrNotRSA, keyKind(pub))
	}
	if rnd == nil {
		return nil, errors.New("anaplan: certificate sign-in: no random source")
	}
	nonce := make([]byte, 100)
	random := nonce
	switch format {
	case "", "v2":
		format = "v2"
		binary.BigEndian.PutUint64(nonce, uint64(now.Unix()))
		random = nonce[8:]
	case "v1":
		format = ""
	default:
		return nil, errorf("anaplan: certificate sign-in: unknown nonce format %q: use \"v2\" (or \"v1\")", format)
	}
	if _, err := io.ReadFull(rnd, random); err != nil {
		return nil, errorf("anaplan: certificate sign-in: reading random bytes for the nonce: %w", err)
	}
	digest := sha512.Sum512(nonce)
	sig, err := signer.Sign(rnd, digest[:], crypto.SHA512)
	if err != nil {
		return nil, errorf("anaplan: certificate sign-in: signing the nonce with the private key: %w", err)
	}
	return json.Marshal(certAuthRequest{
		EncodedData:       base64.StdEncoding.EncodeToString(nonce),
		EncodedSignedData: base64.StdEncoding.EncodeToString(sig),
		EncodedDataFormat: format,
	})
}
