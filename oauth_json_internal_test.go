package anaplan

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// recordRT records what would go on the wire and answers every request
// itself: nothing leaves the process.
type recordRT struct {
	reqs   []*http.Request
	bodies []string
}

func (r *recordRT) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body.Close()
	r.reqs = append(r.reqs, req)
	r.bodies = append(r.bodies, string(b))
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func TestOAuthJSONTransport(t *testing.T) {
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"cid"}, "client_secret": {"sec-ret"}, "refresh_token": {"rt value/+="}, "scope": {"openid offline_access"}}
	want := map[string]any{"grant_type": "refresh_token", "client_id": "cid", "client_secret": "sec-ret", "refresh_token": "rt value/+=", "scope": "openid offline_access"}
	anaplanEP := oauth2.Endpoint{TokenURL: "https://us1a.app.anaplan.com/oauth/token", DeviceAuthURL: "https://us1a.app.anaplan.com/oauth/device/code"}
	otherEP := oauth2.Endpoint{TokenURL: "https://idp.example.com/oauth/v2/token", DeviceAuthURL: "https://idp.example.com/oauth/v2/device_authorization"}
	for _, tc := range []struct {
		name     string
		enc      OAuthBodyEncoding
		ep       oauth2.Endpoint
		url      string
		ctype    string
		wantJSON bool
	}{
		{"auto anaplan token", OAuthBodyAuto, anaplanEP, anaplanEP.TokenURL, "application/x-www-form-urlencoded", true},
		{"auto anaplan device", OAuthBodyAuto, anaplanEP, anaplanEP.DeviceAuthURL, "application/x-www-form-urlencoded", true},
		{"auto anaplan.com upper case", OAuthBodyAuto, oauth2.Endpoint{TokenURL: "https://APP.Anaplan.COM/oauth/token"}, "https://APP.Anaplan.COM/oauth/token", "application/x-www-form-urlencoded", true},
		{"auto other server", OAuthBodyAuto, otherEP, otherEP.TokenURL, "application/x-www-form-urlencoded", false},
		{"auto lookalike host", OAuthBodyAuto, oauth2.Endpoint{TokenURL: "https://evilanaplan.com/oauth/token"}, "https://evilanaplan.com/oauth/token", "application/x-www-form-urlencoded", false},
		{"json other server", OAuthBodyJSON, otherEP, otherEP.DeviceAuthURL, "application/x-www-form-urlencoded", true},
		{"json, not an OAuth endpoint", OAuthBodyJSON, otherEP, "https://idp.example.com/other", "application/x-www-form-urlencoded", false},
		{"json, already JSON", OAuthBodyJSON, otherEP, otherEP.TokenURL, "application/json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordRT{}
			hc := oauthBodyClient(&http.Client{Transport: rec}, tc.enc, tc.ep)
			body := form.Encode()
			if tc.ctype == "application/json" {
				body = `{"a":"b"}`
			}
			req, _ := http.NewRequest("POST", tc.url, strings.NewReader(body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := rec.reqs[0]
			if !tc.wantJSON {
				if rec.bodies[0] != body || got.Header.Get("Content-Type") != tc.ctype {
					t.Fatalf("body changed: %s %q", got.Header.Get("Content-Type"), rec.bodies[0])
				}
				return
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(rec.bodies[0]), &m); err != nil {
				t.Fatalf("not JSON: %q", rec.bodies[0])
			}
			if d := cmp.Diff(want, m); d != "" {
				t.Fatalf("fields differ (-want +got):\n%s", d)
			}
			if got.ContentLength != int64(len(rec.bodies[0])) || got.GetBody == nil {
				t.Fatalf("ContentLength %d for %d bytes, GetBody %v", got.ContentLength, len(rec.bodies[0]), got.GetBody != nil)
			}
			again, _ := got.GetBody()
			if b, _ := io.ReadAll(again); string(b) != rec.bodies[0] {
				t.Fatal("GetBody gives another body: a retry would send something else")
			}
			if req.Header.Get("Content-Type") != tc.ctype {
				t.Fatal("the caller's request was modified")
			}
		})
	}
	// Form: the client is left as it is.
	hc := &http.Client{Transport: &recordRT{}}
	if oauthBodyClient(hc, OAuthBodyForm, anaplanEP) != hc {
		t.Fatal("OAuthBodyForm wrapped the client")
	}
	// A broken form body: an error that does not quote the body.
	rec := &recordRT{}
	req, _ := http.NewRequest("POST", anaplanEP.TokenURL, strings.NewReader("client_secret=s3cr%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err := oauthBodyClient(&http.Client{Transport: rec}, OAuthBodyJSON, anaplanEP).Do(req)
	if err == nil || strings.Contains(err.Error(), "s3cr") || len(rec.reqs) != 0 {
		t.Fatalf("bad form: %v (%d sent)", err, len(rec.reqs))
	}
}

func TestOAuthBodyEncodingOption(t *testing.T) {
	for _, tc := range []struct {
		cs   string
		want OAuthBodyEncoding
	}{
		{"OAuthBodyFormat=json", OAuthBodyJSON}, {"OAuthBodyFormat=FORM", OAuthBodyForm}, {"OAuthBodyFormat=Auto", OAuthBodyAuto}, {"", OAuthBodyAuto},
	} {
		c, err := applyCS(tc.cs)
		if err != nil || c.oauthBody != tc.want {
			t.Errorf("%q: %v %v, want %v", tc.cs, c.oauthBody, err, tc.want)
		}
	}
	if _, err := applyCS("OAuthBodyFormat=XML"); err == nil || !strings.Contains(err.Error(), "OAuthBodyFormat must be AUTO, JSON or FORM") {
		t.Errorf("bad value: %v", err)
	}
	c := &config{}
	WithOAuthBodyEncoding(OAuthBodyEncoding(7))(c)
	if len(c.errs) == 0 {
		t.Error("an unknown encoding was accepted")
	}
}
