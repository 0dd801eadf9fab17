package anaplantest

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan/internal/testpki"
	"github.com/google/go-cmp/cmp"
)

var epoch = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func TestBasicAuthenticate(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("ada@example.com", "correct horse")
	s.AddUser("cert@example.com", "") // no password sign-in

	garbled := map[string]string{"Authorization": "Basic !!!not-base64"}
	noColon := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("adaexample.com"))}
	tests := []struct {
		name       string
		header     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"good", basic("ada@example.com", "correct horse"), 201, "SUCCESS"},
		{"wrong password", basic("ada@example.com", "wrong"), 401, StatusBadCredential},
		{"unknown user", basic("bob@example.com", "correct horse"), 401, StatusBadCredential},
		{"user without password", basic("cert@example.com", ""), 401, StatusBadCredential},
		{"missing header", nil, 401, StatusBadHeader},
		{"bearer", map[string]string{"Authorization": "Bearer abc"}, 401, StatusBadHeader},
		{"scheme only", map[string]string{"Authorization": "Basic"}, 401, StatusBadHeader},
		{"unknown scheme", map[string]string{"Authorization": "Digest abc"}, 401, StatusBadHeader},
		{"garbled base64", garbled, 401, StatusBadHeader},
		{"no colon", noColon, 401, StatusBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "POST", "/token/authenticate", tt.header, nil)
			got := []any{r.Status, str(r.Body, "status")}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantCode}, got); diff != "" {
				t.Fatalf("(-want +got)\n%s\nbody: %s", diff, r.Raw)
			}
			if r.Status != 201 {
				if str(r.Body, "statusMessage") == "" {
					t.Errorf("failure without statusMessage: %s", r.Raw)
				}
				if strings.Contains(r.Raw, "correct horse") {
					t.Errorf("answer echoes the password: %s", r.Raw)
				}
				return
			}
			if got, want := num(r.Body, "tokenInfo", "expiresAt"), epoch.Add(35*time.Minute).UnixMilli(); got != want {
				t.Errorf("expiresAt = %d, want %d", got, want)
			}
			for _, k := range []string{"tokenId", "tokenValue", "refreshTokenId"} {
				if str(r.Body, "tokenInfo", k) == "" {
					t.Errorf("tokenInfo.%s missing: %s", k, r.Raw)
				}
			}
			if got, want := str(r.Body, "meta", "validationUrl"), s.URL()+"/token/validate"; got != want {
				t.Errorf("validationUrl = %q, want %q", got, want)
			}
			if got := str(r.Body, "statusMessage"); got != "Login successful" {
				t.Errorf("statusMessage = %q", got)
			}
		})
	}
	if got := s.Calls("POST /token/authenticate"); got != len(tests) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
}

func TestAuthenticateStatusOption(t *testing.T) {
	s := New(t, WithAuthenticateStatus(200), WithTokenTTL(time.Minute), WithClock(epoch))
	s.AddUser("u", "p")
	r := call(t, s, "POST", "/token/authenticate", basic("u", "p"), nil)
	if r.Status != 200 {
		t.Fatalf("status %d, want 200", r.Status)
	}
	if got, want := num(r.Body, "tokenInfo", "expiresAt"), epoch.Add(time.Minute).UnixMilli(); got != want {
		t.Errorf("expiresAt = %d, want %d", got, want)
	}
	r = call(t, s, "POST", "/token/refresh", authToken(str(r.Body, "tokenInfo", "tokenValue")), nil)
	if r.Status != 200 {
		t.Fatalf("refresh status %d, want 200", r.Status)
	}
}

// pki is shared by the certificate tests. RSA keys are slow to make, so
// the certificates other than good and ecdsa reuse good's key.
type pki struct {
	ca                          *testpki.CA
	good, unregistered, expired *testpki.Leaf
	notYet, ecdsa               *testpki.Leaf
}

// sharedCA is the fake's own CA, made once per process.
func sharedCA(t testing.TB) *testpki.CA {
	t.Helper()
	caOnce.Do(func() { ca, caErr = testpki.NewCA("anaplantest CA") })
	if caErr != nil {
		t.Fatal(caErr)
	}
	return ca
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := sharedCA(t)
	good, err := ca.Issue("cert@example.com", &testpki.LeafOptions{NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ecdsa, err := ca.Issue("cert@example.com", &testpki.LeafOptions{NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.AddDate(1, 0, 0), ECDSA: true})
	if err != nil {
		t.Fatal(err)
	}
	sameKey := func(notBefore, notAfter time.Time) *testpki.Leaf {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      pkix.Name{CommonName: "cert@example.com"},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, good.Key.Public(), ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return &testpki.Leaf{Cert: cert, Key: good.Key}
	}
	return &pki{
		ca:           ca,
		good:         good,
		unregistered: sameKey(epoch.Add(-time.Hour), epoch.AddDate(1, 0, 0)),
		expired:      sameKey(epoch.AddDate(-1, 0, 0), epoch.Add(-time.Minute)),
		notYet:       sameKey(epoch.Add(time.Hour), epoch.AddDate(1, 0, 0)),
		ecdsa:        ecdsa,
	}
}

func TestCertificateAuthenticate(t *testing.T) {
	p := newPKI(t)
	s := New(t, WithClock(epoch))
	for _, l := range []*testpki.Leaf{p.good, p.expired, p.notYet, p.ecdsa} {
		s.AddCertificate(l.Cert, "cert@example.com")
	}
	good := p.good
	reused := nonceV2(epoch)
	// The first sign-in with reused succeeds; see "reused nonce" below.
	if r := call(t, s, "POST", "/token/authenticate", certHeader(good.Cert, false), certBody(reused, sign(t, good.Key, reused), "v2")); r.Status != 201 {
		t.Fatalf("first sign-in: %d %s", r.Status, r.Raw)
	}

	type req struct {
		header map[string]string
		body   any
	}
	signed := func(l *testpki.Leaf, nonce []byte, format string, der bool) req {
		return req{certHeader(l.Cert, der), certBody(nonce, sign(t, l.Key, nonce), format)}
	}
	flipped := func() req {
		n := nonceV2(epoch)
		sig := sign(t, good.Key, n)
		sig[len(sig)/2] ^= 0x01
		return req{certHeader(good.Cert, false), certBody(n, sig, "v2")}
	}
	otherData := func() req {
		n := nonceV2(epoch)
		return req{certHeader(good.Cert, false), certBody(n, sign(t, good.Key, nonceV2(epoch)), "v2")}
	}
	wrongKey := func() req {
		n := nonceV2(epoch)
		return req{certHeader(good.Cert, false), certBody(n, sign(t, p.ca.Key, n), "v2")}
	}
	header := func(v string) map[string]string { return map[string]string{"Authorization": v} }
	notCert := base64.StdEncoding.EncodeToString([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))

	tests := []struct {
		name       string
		req        req
		wantStatus int
		wantCode   string
		wantMsg    string // a substring of statusMessage
	}{
		{"v2 PEM header", signed(good, nonceV2(epoch), "v2", false), 201, "SUCCESS", "Login successful"},
		{"v2 DER header", signed(good, nonceV2(epoch), "v2", true), 201, "SUCCESS", "Login successful"},
		{"v2 upper case format", signed(good, nonceV2(epoch), "V2", false), 201, "SUCCESS", ""},
		{"v2 4 minutes old", signed(good, nonceV2(epoch.Add(-4*time.Minute)), "v2", false), 201, "SUCCESS", ""},
		{"v1 100 bytes", signed(good, randomNonce(100), "", false), 201, "SUCCESS", ""},
		{"v1 150 bytes explicit", signed(good, randomNonce(150), "v1", true), 201, "SUCCESS", ""},
		{"stale v2 timestamp", signed(good, nonceV2(epoch.Add(-6*time.Minute)), "v2", false), 401, StatusBadCredential, "5 minutes"},
		{"future v2 timestamp", signed(good, nonceV2(epoch.Add(6*time.Minute)), "v2", false), 401, StatusBadCredential, "5 minutes"},
		{"v2 wrong length", signed(good, randomNonce(120), "v2", false), 401, StatusBadCredential, "100 bytes"},
		{"v1 too short", signed(good, randomNonce(99), "", false), 401, StatusBadCredential, "100 to 150"},
		{"v1 too long", signed(good, randomNonce(151), "", false), 401, StatusBadCredential, "100 to 150"},
		{"unknown format", signed(good, nonceV2(epoch), "v3", false), 401, StatusBadCredential, "encodedDataFormat"},
		{"flipped signature bit", flipped(), 401, StatusBadCredential, "signature"},
		{"signature over other data", otherData(), 401, StatusBadCredential, "signature"},
		{"signature by another key", wrongKey(), 401, StatusBadCredential, "signature"},
		{"reused nonce", signed(good, reused, "v2", false), 401, StatusBadCredential, "already used"},
		{"unregistered certificate", signed(p.unregistered, nonceV2(epoch), "v2", false), 401, StatusBadCredential, "not registered"},
		{"expired certificate", signed(p.expired, nonceV2(epoch), "v2", false), 401, StatusBadCredential, "expired"},
		{"certificate not yet valid", signed(p.notYet, nonceV2(epoch), "v2", false), 401, StatusBadCredential, "not yet valid"},
		{"ECDSA certificate", signed(p.ecdsa, nonceV2(epoch), "v2", false), 401, StatusBadCredential, "not RSA"},
		{"header not base64", req{header("CACertificate %%%"), certBody(nonceV2(epoch), []byte{1}, "v2")}, 401, StatusBadHeader, "base64"},
		{"header not a certificate", req{header("CACertificate " + base64.StdEncoding.EncodeToString([]byte("hello"))), nil}, 401, StatusBadHeader, "X.509"},
		{"header PEM of a key", req{header("CACertificate " + notCert), nil}, 401, StatusBadHeader, "CERTIFICATE"},
		{"body not JSON", req{certHeader(good.Cert, false), "nonce=1"}, 400, StatusBadRequest, "JSON"},
		{"body fields not base64", req{certHeader(good.Cert, false), map[string]string{"encodedData": "*", "encodedSignedData": "*"}}, 400, StatusBadRequest, "base64"},
		{"body empty fields", req{certHeader(good.Cert, false), map[string]string{}}, 400, StatusBadRequest, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "POST", "/token/authenticate", tt.req.header, tt.req.body)
			got := []any{r.Status, str(r.Body, "status")}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantCode}, got); diff != "" {
				t.Fatalf("(-want +got)\n%s\nbody: %s", diff, r.Raw)
			}
			if msg := str(r.Body, "statusMessage"); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("statusMessage %q does not say %q", msg, tt.wantMsg)
			}
			if r.Status == 201 && str(r.Body, "tokenInfo", "tokenValue") == "" {
				t.Errorf("no token: %s", r.Raw)
			}
		})
	}
}

func TestCertificateValidityFollowsClock(t *testing.T) {
	s := New(t, WithClock(epoch))
	cert, key, err := s.IssueCertificate("robot@example.com")
	if err != nil {
		t.Fatal(err)
	}
	try := func() reply {
		n := nonceV2(s.Now())
		return call(t, s, "POST", "/token/authenticate", certHeader(cert, false), certBody(n, sign(t, key, n), "v2"))
	}
	if r := try(); r.Status != 201 {
		t.Fatalf("fresh certificate: %d %s", r.Status, r.Raw)
	}
	s.Advance(2 * 365 * 24 * time.Hour)
	if r := try(); r.Status != 401 || !strings.Contains(str(r.Body, "statusMessage"), "expired") {
		t.Fatalf("after two years: %d %s", r.Status, r.Raw)
	}
	s.SetNow(epoch.Add(-2 * time.Hour))
	if r := try(); r.Status != 401 || !strings.Contains(str(r.Body, "statusMessage"), "not yet valid") {
		t.Fatalf("before issue: %d %s", r.Status, r.Raw)
	}
	// The token belongs to the certificate's user.
	s.SetNow(epoch)
	tok := str(try().Body, "tokenInfo", "tokenValue")
	r := call(t, s, "GET", "/2/0/users/me", authToken(tok), nil)
	id, _ := s.UserID("robot@example.com")
	if got := str(r.Body, "user", "id"); got != id || id == "" {
		t.Errorf("users/me id = %q, want %q", got, id)
	}
}

func TestRefuseV1(t *testing.T) {
	s := New(t, WithoutV1Signatures())
	cert, key, err := s.IssueCertificate("robot@example.com")
	if err != nil {
		t.Fatal(err)
	}
	n := randomNonce(120)
	r := call(t, s, "POST", "/token/authenticate", certHeader(cert, true), certBody(n, sign(t, key, n), ""))
	if r.Status != 401 || !strings.Contains(str(r.Body, "statusMessage"), "v2") {
		t.Fatalf("v1 with WithoutV1Signatures: %d %s", r.Status, r.Raw)
	}
	n = nonceV2(s.Now())
	if r := call(t, s, "POST", "/token/authenticate", certHeader(cert, true), certBody(n, sign(t, key, n), "v2")); r.Status != 201 {
		t.Fatalf("v2: %d %s", r.Status, r.Raw)
	}
}

func TestAddCertificateNil(t *testing.T) {
	s := New(t)
	s.AddCertificate(nil, "x") // ignored, no panic
	if _, ok := s.UserID("x"); ok {
		t.Error("AddCertificate(nil) created a user")
	}
}

func TestRefresh(t *testing.T) {
	for _, keep := range []bool{false, true} {
		name := map[bool]string{false: "new value", true: "keeps value"}[keep]
		t.Run(name, func(t *testing.T) {
			var opts []Option
			if keep {
				opts = append(opts, WithRefreshKeepsToken())
			}
			s := New(t, append(opts, WithClock(epoch))...)
			s.AddUser("u", "p")
			old := login(t, s, "u", "p")
			s.Advance(20 * time.Minute)
			r := call(t, s, "POST", "/token/refresh", authToken(old), nil)
			if r.Status != 201 || str(r.Body, "statusMessage") != "Token refreshed" {
				t.Fatalf("refresh: %d %s", r.Status, r.Raw)
			}
			if got, want := num(r.Body, "tokenInfo", "expiresAt"), epoch.Add(55*time.Minute).UnixMilli(); got != want {
				t.Errorf("expiresAt = %d, want %d", got, want)
			}
			fresh := str(r.Body, "tokenInfo", "tokenValue")
			if (fresh == old) != keep {
				t.Errorf("refresh returned the same value = %v, want %v", fresh == old, keep)
			}
			// The returned value lives past the old expiry.
			s.Advance(30 * time.Minute)
			if r := call(t, s, "GET", "/token/validate", authToken(fresh), nil); r.Status != 200 {
				t.Errorf("validate refreshed token: %d %s", r.Status, r.Raw)
			}
			if !keep {
				if r := call(t, s, "GET", "/token/validate", authToken(old), nil); r.Status != 401 {
					t.Errorf("validate replaced token: %d, want 401", r.Status)
				}
				if r := call(t, s, "POST", "/token/refresh", authToken(old), nil); r.Status != 401 {
					t.Errorf("refresh replaced token: %d, want 401", r.Status)
				}
			}
		})
	}
}

func TestTokenEndpointsRejectBadTokens(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("u", "p")
	expired := login(t, s, "u", "p")
	s.Advance(35 * time.Minute) // exactly at expiry: dead
	revoked := login(t, s, "u", "p")
	s.RevokeToken(revoked)
	loggedOut := login(t, s, "u", "p")
	if r := call(t, s, "POST", "/token/logout", authToken(loggedOut), nil); r.Status != 204 || r.Raw != "" {
		t.Fatalf("logout: %d %q", r.Status, r.Raw)
	}
	live := login(t, s, "u", "p")

	tests := []struct {
		name     string
		header   map[string]string
		wantCode string
		wantMsg  string
	}{
		{"missing", nil, StatusBadHeader, "AnaplanAuthToken"},
		{"bearer", map[string]string{"Authorization": "Bearer " + live}, StatusBadHeader, "AnaplanAuthToken"},
		{"basic", basic("u", "p"), StatusBadHeader, "AnaplanAuthToken"},
		{"unknown", authToken("nope"), StatusBadCredential, "not valid"},
		{"expired", authToken(expired), StatusBadCredential, "expired"},
		{"revoked", authToken(revoked), StatusBadCredential, "revoked"},
		{"logged out", authToken(loggedOut), StatusBadCredential, "logged out"},
	}
	routes := []string{"POST /token/refresh", "GET /token/validate", "POST /token/logout"}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		for _, tt := range tests {
			t.Run(route+"/"+tt.name, func(t *testing.T) {
				r := call(t, s, method, path, tt.header, nil)
				if r.Status != 401 || str(r.Body, "status") != tt.wantCode {
					t.Fatalf("got %d %s, want 401 %s", r.Status, r.Raw, tt.wantCode)
				}
				if msg := str(r.Body, "statusMessage"); !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("statusMessage %q does not say %q", msg, tt.wantMsg)
				}
			})
		}
	}
	// The live token was never harmed by the failures above.
	if r := call(t, s, "GET", "/token/validate", authToken(live), nil); r.Status != 200 {
		t.Fatalf("live token: %d %s", r.Status, r.Raw)
	}
}

func TestValidate(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("ada@example.com", "p")
	r := call(t, s, "POST", "/token/authenticate", basic("ada@example.com", "p"), nil)
	tok := str(r.Body, "tokenInfo", "tokenValue")
	id, _ := s.UserID("ada@example.com")
	v := call(t, s, "GET", "/token/validate", authToken(tok), nil)
	if v.Status != http.StatusOK {
		t.Fatalf("validate: %d %s", v.Status, v.Raw)
	}
	want := map[string]any{
		"meta":          map[string]any{"validationUrl": s.URL() + "/token/validate"},
		"status":        "SUCCESS",
		"statusMessage": "Token validated",
		"tokenInfo": map[string]any{
			"expiresAt":      float64(epoch.Add(35 * time.Minute).UnixMilli()),
			"tokenId":        str(r.Body, "tokenInfo", "tokenId"),
			"refreshTokenId": str(r.Body, "tokenInfo", "refreshTokenId"),
		},
		"userInfo": map[string]any{"userGuid": id, "userId": "ada@example.com", "customerGuid": str(v.Body, "userInfo", "customerGuid")},
	}
	if diff := cmp.Diff(want, v.Body); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if len(str(v.Body, "userInfo", "customerGuid")) != 32 || len(id) != 32 {
		t.Errorf("GUIDs should be 32 hex digits: %s", v.Raw)
	}
	s.Advance(35*time.Minute - time.Millisecond)
	if v := call(t, s, "GET", "/token/validate", authToken(tok), nil); v.Status != 200 {
		t.Errorf("1 ms before expiry: %d", v.Status)
	}
	s.Advance(time.Millisecond)
	if v := call(t, s, "GET", "/token/validate", authToken(tok), nil); v.Status != 401 {
		t.Errorf("at expiry: %d", v.Status)
	}
}

func TestSetTokenTTL(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("u", "p")
	s.SetTokenTTL(90 * time.Second)
	r := call(t, s, "POST", "/token/authenticate", basic("u", "p"), nil)
	if got, want := num(r.Body, "tokenInfo", "expiresAt"), epoch.Add(90*time.Second).UnixMilli(); got != want {
		t.Errorf("expiresAt = %d, want %d", got, want)
	}
}

func TestWrongMethod(t *testing.T) {
	s := New(t)
	if r := call(t, s, "GET", "/token/authenticate", nil, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /token/authenticate: %d", r.Status)
	}
	if r := call(t, s, "GET", "/nowhere", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /nowhere: %d", r.Status)
	}
	if got := s.Calls("GET /nowhere"); got != 1 {
		t.Errorf("Calls(GET /nowhere) = %d, want 1", got)
	}
}

func FuzzParseCertificateHeader(f *testing.F) {
	if !fuzzWorker() { // seeds: built where they are read (see fuzzWorker)
		ca := sharedCA(f)
		f.Add(base64.StdEncoding.EncodeToString(ca.CertPEM))
		f.Add(base64.StdEncoding.EncodeToString(ca.Cert.Raw))
	}
	f.Add(base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")))
	f.Add("")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, param string) {
		cert, err := parseCertificateHeader(param)
		if (cert == nil) == (err == nil) {
			t.Fatalf("cert %v, err %v", cert != nil, err)
		}
		if err != nil && strings.Contains(err.Error(), param) && len(param) > 8 {
			t.Fatalf("error echoes the header: %v", err)
		}
	})
}

func FuzzAuthParam(f *testing.F) {
	for _, s := range []string{"", "Basic", "Basic abc", "  AnaplanAuthToken   x  ", "Bearer\tx", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		scheme, param, ok := authParam(h)
		if ok && (scheme == "" || param == "" || strings.ContainsAny(scheme, " ")) {
			t.Fatalf("authParam(%q) = %q, %q, true", h, scheme, param)
		}
	})
}
