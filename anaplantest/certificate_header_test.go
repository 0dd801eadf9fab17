package anaplantest

// Review of the fake's fidelity to ../shared/ANAPLAN.md. Each test guards a
// gap the review found, since closed.

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// wrapLines breaks s into lines of n characters joined by CRLF, as MIME
// base64 encoders (Java's getMimeEncoder, .NET's InsertLineBreaks, PEM
// bodies) do.
func wrapLines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteString("\r\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// Found in review (fixed: strictBase64): certificate sign-in accepted encodedData and encodedSignedData that are
// broken into lines. ANAPLAN.md: "Base64: standard alphabet, padded, no line
// breaks", and the fake's own refusal says they "must be standard padded
// base64" (auth.go:224-225); it does refuse unpadded base64. But
// auth.go:221-222 decode with base64.StdEncoding, which silently skips '\r'
// and '\n', so a client that wraps its base64 (a MIME or PEM-style encoder)
// signs in against the fake and would be refused by a strict server: the fake
// hides exactly the kind of wire bug it exists to catch.
//
// Expected: 400 FAILURE_BAD_REQUEST, as for unpadded base64.
// Actual:   201 and a session.
func TestFakeCertificateBase64WithLineBreaks(t *testing.T) {
	s := New(t)
	cert, key, err := s.IssueCertificate("cert.user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	send := func(encode func([]byte) string) reply {
		nonce := nonceV2(s.Now())
		sig := sign(t, key, nonce)
		return call(t, s, "POST", "/token/authenticate", certHeader(cert, false), map[string]string{
			"encodedData":       encode(nonce),
			"encodedSignedData": encode(sig),
			"encodedDataFormat": "v2",
		})
	}

	// Controls: the correct form signs in, the unpadded form is refused.
	if r := send(base64.StdEncoding.EncodeToString); r.Status != http.StatusCreated {
		t.Fatalf("control (one-line padded base64): %d %s", r.Status, r.Raw)
	}
	if r := send(base64.RawStdEncoding.EncodeToString); r.Status != http.StatusBadRequest {
		t.Fatalf("control (unpadded base64): %d %s; want 400", r.Status, r.Raw)
	}

	r := send(func(b []byte) string { return wrapLines(base64.StdEncoding.EncodeToString(b), 64) })
	if r.Status != http.StatusBadRequest || str(r.Body, "status") != StatusBadRequest {
		t.Fatalf("certificate sign-in with base64 broken into CRLF lines: %d %s; want 400 %s (ANAPLAN.md: no line breaks)",
			r.Status, str(r.Body, "status"), StatusBadRequest)
	}
}
