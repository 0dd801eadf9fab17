package anaplan

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeAuthResponse(f *testing.F) {
	for _, s := range []string{
		`{"meta":{"validationUrl":"https://auth.anaplan.com/token/validate"},"status":"SUCCESS","statusMessage":"Login successful","tokenInfo":{"tokenId":"id","tokenValue":"tv","expiresAt":1571088565713,"refreshTokenId":"r"}}`,
		`{"status":"SUCCESS","tokenInfo":{"tokenValue":"tv"}}`,
		`{"status":"FAILURE_BAD_CREDENTIAL","statusMessage":"bad"}`,
		`{"tokenInfo":{"tokenValue":"tv","expiresAt":1.5e12}}`,
		`{"tokenInfo":{"tokenValue":"tv","expiresAt":"soon"}}`,
		`{"tokenInfo":null}`, `[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1e9, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decodeAuthResponse(b, now, time.Time{})
		if (tok == nil) == (err == nil) {
			t.Fatalf("token %v and error %v", tok, err)
		}
		if err != nil {
			return
		}
		if tok.Value == "" || tok.Type != TokenTypeAnaplan || tok.Expiry.IsZero() {
			t.Fatalf("bad token %#v", tok)
		}
		if strings.Contains(tok.String(), tok.Value) && tok.Value != Redacted {
			t.Fatalf("String shows the value")
		}
	})
}

func TestDecodeAuthResponse(t *testing.T) {
	now := time.Unix(1e9, 0)
	exp := now.Add(35 * time.Minute)
	body := []byte(fmt.Sprintf(`{"status":"SUCCESS","tokenInfo":{"tokenValue":"tv","expiresAt":%d,"unknown":1},"refreshToken":"x"}`, exp.UnixMilli()))
	tok, err := decodeAuthResponse(body, now, time.Time{})
	if err != nil || tok.Value != "tv" || !tok.Expiry.Equal(exp) {
		t.Fatalf("%v %v", tok, err)
	}
	// The server's clock is an hour behind ours: its Date says so, and the
	// 35 minutes left are placed on our clock.
	tok, err = decodeAuthResponse(body, now.Add(time.Hour), now)
	if err != nil || !tok.Expiry.Equal(now.Add(time.Hour+35*time.Minute-time.Second)) {
		t.Fatalf("skewed clocks: %v %v", tok, err)
	}
	// No Date, and an expiresAt already past on our clock: assume 35 minutes.
	tok, err = decodeAuthResponse(body, now.Add(time.Hour), time.Time{})
	if err != nil || !tok.Expiry.Equal(now.Add(time.Hour+35*time.Minute)) {
		t.Fatalf("no Date: %v %v", tok, err)
	}
	tok, err = decodeAuthResponse([]byte(`{"status":"SUCCESS","tokenInfo":{"tokenValue":"tv"}}`), now, time.Time{})
	if err != nil || !tok.Expiry.Equal(now.Add(35*time.Minute)) {
		t.Fatalf("no expiresAt: %v %v", tok, err)
	}
	for _, bad := range []string{`{"status":"FAILURE_BAD_HEADER","statusMessage":"m"}`, `{"status":"SUCCESS"}`, `nope`, `{"tokenInfo":{"tokenValue":"tv","expiresAt":-5}}`} {
		if _, err := decodeAuthResponse([]byte(bad), now, time.Time{}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParseVerifier(f *testing.F) {
	for _, s := range []string{
		"abc123", "https://app.example.com/cb?code=abc&state=xyz", "?code=abc", "code=abc&state=s",
		"https://app.example.com/cb?error=access_denied&error_description=no", "https://x/cb", "", "%zz=1", "/cb?code=a#frag",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, _, err := parseVerifier(s)
		if err != nil {
			if code != "" {
				t.Fatal("code with error")
			}
			if len(s) > 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		if code == "" {
			t.Fatal("empty code without error")
		}
	})
}

func TestParseVerifier(t *testing.T) {
	for _, tc := range []struct{ in, code, state string }{
		{"  abc123 \n", "abc123", ""},
		{"https://app.example.com/cb?code=c0de&state=st", "c0de", "st"},
		{"https://app.example.com/cb?state=st&code=c%2Fde#x", "c/de", "st"},
		{"code=abc", "abc", ""},
	} {
		code, state, err := parseVerifier(tc.in)
		if err != nil || code != tc.code || state != tc.state {
			t.Errorf("%q: %q %q %v", tc.in, code, state, err)
		}
	}
	for _, bad := range []string{"", "https://app.example.com/cb?state=st", "https://app.example.com/cb?error=access_denied"} {
		if _, _, err := parseVerifier(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
