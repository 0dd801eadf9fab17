package anaplantest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// reply is a decoded answer.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call sends one request to s with plain net/http. body may be nil, a string
// (sent as is) or anything else (sent as JSON).
func call(t testing.TB, s *Server, method, path string, header map[string]string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func basic(user, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

func authToken(v string) map[string]string {
	return map[string]string{"Authorization": "AnaplanAuthToken " + v}
}

// login signs in with Basic and returns the token value.
func login(t testing.TB, s *Server, user, password string) string {
	t.Helper()
	r := call(t, s, "POST", "/token/authenticate", basic(user, password), nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("authenticate: %d %s", r.Status, r.Raw)
	}
	return str(r.Body, "tokenInfo", "tokenValue")
}

// str digs a string out of decoded JSON.
func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	x, _ := v.(string)
	return x
}

func num(m map[string]any, keys ...string) int64 {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return 0
		}
		v = mm[k]
	}
	f, _ := v.(float64)
	return int64(f)
}

// nonceV2 is a v2 nonce stamped with t.
func nonceV2(t time.Time) []byte {
	n := make([]byte, 100)
	binary.BigEndian.PutUint64(n, uint64(t.Unix()))
	_, _ = rand.Read(n[8:])
	return n
}

func randomNonce(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func sign(t testing.TB, key crypto.Signer, data []byte) []byte {
	t.Helper()
	d := sha512.Sum512(data)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// certHeader is the CACertificate header: base64 of the PEM text, or of the DER.
func certHeader(cert *x509.Certificate, der bool) map[string]string {
	raw := cert.Raw
	if !der {
		raw = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return map[string]string{
		"Authorization": "CACertificate " + base64.StdEncoding.EncodeToString(raw),
		"Content-Type":  "application/json",
	}
}

func certBody(nonce, sig []byte, format string) map[string]string {
	b := map[string]string{
		"encodedData":       base64.StdEncoding.EncodeToString(nonce),
		"encodedSignedData": base64.StdEncoding.EncodeToString(sig),
	}
	if format != "" {
		b["encodedDataFormat"] = format
	}
	return b
}
