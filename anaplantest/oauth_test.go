package anaplantest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

const (
	webID     = "web-client"
	webSecret = "web-secret-value"
	callback  = "https://app.example.com/callback?tenant=1"
	deviceID  = "device-client"
)

func oauthServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := New(t, append([]Option{WithClock(epoch), WithDeviceInterval(time.Second)}, opts...)...)
	s.AddOAuthClient(OAuthClient{ID: webID, Secret: webSecret, RedirectURIs: []string{"https://other.example.com/cb", callback}})
	s.AddOAuthClient(OAuthClient{ID: deviceID})
	return s
}

// authorize calls GET /auth/authorize without following the redirect.
func authorize(t *testing.T, s *Server, q url.Values) (*http.Response, url.Values) {
	t.Helper()
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(s.URL() + "/auth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp, loc.Query()
}

func codeRequest(extra ...string) url.Values {
	q := url.Values{"response_type": {"code"}, "client_id": {webID}, "redirect_uri": {callback}, "scope": {"openid offline_access"}, "state": {"st-1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

// getCode runs authorize and returns the code.
func getCode(t *testing.T, s *Server, extra ...string) string {
	t.Helper()
	resp, q := authorize(t, s, codeRequest(extra...))
	if q.Get("code") == "" {
		t.Fatalf("authorize: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	return q.Get("code")
}

type tokenStyle int

const (
	formBody tokenStyle = iota
	jsonBody
	basicClient
)

// token posts to /oauth/token; the client credentials go as style says.
func token(t *testing.T, s *Server, style tokenStyle, clientID, secret string, p map[string]string) reply {
	t.Helper()
	params := map[string]string{}
	for k, v := range p {
		params[k] = v
	}
	h := map[string]string{}
	if style == basicClient {
		h["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID)+":"+url.QueryEscape(secret)))
	} else {
		if clientID != "" {
			params["client_id"] = clientID
		}
		if secret != "" {
			params["client_secret"] = secret
		}
	}
	return postParams(t, s, "/oauth/token", style, h, params)
}

// postParams posts OAuth parameters to path as a JSON object (jsonBody) or
// a form (the other styles), with the headers h.
func postParams(t *testing.T, s *Server, path string, style tokenStyle, h, params map[string]string) reply {
	t.Helper()
	if style == jsonBody {
		h["Content-Type"] = "application/json"
		return call(t, s, "POST", path, h, params)
	}
	h["Content-Type"] = "application/x-www-form-urlencoded"
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	return call(t, s, "POST", path, h, form.Encode())
}

func challengeOf(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func wantOAuthError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || str(r.Body, "error") != code || str(r.Body, "error_description") == "" {
		t.Fatalf("got %d %s, want %d %s with a description", r.Status, r.Raw, status, code)
	}
}

func usersMe(t *testing.T, s *Server, tok string) reply {
	t.Helper()
	return call(t, s, "GET", "/2/0/users/me", map[string]string{"Authorization": "Bearer " + tok}, nil)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	verifier := strings.Repeat("v", 50)
	tests := []struct {
		name  string
		style tokenStyle
		pkce  bool
	}{
		{"form", formBody, false},
		{"json", jsonBody, false},
		{"basic client auth", basicClient, false},
		{"form with PKCE", formBody, true},
		{"json with PKCE", jsonBody, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := oauthServer(t)
			s.SetOAuthUser("grace.hopper@example.com")
			var extra []string
			if tt.pkce {
				extra = []string{"code_challenge", challengeOf(verifier), "code_challenge_method", "S256"}
			}
			resp, q := authorize(t, s, codeRequest(extra...))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://app.example.com/callback" {
				t.Errorf("redirected to %q", got)
			}
			if q.Get("state") != "st-1" || q.Get("tenant") != "1" || q.Get("code") == "" {
				t.Fatalf("redirect query %v", q)
			}
			p := map[string]string{"grant_type": "authorization_code", "code": q.Get("code"), "redirect_uri": callback}
			if tt.pkce {
				p["code_verifier"] = verifier
			}
			r := token(t, s, tt.style, webID, webSecret, p)
			if r.Status != 200 {
				t.Fatalf("exchange: %d %s", r.Status, r.Raw)
			}
			got := map[string]any{}
			for k, v := range r.Body {
				if s, ok := v.(string); ok && (k == "access_token" || k == "refresh_token" || k == "id_token") {
					got[k] = s != ""
				} else {
					got[k] = v
				}
			}
			want := map[string]any{"access_token": true, "refresh_token": true, "id_token": true,
				"scope": "openid offline_access", "expires_in": float64(2100), "token_type": "Bearer"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("token answer (-want +got)\n%s", diff)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
			access := str(r.Body, "access_token")
			me := usersMe(t, s, access)
			if me.Status != 200 || str(me.Body, "user", "email") != "grace.hopper@example.com" {
				t.Fatalf("users/me with the access token: %d %s", me.Status, me.Raw)
			}
			if r := call(t, s, "GET", "/2/0/users/me", authToken(access), nil); r.Status != 200 {
				t.Errorf("users/me with AnaplanAuthToken: %d", r.Status)
			}
			// Replaying the code fails and revokes what it gave.
			wantOAuthError(t, token(t, s, tt.style, webID, webSecret, p), 400, "invalid_grant")
			if r := usersMe(t, s, access); r.Status != 401 {
				t.Errorf("access token after code replay: %d, want 401", r.Status)
			}
			wantOAuthError(t, token(t, s, tt.style, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": str(r.Body, "refresh_token")}), 400, "invalid_grant")
			if n := s.GrantRevocations(); n != 1 {
				t.Errorf("GrantRevocations = %d, want 1", n)
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	s := oauthServer(t)
	tests := []struct {
		name      string
		q         url.Values
		wantPage  bool   // a 400 page, no redirect
		wantError string // error= in the redirect
	}{
		{"unknown client", codeRequest("client_id", "nobody"), true, ""},
		{"unregistered redirect", codeRequest("redirect_uri", "https://evil.example.com/cb"), true, ""},
		{"redirect differs by query", codeRequest("redirect_uri", "https://app.example.com/callback"), true, ""},
		{"missing redirect", codeRequest("redirect_uri", ""), true, ""},
		{"device client has no redirect", codeRequest("client_id", deviceID), true, ""},
		{"response_type token", codeRequest("response_type", "token"), false, "unsupported_response_type"},
		{"plain PKCE", codeRequest("code_challenge", challengeOf("x"), "code_challenge_method", "plain"), false, "invalid_request"},
		{"PKCE method only", codeRequest("code_challenge_method", "S256"), false, "invalid_request"},
		{"short challenge", codeRequest("code_challenge", "abc", "code_challenge_method", "S256"), false, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, q := authorize(t, s, tt.q)
			if tt.wantPage {
				if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("got %d Location=%q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			if q.Get("error") != tt.wantError || q.Get("state") != "st-1" || q.Get("code") != "" || q.Get("error_description") == "" {
				t.Fatalf("redirect query %v, want error=%s", q, tt.wantError)
			}
		})
	}
	t.Run("denied once", func(t *testing.T) {
		s.DenyNextAuthorization()
		_, q := authorize(t, s, codeRequest())
		if q.Get("error") != "access_denied" || q.Get("state") != "st-1" {
			t.Fatalf("after DenyNextAuthorization: %v", q)
		}
		if _, q := authorize(t, s, codeRequest()); q.Get("code") == "" {
			t.Fatalf("the denial should last one request: %v", q)
		}
	})
}

func TestCodeExchangeErrors(t *testing.T) {
	s := oauthServer(t)
	s.AddOAuthClient(OAuthClient{ID: "other", Secret: "other-secret", RedirectURIs: []string{callback}})
	verifier := strings.Repeat("w", 43)
	pkceCode := getCode(t, s, "code_challenge", challengeOf(verifier), "code_challenge_method", "S256")
	plainCode := getCode(t, s)
	expiring := getCode(t, s)

	exchange := func(p map[string]string) map[string]string {
		out := map[string]string{"grant_type": "authorization_code", "redirect_uri": callback}
		for k, v := range p {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		client string
		secret string
		p      map[string]string
		want   string
	}{
		{"missing code", webID, webSecret, exchange(nil), "invalid_request"},
		{"unknown code", webID, webSecret, exchange(map[string]string{"code": "nope"}), "invalid_grant"},
		{"another client's code", "other", "other-secret", exchange(map[string]string{"code": plainCode}), "invalid_grant"},
		{"wrong redirect_uri", webID, webSecret, exchange(map[string]string{"code": plainCode, "redirect_uri": "https://other.example.com/cb"}), "invalid_grant"},
		{"missing redirect_uri", webID, webSecret, map[string]string{"grant_type": "authorization_code", "code": plainCode}, "invalid_grant"},
		{"PKCE verifier missing", webID, webSecret, exchange(map[string]string{"code": pkceCode}), "invalid_grant"},
		{"PKCE mismatch", webID, webSecret, exchange(map[string]string{"code": pkceCode, "code_verifier": strings.Repeat("x", 43)}), "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := token(t, s, formBody, tt.client, tt.secret, tt.p)
			wantOAuthError(t, r, 400, tt.want)
			if strings.Contains(r.Raw, webSecret) || strings.Contains(r.Raw, verifier) {
				t.Errorf("error echoes a secret: %s", r.Raw)
			}
		})
	}
	// The failures above did not spend the codes.
	if r := token(t, s, formBody, webID, webSecret, exchange(map[string]string{"code": pkceCode, "code_verifier": verifier})); r.Status != 200 {
		t.Errorf("PKCE code with the right verifier: %d %s", r.Status, r.Raw)
	}
	if r := token(t, s, formBody, webID, webSecret, exchange(map[string]string{"code": plainCode})); r.Status != 200 {
		t.Errorf("plain code: %d %s", r.Status, r.Raw)
	}
	s.Advance(AuthorizationCodeTTL)
	wantOAuthError(t, token(t, s, formBody, webID, webSecret, exchange(map[string]string{"code": expiring})), 400, "invalid_grant")
}

func TestTokenEndpointErrors(t *testing.T) {
	s := oauthServer(t)
	grant := map[string]string{"grant_type": "refresh_token", "refresh_token": "x"}
	post := func(h map[string]string, body string) reply {
		if h == nil {
			h = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		}
		return call(t, s, "POST", "/oauth/token", h, body)
	}
	jsonH := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name       string
		r          func() reply
		wantStatus int
		wantCode   string
	}{
		{"unknown client", func() reply { return token(t, s, formBody, "nobody", "x", grant) }, 401, "invalid_client"},
		{"wrong secret", func() reply { return token(t, s, formBody, webID, "wrong", grant) }, 401, "invalid_client"},
		{"missing secret", func() reply { return token(t, s, formBody, webID, "", grant) }, 401, "invalid_client"},
		{"wrong secret basic", func() reply { return token(t, s, basicClient, webID, "wrong", grant) }, 401, "invalid_client"},
		{"garbled basic", func() reply {
			return post(map[string]string{"Authorization": "Basic ***", "Content-Type": "application/x-www-form-urlencoded"}, "grant_type=refresh_token")
		}, 401, "invalid_client"},
		{"basic and body disagree", func() reply {
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded",
				"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(webID+":"+webSecret))}
			return post(h, "grant_type=refresh_token&refresh_token=x&client_id=other")
		}, 400, "invalid_request"},
		{"missing client_id", func() reply { return token(t, s, formBody, "", "", grant) }, 400, "invalid_request"},
		{"missing grant_type", func() reply { return token(t, s, formBody, deviceID, "", nil) }, 400, "invalid_request"},
		{"client_credentials", func() reply {
			return token(t, s, jsonBody, webID, webSecret, map[string]string{"grant_type": "client_credentials"})
		}, 400, "unsupported_grant_type"},
		{"password grant", func() reply {
			return token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "password"})
		}, 400, "unsupported_grant_type"},
		{"missing refresh_token", func() reply {
			return token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token"})
		}, 400, "invalid_request"},
		{"missing device_code", func() reply {
			return token(t, s, formBody, deviceID, "", map[string]string{"grant_type": deviceGrantType})
		}, 400, "invalid_request"},
		{"text body", func() reply { return post(map[string]string{"Content-Type": "text/plain"}, "grant_type=x") }, 400, "invalid_request"},
		{"no content type", func() reply { return post(map[string]string{}, "") }, 400, "invalid_request"},
		{"repeated parameter", func() reply { return post(nil, "client_id=a&client_id=b") }, 400, "invalid_request"},
		{"bad form", func() reply { return post(nil, "a=%zz") }, 400, "invalid_request"},
		{"JSON not an object", func() reply { return post(jsonH, `["grant_type"]`) }, 400, "invalid_request"},
		{"JSON non-string", func() reply { return post(jsonH, `{"client_id":{"a":1}}`) }, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r()
			wantOAuthError(t, r, tt.wantStatus, tt.wantCode)
			if strings.Contains(r.Raw, webSecret) {
				t.Errorf("error echoes the secret: %s", r.Raw)
			}
		})
	}
	if r := token(t, s, basicClient, webID, "wrong", grant); r.Header.Get("WWW-Authenticate") == "" {
		t.Error("invalid_client after Basic has no WWW-Authenticate")
	}
	// JSON numbers are taken as strings; a public client needs no secret.
	r := post(jsonH, `{"client_id":"`+deviceID+`","grant_type":"refresh_token","refresh_token":12}`)
	wantOAuthError(t, r, 400, "invalid_grant")
}

func TestRefreshRotation(t *testing.T) {
	s := oauthServer(t)
	s.AddOAuthClient(OAuthClient{ID: "rot", Secret: "rot-secret", Rotating: true, RefreshTTL: time.Hour})
	access0, refresh0, exp := s.IssueOAuthTokens("rot", "ada@example.com")
	if !exp.Equal(epoch.Add(DefaultAccessTokenTTL)) {
		t.Errorf("expiry %v", exp)
	}
	refresh := func(style tokenStyle, rt string) reply {
		return token(t, s, style, "rot", "rot-secret", map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
	}
	r1 := refresh(formBody, refresh0)
	refresh1 := str(r1.Body, "refresh_token")
	if r1.Status != 200 || refresh1 == "" || refresh1 == refresh0 {
		t.Fatalf("first refresh: %d %s", r1.Status, r1.Raw)
	}
	r2 := refresh(jsonBody, refresh1)
	refresh2, access2 := str(r2.Body, "refresh_token"), str(r2.Body, "access_token")
	if r2.Status != 200 || refresh2 == refresh1 {
		t.Fatalf("second refresh: %d %s", r2.Status, r2.Raw)
	}
	for _, a := range []string{access0, str(r1.Body, "access_token"), access2} {
		if r := usersMe(t, s, a); r.Status != 200 {
			t.Fatalf("access token before reuse: %d", r.Status)
		}
	}
	// A second process replays refresh1: the whole grant dies.
	wantOAuthError(t, refresh(basicClient, refresh1), 400, "invalid_grant")
	if n := s.GrantRevocations(); n != 1 {
		t.Errorf("GrantRevocations = %d, want 1", n)
	}
	for _, a := range []string{access0, access2} {
		if r := usersMe(t, s, a); r.Status != 401 || !strings.Contains(str(r.Body, "status", "message"), "revoked") {
			t.Errorf("access token after reuse: %d %s", r.Status, r.Raw)
		}
	}
	wantOAuthError(t, refresh(formBody, refresh2), 400, "invalid_grant")
	if n := s.GrantRevocations(); n != 1 {
		t.Errorf("GrantRevocations = %d after using a revoked token, want still 1", n)
	}
	want := map[string]int{refresh0: 1, refresh1: 2, refresh2: 1}
	if diff := cmp.Diff(want, s.RefreshTokenUses()); diff != "" {
		t.Errorf("RefreshTokenUses (-want +got)\n%s", diff)
	}

	// A fresh grant: its refresh tokens expire after RefreshTTL, each one from its own issue.
	_, rt, _ := s.IssueOAuthTokens("rot", "ada@example.com")
	s.Advance(59 * time.Minute)
	r := refresh(formBody, rt)
	if r.Status != 200 {
		t.Fatalf("refresh before RefreshTTL: %d %s", r.Status, r.Raw)
	}
	s.Advance(59 * time.Minute)
	if r := refresh(formBody, str(r.Body, "refresh_token")); r.Status != 200 {
		t.Fatalf("rotated token has its own lifetime: %d %s", r.Status, r.Raw)
	}
	_, rt, _ = s.IssueOAuthTokens("rot", "ada@example.com")
	s.Advance(time.Hour)
	wantOAuthError(t, refresh(formBody, rt), 400, "invalid_grant")
}

func TestRefreshNonRotating(t *testing.T) {
	s := oauthServer(t)
	s.AddOAuthClient(OAuthClient{ID: "fixed", Secret: "fixed-secret", RefreshTTL: 24 * time.Hour})
	_, rt, _ := s.IssueOAuthTokens(webID, "ada@example.com") // webID: RefreshTTL 0
	_, rtFixed, _ := s.IssueOAuthTokens("fixed", "ada@example.com")
	s.SetAccessTokenTTL(time.Minute)
	var lastAccess string
	for i := range 3 {
		r := token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
		if r.Status != 200 || str(r.Body, "refresh_token") != rt || num(r.Body, "expires_in") != 60 {
			t.Fatalf("refresh %d: %d %s", i, r.Status, r.Raw)
		}
		lastAccess = str(r.Body, "access_token")
	}
	if n := s.RefreshTokenUses()[rt]; n != 3 {
		t.Errorf("uses = %d", n)
	}
	s.Advance(time.Minute)
	if r := usersMe(t, s, lastAccess); r.Status != 401 || !strings.Contains(str(r.Body, "status", "message"), "expired") {
		t.Errorf("access token after its TTL: %d %s", r.Status, r.Raw)
	}
	s.Advance(10 * 365 * 24 * time.Hour)
	if r := token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}); r.Status != 200 {
		t.Errorf("RefreshTTL 0 should never expire: %d %s", r.Status, r.Raw)
	}
	wantOAuthError(t, token(t, s, formBody, "fixed", "fixed-secret", map[string]string{"grant_type": "refresh_token", "refresh_token": rtFixed}), 400, "invalid_grant")
	if s.GrantRevocations() != 0 {
		t.Error("a non-rotating client revoked a grant")
	}
}

func TestRefreshTokenChecks(t *testing.T) {
	s := oauthServer(t)
	s.AddOAuthClient(OAuthClient{ID: "other", Secret: "other-secret"})
	access, rt, _ := s.IssueOAuthTokens(webID, "ada@example.com")
	wantOAuthError(t, token(t, s, formBody, "other", "other-secret", map[string]string{"grant_type": "refresh_token", "refresh_token": rt}), 400, "invalid_grant")
	wantOAuthError(t, token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": "unknown"}), 400, "invalid_grant")
	s.RevokeToken(access)
	if r := usersMe(t, s, access); r.Status != 401 {
		t.Errorf("revoked access token: %d", r.Status)
	}
	if r := token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}); r.Status != 200 {
		t.Fatalf("revoking the access token spared the refresh token: %d %s", r.Status, r.Raw)
	}
	s.RevokeToken(rt)
	wantOAuthError(t, token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": rt}), 400, "invalid_grant")
}

func deviceCode(t *testing.T, s *Server, style tokenStyle, clientID, secret string) reply {
	t.Helper()
	h := map[string]string{}
	p := map[string]string{"scope": DefaultScope}
	if style == basicClient {
		h["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+secret))
	} else if clientID != "" {
		p["client_id"] = clientID
		if secret != "" {
			p["client_secret"] = secret
		}
	}
	return postParams(t, s, "/oauth/device/code", style, h, p)
}

func TestDeviceGrant(t *testing.T) {
	s := oauthServer(t)
	d := deviceCode(t, s, formBody, deviceID, "")
	if d.Status != 200 {
		t.Fatalf("device/code: %d %s", d.Status, d.Raw)
	}
	userCode := str(d.Body, "user_code")
	got := map[string]any{}
	for k, v := range d.Body {
		got[k] = v
	}
	got["device_code"] = str(d.Body, "device_code") != ""
	want := map[string]any{
		"device_code":               true,
		"user_code":                 userCode,
		"verification_uri":          s.URL() + "/auth/device",
		"verification_uri_complete": s.URL() + "/auth/device?user_code=" + userCode,
		"expires_in":                float64(600),
		"interval":                  float64(1),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("device/code answer (-want +got)\n%s", diff)
	}
	if len(userCode) != 9 || userCode[4] != '-' {
		t.Errorf("user_code %q is not XXXX-XXXX", userCode)
	}
	poll := func(style tokenStyle, code string) reply {
		return token(t, s, style, deviceID, "", map[string]string{"grant_type": deviceGrantType, "device_code": code})
	}
	dc := str(d.Body, "device_code")
	wantOAuthError(t, poll(formBody, dc), 400, "authorization_pending")
	wantOAuthError(t, poll(jsonBody, dc), 400, "slow_down") // no time passed on either clock
	s.Advance(time.Second)
	wantOAuthError(t, poll(formBody, dc), 400, "authorization_pending")
	if err := s.ApproveDevice(strings.ToLower(strings.ReplaceAll(userCode, "-", ""))); err != nil {
		t.Fatal(err)
	}
	if err := s.ApproveDevice(userCode); err == nil {
		t.Error("approving twice succeeded")
	}
	wantOAuthError(t, poll(formBody, dc), 400, "slow_down") // approved, but still too fast
	s.Advance(time.Second)
	r := poll(formBody, dc)
	if r.Status != 200 || str(r.Body, "refresh_token") == "" || str(r.Body, "scope") != DefaultScope {
		t.Fatalf("approved poll: %d %s", r.Status, r.Raw)
	}
	if me := usersMe(t, s, str(r.Body, "access_token")); str(me.Body, "user", "email") != DefaultOAuthUser {
		t.Errorf("device grant signed in %s", me.Raw)
	}
	s.Advance(time.Second)
	wantOAuthError(t, poll(formBody, dc), 400, "invalid_grant") // exchanged already
	wantOAuthError(t, poll(formBody, "unknown"), 400, "invalid_grant")

	t.Run("denied", func(t *testing.T) {
		d := deviceCode(t, s, jsonBody, deviceID, "")
		if err := s.DenyDevice(str(d.Body, "user_code")); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, poll(formBody, str(d.Body, "device_code")), 400, "access_denied")
	})
	t.Run("expired", func(t *testing.T) {
		d := deviceCode(t, s, formBody, deviceID, "")
		s.Advance(DefaultDeviceCodeTTL)
		wantOAuthError(t, poll(formBody, str(d.Body, "device_code")), 400, "expired_token")
		if err := s.ApproveDevice(str(d.Body, "user_code")); err == nil {
			t.Error("approved an expired code")
		}
	})
	t.Run("another client", func(t *testing.T) {
		d := deviceCode(t, s, basicClient, webID, webSecret)
		wantOAuthError(t, poll(formBody, str(d.Body, "device_code")), 400, "invalid_grant")
	})
	if err := s.ApproveDevice("BCDF-GHJK-NOPE"); err == nil {
		t.Error("approved an unknown code")
	}
	if err := s.DenyDevice(""); err == nil {
		t.Error("denied an empty code")
	}
}

func TestDeviceCodeErrors(t *testing.T) {
	s := oauthServer(t)
	wantOAuthError(t, deviceCode(t, s, formBody, "", ""), 400, "invalid_request")
	wantOAuthError(t, deviceCode(t, s, formBody, "nobody", ""), 401, "invalid_client")
	wantOAuthError(t, deviceCode(t, s, formBody, webID, ""), 401, "invalid_client")
	wantOAuthError(t, call(t, s, "POST", "/oauth/device/code", map[string]string{"Content-Type": "application/json"}, "{"), 400, "invalid_request")
	if r := deviceCode(t, s, formBody, webID, webSecret); r.Status != 200 {
		t.Errorf("confidential client with its secret: %d %s", r.Status, r.Raw)
	}
}

func TestDeviceVerificationPage(t *testing.T) {
	s := oauthServer(t)
	get := func(u string) int {
		resp, err := s.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(s.URL() + "/auth/device"); code != 200 {
		t.Errorf("form: %d", code)
	}
	if code := get(s.URL() + "/auth/device?user_code=ZZZZ-ZZZZ"); code != 400 {
		t.Errorf("unknown code: %d", code)
	}
	poll := func(dc string) reply {
		s.Advance(time.Second)
		return token(t, s, formBody, deviceID, "", map[string]string{"grant_type": deviceGrantType, "device_code": dc})
	}
	d := deviceCode(t, s, formBody, deviceID, "")
	if code := get(str(d.Body, "verification_uri_complete")); code != 200 {
		t.Fatalf("verification_uri_complete: %d", code)
	}
	if r := poll(str(d.Body, "device_code")); r.Status != 200 {
		t.Fatalf("after the verification page: %d %s", r.Status, r.Raw)
	}
	s.DenyNextAuthorization()
	d = deviceCode(t, s, formBody, deviceID, "")
	if code := get(str(d.Body, "verification_uri_complete")); code != 200 {
		t.Fatalf("verification_uri_complete: %d", code)
	}
	wantOAuthError(t, poll(str(d.Body, "device_code")), 400, "access_denied")
}

// The golang.org/x/oauth2 package, which the SDK builds on, speaks to the fake.
func TestWithOAuth2Package(t *testing.T) {
	s := oauthServer(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	cfg := &oauth2.Config{ClientID: webID, ClientSecret: webSecret, RedirectURL: callback,
		Endpoint: s.Endpoints().OAuth, Scopes: strings.Fields(DefaultScope)}
	verifier := oauth2.GenerateVerifier()
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(cfg.AuthCodeURL("state-x", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expiry.After(time.Now()) || tok.RefreshToken == "" {
		t.Errorf("token %v", tok.Expiry)
	}
	// Refresh through a TokenSource.
	tok.Expiry = time.Now().Add(-time.Minute)
	tok2, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v", err)
	}

	// Device grant: approved before the first poll, so one poll (1 s) is enough.
	dcfg := &oauth2.Config{ClientID: deviceID, Endpoint: s.Endpoints().OAuth, Scopes: cfg.Scopes}
	da, err := dcfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApproveDevice(da.UserCode); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dtok, err := dcfg.DeviceAccessToken(ctx2, da)
	if err != nil {
		t.Fatal(err)
	}
	if r := usersMe(t, s, dtok.AccessToken); r.Status != 200 {
		t.Errorf("users/me: %d", r.Status)
	}
}

func TestOAuthClientRedacts(t *testing.T) {
	c := OAuthClient{ID: "id", Secret: "s3cr3t-value", RedirectURIs: []string{"https://x"}}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "client", c, "ptr", &c)
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		fmt.Sprintf("%v", &c), fmt.Sprintf("%+v", &c), fmt.Sprintf("%#v", &c), fmt.Sprint([]OAuthClient{c}), logged.String()} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("leaks the secret: %s", out)
		}
		if !strings.Contains(out, "id") {
			t.Errorf("lost the ID: %s", out)
		}
	}
}

func TestOAuthCalls(t *testing.T) {
	s := oauthServer(t)
	getCode(t, s)
	deviceCode(t, s, formBody, deviceID, "")
	token(t, s, formBody, webID, webSecret, map[string]string{"grant_type": "refresh_token", "refresh_token": "x"})
	got := map[string]int{}
	for _, r := range []string{"GET /auth/authorize", "POST /oauth/device/code", "POST /oauth/token"} {
		got[r] = s.Calls(r)
	}
	if diff := cmp.Diff(map[string]int{"GET /auth/authorize": 1, "POST /oauth/device/code": 1, "POST /oauth/token": 1}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=abc&client_id=x")
	f.Add("application/json; charset=utf-8", `{"grant_type":"authorization_code","code":"c","n":1,"z":null}`)
	f.Add("application/json", `{"a":[1]}`)
	f.Add("application/x-www-form-urlencoded", "a=1&a=2")
	f.Add("text/plain", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ct, body string) {
		p, err := parseParams(ct, []byte(body))
		if (p == nil) == (err == nil) {
			t.Fatalf("params %v, err %v", p, err)
		}
		if err != nil && len(body) > 60 && strings.Contains(err.Error(), body) {
			t.Fatalf("error echoes the body: %v", err)
		}
	})
}
