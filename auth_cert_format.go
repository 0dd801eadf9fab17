package anaplan

// CertificateFormat is the format of the signed nonce that certificate
// sign-in sends (see WithCertificateFormat).
type CertificateFormat string

const (
	// CertificateV2 is the default: a 100-byte nonce of the 8-byte Unix time
	// followed by 92 random bytes, sent with "encodedDataFormat": "v2".
	CertificateV2 CertificateFormat = "v2"
	// CertificateV1 is the older format, for a tenant that still expects it:
	// 100 random bytes and no encodedDataFormat field. Anaplan is phasing
	// it out; choose it only when the v2 sign-in is refused.
	CertificateV1 CertificateFormat = "v1"
)

// WithCertificateFormat chooses the nonce format of certificate sign-in
// (WithCertificate, or AuthScheme=Certificate); the connection-string
// property is CertificateFormat=v1|v2. The default is CertificateV2. Any
// other value makes New fail.
func WithCertificateFormat(f CertificateFormat) Option {
	return func(c *config) {
		switch CertificateFormat(asciiLower(string(f))) {
		case CertificateV2:
			c.certFormat = string(CertificateV2)
		case CertificateV1:
			c.certFormat = string(CertificateV1)
		default:
			c.fail(errorf("anaplan: WithCertificateFormat(%q): the format must be CertificateV2 or CertificateV1", string(f)))
		}
	}
}
