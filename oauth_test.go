package anaplan_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"golang.org/x/oauth2"
)

const (
	codeClientID   = "code-client"
	codeSecret     = "c1ient-S3CRET-value"
	deviceClientID = "device-client"
	oauthUser      = "grace@example.com"
)

type oauthFake struct {
	*anaplantest.Server
	callback string // the registered loopback callback
}

// newOAuthFake starts the fake with a rotating code client (loopback and
// HTTPS callbacks registered) and a rotating device client.
func newOAuthFake(t *testing.T, opts ...anaplantest.Option) *oauthFake {
	t.Helper()
	srv := anaplantest.New(t, append([]anaplantest.Option{anaplantest.WithDeviceInterval(time.Second)}, opts...)...)
	srv.SetOAuthUser(oauthUser)
	cb := "http://" + freeLoopbackAddr(t) + "/callback"
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: codeClientID, Secret: codeSecret, Rotating: true,
		RedirectURIs: []string{cb, "https://app.example.com/anaplan/callback"}})
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: deviceClientID, Rotating: true})
	return &oauthFake{Server: srv, callback: cb}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (f *oauthFake) options(more ...anaplan.Option) []anaplan.Option {
	return fakeOptions(f.Server, more...)
}

// tokenCalls counts POST /oauth/token.
func (f *oauthFake) tokenCalls() int { return f.Calls("POST /oauth/token") }

// browser follows the authorization URL as a person's browser would.
func (f *oauthFake) browser(t *testing.T, opened *[]string) func(ctx context.Context, u string) error {
	return func(ctx context.Context, u string) error {
		if opened != nil {
			*opened = append(*opened, u)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		resp, err := f.Client().Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

// redirectOf returns where the authorize endpoint sends the browser.
func (f *oauthFake) redirectOf(t *testing.T, authURL string) string {
	t.Helper()
	hc := *f.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func TestOAuthOffUsesGivenToken(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	access, _, exp := f.IssueOAuthTokens(codeClientID, oauthUser)
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(anaplan.OAuthConfig{AccessToken: access, Expiry: exp}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if code, body := whoami(t, c); code != 200 || !strings.Contains(body, oauthUser) {
		t.Fatalf("users/me %d %s", code, body)
	}
	// Past its expiry the token is not refreshed: a clear error instead.
	f.Advance(36 * time.Minute)
	_, err = c.Token(ctx)
	if !errors.Is(err, anaplan.ErrInteractionRequired) || !strings.Contains(err.Error(), "OAuthAccessToken") {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me"); !errors.Is(err, anaplan.ErrInteractionRequired) {
		t.Fatalf("request after expiry: %v", err)
	}
	// Expired from the start: New fails without calling anything.
	_, err = anaplan.New(ctx, f.options(anaplan.WithOAuth(anaplan.OAuthConfig{AccessToken: access, Expiry: f.Now().Add(-time.Minute)}))...)
	if !errors.Is(err, anaplan.ErrInteractionRequired) {
		t.Fatalf("expired given token: %v", err)
	}
	if n := f.tokenCalls(); n != 0 {
		t.Fatalf("InitiateOAuth=OFF called the token endpoint %d times", n)
	}
}

func TestOAuthRefreshPersistsEveryRotation(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	access, refresh, exp := f.IssueOAuthTokens(codeClientID, oauthUser)
	store := anaplan.NewMemoryStore()
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh,
		AccessToken: access, RefreshToken: refresh, Expiry: exp}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if n := f.tokenCalls(); n != 0 {
		t.Fatalf("a valid given token was refreshed at once (%d calls)", n)
	}
	seen := map[string]bool{refresh: true}
	for i := range 3 {
		f.Advance(40 * time.Minute)
		if code, _ := whoami(t, c); code != 200 {
			t.Fatalf("round %d: users/me %d", i, code)
		}
		s, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[s.RefreshToken] || s.ClientID != codeClientID {
			t.Fatalf("round %d: the rotated refresh token was not persisted: %v", i, s)
		}
		seen[s.RefreshToken] = true
		tok, _ := c.Token(ctx)
		if s.AccessToken != tok.Value {
			t.Fatalf("round %d: store holds another access token than the one in use", i)
		}
	}
	for rt, n := range f.RefreshTokenUses() {
		if n != 1 {
			t.Fatalf("refresh token %.6s… used %d times", rt, n)
		}
	}
	if f.GrantRevocations() != 0 {
		t.Fatal("grant revoked")
	}
}

func TestOAuthRefreshNeverPrompts(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	opened := false
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, CallbackURL: f.callback,
		Initiate: anaplan.InitiateRefresh, OpenURL: func(context.Context, string) error { opened = true; return nil }}
	_, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if !errors.Is(err, anaplan.ErrInteractionRequired) || opened || f.tokenCalls() != 0 {
		t.Fatalf("nothing usable: %v (opened %v, token calls %d)", err, opened, f.tokenCalls())
	}
	// A refused refresh token is "nothing usable" too.
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	cfg.RefreshToken = refresh + "-revoked"
	_, err = anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if !errors.Is(err, anaplan.ErrInteractionRequired) || !errors.Is(err, anaplan.ErrUnauthorized) || opened {
		t.Fatalf("refused refresh token: %v", err)
	}
}

func TestOAuthDeviceGrant(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	store := anaplan.NewMemoryStore()
	var shown *oauth2.DeviceAuthResponse
	cfg := anaplan.OAuthConfig{ClientID: deviceClientID, Initiate: anaplan.InitiateGetAndRefresh,
		ShowDeviceCode: func(ctx context.Context, d *oauth2.DeviceAuthResponse) error {
			shown = d
			return f.ApproveDevice(d.UserCode)
		}}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if shown == nil || shown.UserCode == "" || shown.VerificationURI == "" {
		t.Fatalf("device code not shown: %+v", shown)
	}
	if code, body := whoami(t, c); code != 200 || !strings.Contains(body, oauthUser) {
		t.Fatalf("users/me %d %s", code, body)
	}
	if s, err := store.Load(ctx); err != nil || s.RefreshToken == "" {
		t.Fatalf("device tokens not persisted: %v %v", s, err)
	}

	// Denied: a clear error, nothing stored.
	cfg.ShowDeviceCode = func(ctx context.Context, d *oauth2.DeviceAuthResponse) error { return f.DenyDevice(d.UserCode) }
	_, err = anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("denied: %v", err)
	}
	// Cancelled while waiting for the person.
	cctx, cancel := context.WithCancel(ctx)
	cfg.ShowDeviceCode = func(context.Context, *oauth2.DeviceAuthResponse) error { cancel(); return nil }
	_, err = anaplan.New(cctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestOAuthLoopbackCodeFlow(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	var opened []string
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, CallbackURL: f.callback,
		Initiate: anaplan.InitiateGetAndRefresh, OpenURL: f.browser(t, &opened)}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("users/me %d", code)
	}
	u, _ := url.Parse(opened[0])
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || len(q.Get("state")) < 16 || q.Get("redirect_uri") != f.callback {
		t.Fatalf("authorize URL lacks PKCE/state: %s", u.RawQuery)
	}
	// The listener is gone once signed in.
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(f.callback, "/callback"), "http://"), time.Second); err == nil {
		conn.Close()
		t.Fatal("callback server still listening")
	}
}

func TestOAuthLoopbackFailures(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func(ctx context.Context, u string) error
		want string
	}{
		{"refused", func(ctx context.Context, u string) error {
			f.DenyNextAuthorization()
			return f.browser(t, nil)(ctx, u)
		}, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, CallbackURL: f.callback,
				Initiate: anaplan.InitiateGetAndRefresh, OpenURL: tc.open}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := anaplan.New(cctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOAuthLoopbackRefusesWrongStateAndKeepsWaiting(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	var forged, probe int
	open := func(ctx context.Context, u string) error {
		for _, q := range []struct {
			path   string
			status *int
		}{{"?code=x&state=forged", &forged}, {"", &probe}} {
			resp, err := http.Get(f.callback + q.path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			*q.status = resp.StatusCode
		}
		return f.browser(t, nil)(ctx, u)
	}
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, CallbackURL: f.callback,
		Initiate: anaplan.InitiateGetAndRefresh, OpenURL: open}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if err != nil {
		t.Fatalf("a forged redirect ended the sign-in: %v", err)
	}
	c.Close(ctx)
	if forged != http.StatusBadRequest || probe != http.StatusNotFound {
		t.Fatalf("forged redirect answered %d, probe %d; want 400 and 404", forged, probe)
	}
}

func TestOAuthPastedRedirect(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	var redirected string
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, CallbackURL: "https://app.example.com/anaplan/callback",
		Initiate: anaplan.InitiateGetAndRefresh,
		OpenURL:  func(ctx context.Context, u string) error { redirected = f.redirectOf(t, u); return nil }}
	prompt := anaplan.WithPromptForTest(func(ctx context.Context, msg string) (string, error) { return redirected, nil })
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()), prompt)...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	// A URL from another sign-in (wrong state) is refused.
	prompt = anaplan.WithPromptForTest(func(ctx context.Context, msg string) (string, error) {
		return "https://app.example.com/anaplan/callback?code=abc&state=old", nil
	})
	if _, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()), prompt)...); err == nil || !strings.Contains(err.Error(), "state") {
		t.Fatalf("wrong state: %v", err)
	}
}

// authCode gets a code the way a person on another machine would: the
// connector's GetOAuthAuthorizationUrl, a browser, and the redirected URL.
func (f *oauthFake) authCode(t *testing.T) string {
	cfg := anaplan.OAuth2Config(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret,
		CallbackURL: "https://app.example.com/anaplan/callback"}, f.Endpoints())
	return f.redirectOf(t, cfg.AuthCodeURL("s"))
}

func TestOAuthVerifierOnHeadlessMachine(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "settings")
	cs := func(extra string) string {
		return "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret +
			";CallbackURL=https://app.example.com/anaplan/callback;OAuthSettingsLocation='" + path + "'" + extra
	}
	redirected := f.authCode(t)
	c, err := anaplan.New(ctx, f.options(anaplan.FromConnectionString(cs(";OAuthVerifier='"+redirected+"'")))...)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("users/me %d", code)
	}
	c.Close(ctx)
	calls := f.tokenCalls()
	// Later connections need no verifier (and a stale one is ignored).
	for _, extra := range []string{"", ";OAuthVerifier='" + redirected + "'"} {
		c, err = anaplan.New(ctx, f.options(anaplan.FromConnectionString(cs(extra)))...)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := whoami(t, c); code != 200 {
			t.Fatalf("users/me %d", code)
		}
		c.Close(ctx)
	}
	if f.tokenCalls() != calls {
		t.Fatal("the persisted token was not reused")
	}
	// An expired or used verifier says so.
	_, err = anaplan.New(ctx, f.options(anaplan.FromConnectionString(strings.Replace(cs(";OAuthVerifier=used-c0de"), path, path+"-new", 1)))...)
	if err == nil || !strings.Contains(err.Error(), "single-use") || strings.Contains(err.Error(), "used-c0de") {
		t.Fatalf("bad verifier: %v", err)
	}
}

type failingStore struct {
	anaplan.SettingsStore
	fail atomic.Bool
}

func (s *failingStore) Save(ctx context.Context, st *anaplan.Settings) error {
	if s.fail.Load() {
		return errors.New("vault is sealed")
	}
	return s.SettingsStore.Save(ctx, st)
}

func TestOAuthSaveFailureKeepsTokens(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	store := &failingStore{SettingsStore: anaplan.NewMemoryStore()}
	store.fail.Store(true)
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatalf("a failed save must not fail the sign-in: %v", err)
	}
	// The new tokens are used, and refreshing again uses the rotated token
	// held in memory (no reuse, no revocation).
	f.Advance(40 * time.Minute)
	if code, _ := whoami(t, c); code != 200 || f.GrantRevocations() != 0 {
		t.Fatalf("users/me %d, revocations %d", code, f.GrantRevocations())
	}
	if s, err := store.SettingsStore.Load(ctx); err == nil {
		t.Fatalf("nothing should be stored yet: %v", s)
	}
	// The store works again: the next refresh first saves what the client
	// holds, then refreshes with it and saves the result.
	store.fail.Store(false)
	f.Advance(40 * time.Minute)
	if code, _ := whoami(t, c); code != 200 || f.GrantRevocations() != 0 {
		t.Fatalf("after recovery: users/me %d, revocations %d", code, f.GrantRevocations())
	}
	tok, _ := c.Token(ctx)
	if s, err := store.Load(ctx); err != nil || s.AccessToken != tok.Value {
		t.Fatalf("the recovered store does not hold the tokens in use: %v %v", s, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close after a successful save: %v", err)
	}

	// A client whose save never succeeds reports it from Close.
	_, refresh2, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	sealed := &failingStore{SettingsStore: anaplan.NewMemoryStore()}
	sealed.fail.Store(true)
	cfg3 := cfg
	cfg3.RefreshToken = refresh2
	c3, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg3), anaplan.WithSettingsStore(sealed))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c3.Close(ctx); err == nil || !strings.Contains(err.Error(), "vault is sealed") {
		t.Fatalf("Close must report the failed save: %v", err)
	}
	// The configuration's refresh token was rotated away long ago: a new
	// client uses what the store holds, and spends nothing twice.
	c2, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close(ctx)
	for rt, n := range f.RefreshTokenUses() {
		if n != 1 {
			t.Fatalf("refresh token %.6s… used %d times", rt, n)
		}
	}
}

func TestOAuthSharedStoreOneRefreshPerExpiry(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	cs := "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret +
		";OAuthRefreshToken=" + refresh + ";OAuthSettingsLocation=memory://shared-" + t.Name() + "-" + f.URL()
	var clients []*anaplan.Client
	for range 5 {
		c, err := anaplan.New(ctx, f.options(anaplan.FromConnectionString(cs))...)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if n := f.tokenCalls(); n != 1 {
		t.Fatalf("5 clients sharing a store refreshed %d times, want 1", n)
	}
	for round := range 3 {
		f.Advance(40 * time.Minute)
		var wg sync.WaitGroup
		for _, c := range clients {
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if code, _ := whoami(t, c); code != 200 {
						t.Errorf("round %d: %d", round, code)
					}
				}()
			}
		}
		wg.Wait()
		if n := f.tokenCalls(); n != round+2 {
			t.Fatalf("round %d: %d token calls, want %d (one refresh per expiry)", round, n, round+2)
		}
	}
	for _, c := range clients {
		c.Close(ctx)
	}
	if f.GrantRevocations() != 0 {
		t.Fatal("grant revoked")
	}
}

func TestOAuthStoredSettingsOfAnotherClientRefused(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	store := anaplan.NewMemoryStore()
	access, refresh, exp := f.IssueOAuthTokens(codeClientID, oauthUser)
	store.Save(ctx, &anaplan.Settings{AccessToken: access, RefreshToken: refresh, Expiry: exp, ClientID: "someone-else"})
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}
	_, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(store))...)
	if err == nil || !strings.Contains(err.Error(), "someone-else") || !strings.Contains(err.Error(), "OAuthSettingsLocation") {
		t.Fatalf("another client's settings: %v", err)
	}
	// Neither used nor overwritten.
	if s, _ := store.Load(ctx); s.ClientID != "someone-else" || s.AccessToken != access || f.tokenCalls() != 0 {
		t.Fatalf("another client's settings were touched: %v, %d token calls", s, f.tokenCalls())
	}

	// A connection string that says nothing about storage keeps an earlier
	// WithSettingsStore.
	own := anaplan.NewMemoryStore()
	c, err := anaplan.New(ctx, f.options(anaplan.WithSettingsStore(own), anaplan.FromConnectionString(
		"AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId="+codeClientID+";OAuthClientSecret="+codeSecret+";OAuthRefreshToken="+refresh))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if s, err := own.Load(ctx); err != nil || s.ClientID != codeClientID {
		t.Fatalf("the earlier WithSettingsStore was replaced: %v %v", s, err)
	}
}

func TestOAuthDefaultSettingsLocation(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	c, err := anaplan.New(ctx, f.options(anaplan.FromConnectionString("AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId="+codeClientID+
		";OAuthClientSecret="+codeSecret+";OAuthRefreshToken="+refresh))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	dir, _ := os.UserConfigDir()
	st, err := os.Stat(filepath.Join(dir, "anaplan", "oauth-settings"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("default settings file: %v %v", st, err)
	}
}

// landedStore saves, then reports failure once (as a store whose directory
// sync fails after the rename would).
type landedStore struct {
	anaplan.SettingsStore
	failOnce atomic.Bool
}

func (s *landedStore) Save(ctx context.Context, st *anaplan.Settings) error {
	if err := s.SettingsStore.Save(ctx, st); err != nil {
		return err
	}
	if s.failOnce.CompareAndSwap(true, false) {
		return errors.New("directory sync failed")
	}
	return nil
}

func TestOAuthSaveThatLandedIsNotRewrittenStale(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	shared := anaplan.NewMemoryStore()
	a := &landedStore{SettingsStore: shared}
	a.failOnce.Store(true)
	cfg := anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}
	c1, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(a))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(ctx)
	// Another process refreshes from what landed in the store.
	f.Advance(40 * time.Minute)
	c2, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh}), anaplan.WithSettingsStore(shared))...)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close(ctx)
	newest, _ := shared.Load(ctx)
	// The first client must adopt that, not write its older tokens back.
	if code, _ := whoami(t, c1); code != 200 {
		t.Fatalf("users/me %d", code)
	}
	if s, _ := shared.Load(ctx); s.RefreshToken != newest.RefreshToken {
		t.Fatal("a save that had landed was written again over newer settings")
	}
	if f.GrantRevocations() != 0 {
		t.Fatal("grant revoked")
	}
	for rt, n := range f.RefreshTokenUses() {
		if n != 1 {
			t.Fatalf("refresh token %.6s… used %d times", rt, n)
		}
	}
}
