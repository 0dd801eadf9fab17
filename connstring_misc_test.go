package anaplan

import (
	"errors"
	"strings"
	"testing"
)

// applyCS applies a connection string to a fresh config and returns the
// scheme it chose and the errors it reported.
func applyCS(s string) (*config, error) {
	c := &config{}
	FromConnectionString(s)(c)
	return c, errors.Join(c.errs...)
}

// Issue 7 point 13: without AuthScheme, properties of more than one scheme
// were resolved by a fixed priority (OAuth over Certificate over Basic).
// Failed before the fix: no error.
func TestConnectionStringSchemeConflict(t *testing.T) {
	const pw, tok, rt = "pw-S3CRET-1", "at-S3CRET-2", "rt-S3CRET-3"
	for _, tc := range []struct {
		name string
		cs   string
		want []string // in the error, in this order
	}{
		{"basic and oauth token", "User=ada;Password=" + pw + ";OAuthAccessToken=" + tok,
			[]string{"AuthScheme", "Basic (User, Password)", "OAuth (OAuthAccessToken)", "set AuthScheme"}},
		{"certificate and user", "Certificate=/nonexistent/c.pem;User=ada",
			[]string{"AuthScheme", "Basic (User)", "Certificate (Certificate)"}},
		{"all three", "Password=" + pw + ";PrivateKey=/k.pem;OAuthClientId=cid;OAuthRefreshToken=" + rt,
			[]string{"Basic (Password)", "Certificate (PrivateKey)", "OAuth (OAuthClientId, OAuthRefreshToken)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := applyCS(tc.cs)
			if err == nil {
				t.Fatalf("no error; scheme %T chosen by priority", c.scheme)
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order %q)", msg, w, tc.want)
				}
				at += i + len(w)
			}
			for _, sec := range []string{pw, tok, rt, "/nonexistent", "/k.pem"} {
				if strings.Contains(msg, sec) {
					t.Errorf("error shows the value %q: %s", sec, msg)
				}
			}
			if c.scheme != nil {
				t.Errorf("scheme %T chosen despite the conflict", c.scheme)
			}
		})
	}
	for _, tc := range []struct {
		name, cs, want string
	}{
		{"explicit scheme wins", "AuthScheme=Basic;User=ada;Password=" + pw + ";OAuthAccessToken=" + tok, "Basic"},
		{"one scheme inferred: basic", "User=ada;Password=" + pw, "Basic"},
		{"one scheme inferred: oauth", "OAuthClientId=cid;OAuthAccessToken=" + tok, "OAuth"},
		{"no scheme", "Region=EU1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := applyCS(tc.cs)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if c.scheme != nil {
				got = c.scheme.name()
			}
			if got != tc.want {
				t.Fatalf("scheme %q, want %q", got, tc.want)
			}
		})
	}
}
