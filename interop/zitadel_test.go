package interop_test

// The SDK's OAuth flows against a real third-party OpenID provider: the
// example OP of github.com/zitadel/oidc/v3 (see oauth_zitadel_helpers_test.go).
// Where the fake Anaplan in anaplantest checks the SDK against what we think
// Anaplan does, these tests check it against an independent implementation
// of OAuth 2.0 / OpenID Connect: PKCE, state, rotating refresh tokens, the
// device grant (RFC 8628), client authentication in the request body.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/go-anaplan/anaplan"
)

// The example OP's access tokens live 5 minutes; moving the SDK's clock by
// this much puts them past their expiry.
const zitadelPastExpiry = 6 * time.Minute

func zitadelCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// zitadelNever is an OpenURL / ShowDeviceCode that must not be called.
func zitadelNever(called *atomic.Int32) (func(context.Context, string) error, func(context.Context, *oauth2.DeviceAuthResponse) error) {
	return func(context.Context, string) error {
			called.Add(1)
			return errors.New("test: OpenURL must not be called")
		}, func(context.Context, *oauth2.DeviceAuthResponse) error {
			called.Add(1)
			return errors.New("test: ShowDeviceCode must not be called")
		}
}

func zitadelLoad(t *testing.T, s anaplan.SettingsStore) *anaplan.Settings {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

// zitadelWhoIs checks that the OP knows the access token as the example user's.
func zitadelWhoIs(t *testing.T, o *zitadelOP, access string) {
	t.Helper()
	status, sub, err := o.userinfo(context.Background(), access)
	if err != nil || status != 200 || sub != zitadelUserID {
		t.Fatalf("the OP's userinfo for the SDK's access token: status %d, sub %q, err %v; want 200 and %q", status, sub, err, zitadelUserID)
	}
}

// zitadelSignIn runs GETANDREFRESH against o and returns the client, its
// store and what was opened.
func zitadelSignIn(t *testing.T, o *zitadelOP, clk *zitadelClock) (*anaplan.Client, *anaplan.MemoryStore, *zitadelOpened) {
	t.Helper()
	store, opened := anaplan.NewMemoryStore(), &zitadelOpened{}
	var never atomic.Int32
	_, noDevice := zitadelNever(&never)
	c, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
		ClientID:       zitadelWebClientID,
		ClientSecret:   zitadelWebSecret,
		CallbackURL:    o.callback,
		Initiate:       anaplan.InitiateGetAndRefresh,
		OpenURL:        o.signInWithBrowser(opened, zitadelPassword),
		ShowDeviceCode: noDevice,
	}, store, clk)...)
	if err != nil {
		t.Fatalf("New (GETANDREFRESH, loopback callback): %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, store, opened
}

// TestZitadelCodeFlowRotationAndRefreshMode walks one grant through its life:
// sign-in with the authorization-code flow (PKCE, state, loopback callback),
// refresh with rotation after expiry, and reuse of the saved settings by a
// second client in REFRESH mode.
func TestZitadelCodeFlowRotationAndRefreshMode(t *testing.T) {
	o := startZitadelOP(t)
	clk := &zitadelClock{}
	var (
		c      *anaplan.Client
		store  *anaplan.MemoryStore
		opened *zitadelOpened
		first  *anaplan.Settings // after sign-in
		latest *anaplan.Settings // the newest settings, refresh token unspent
	)

	c, store, opened = zitadelSignIn(t, o, clk)
	ok := t.Run("GETANDREFRESH signs in through the loopback callback with PKCE", func(t *testing.T) {

		urls := opened.list()
		if len(urls) != 1 {
			t.Fatalf("OpenURL called %d times, want 1", len(urls))
		}
		au, err := url.Parse(urls[0])
		if err != nil {
			t.Fatal(err)
		}
		q := au.Query()
		type authz struct{ Endpoint, ResponseType, ClientID, RedirectURI, Method string }
		got := authz{au.Scheme + "://" + au.Host + au.Path, q.Get("response_type"), q.Get("client_id"), q.Get("redirect_uri"), q.Get("code_challenge_method")}
		want := authz{o.meta.AuthorizationEndpoint, "code", zitadelWebClientID, o.callback, "S256"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("authorization URL (-want +got):\n%s", d)
		}
		if len(q.Get("state")) < 16 {
			t.Errorf("state %q: want at least 16 random characters", q.Get("state"))
		}
		if d := cmp.Diff(anaplan.DefaultScopes(), strings.Fields(q.Get("scope"))); d != "" {
			t.Errorf("scope (-want +got):\n%s", d)
		}
		challenge := q.Get("code_challenge")
		if len(challenge) != 43 {
			t.Errorf("code_challenge %q: want 43 characters (base64url of SHA-256)", challenge)
		}

		reqs := o.tokenRequests()
		if len(reqs) != 1 || reqs[0].Form.Get("grant_type") != "authorization_code" {
			t.Fatalf("token requests %v, want one authorization_code", o.grants())
		}
		f := reqs[0].Form
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if f.Get("code_verifier") == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			t.Errorf("the code exchange's code_verifier does not match the authorization's S256 code_challenge")
		}
		type exchange struct{ ClientID, Secret, RedirectURI, BasicUser string }
		if d := cmp.Diff(exchange{zitadelWebClientID, zitadelWebSecret, o.callback, ""},
			exchange{f.Get("client_id"), f.Get("client_secret"), f.Get("redirect_uri"), f.Get("basic_auth_user")}); d != "" {
			t.Errorf("code exchange: client authentication in the body, redirect_uri repeated (-want +got):\n%s", d)
		}

		tok, err := c.Token(zitadelCtx(t))
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if tok.Type != anaplan.TokenTypeAnaplan || tok.Value == "" {
			t.Errorf("Token = %v, want an %s token", tok, anaplan.TokenTypeAnaplan)
		}
		if left := time.Until(tok.Expiry); left < 4*time.Minute || left > 5*time.Minute+time.Second {
			t.Errorf("token expires in %v, want the OP's 5 minutes", left)
		}
		zitadelWhoIs(t, o, tok.Value)

		first = zitadelLoad(t, store)
		want2 := anaplan.Settings{AccessToken: tok.Value, RefreshToken: first.RefreshToken, TokenType: "Bearer", Expiry: tok.Expiry, ClientID: zitadelWebClientID}
		if d := cmp.Diff(want2, *first); d != "" || first.RefreshToken == "" {
			t.Errorf("saved settings (-want +got):\n%s (refresh token set: %v)", d, first.RefreshToken != "")
		}
		latest = first
	})
	if !ok {
		return
	}

	ok = t.Run("an expired token is refreshed and the rotated refresh token saved", func(t *testing.T) {
		clk.Advance(zitadelPastExpiry)
		tok, err := c.Token(zitadelCtx(t))
		if err != nil {
			t.Fatalf("Token after expiry: %v", err)
		}
		if tok.Value == first.AccessToken {
			t.Fatal("Token after expiry returned the expired access token")
		}
		if left := tok.Expiry.Sub(clk.Now()); left < 4*time.Minute || left > 5*time.Minute+time.Second {
			t.Errorf("the refreshed token expires in %v on the SDK's clock, want the OP's 5 minutes", left)
		}
		zitadelWhoIs(t, o, tok.Value)
		if d := cmp.Diff([]string{"authorization_code", "refresh_token"}, o.grants()); d != "" {
			t.Fatalf("token requests (-want +got):\n%s", d)
		}
		if rt := o.tokenRequests()[1].Form.Get("refresh_token"); rt != first.RefreshToken {
			t.Error("the refresh did not spend the saved refresh token")
		}
		now := zitadelLoad(t, store)
		if now.RefreshToken == "" || now.RefreshToken == first.RefreshToken {
			t.Errorf("the store holds the old (or no) refresh token after a rotating refresh")
		}
		if now.AccessToken != tok.Value {
			t.Errorf("the store does not hold the access token handed out")
		}
		if n := len(opened.list()); n != 1 {
			t.Errorf("OpenURL called %d times in all, want 1 (no new sign-in for a refresh)", n)
		}

		_, err = o.refreshDirectly(zitadelCtx(t), first.RefreshToken)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("replaying the rotated-out refresh token at the OP: %v, want invalid_grant", err)
		}
		if err := c.Close(zitadelCtx(t)); err != nil {
			t.Errorf("Close: %v", err)
		}
		latest = now
	})
	if !ok {
		return
	}

	t.Run("REFRESH in a second client reuses the settings without prompting", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			at          time.Duration // the second client's clock, from the saved token's expiry
			wantRefresh bool
		}{
			{"access token still in date is used as saved", -4 * time.Minute, false},
			{"expired access token is refreshed", time.Minute, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				store := anaplan.NewMemoryStore()
				saved := *latest
				if err := store.Save(context.Background(), &saved); err != nil {
					t.Fatal(err)
				}
				clk := &zitadelClock{}
				clk.Set(latest.Expiry.Add(tc.at))
				var prompts atomic.Int32
				openURL, showCode := zitadelNever(&prompts)
				before := len(o.tokenRequests())
				c, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
					ClientID:       zitadelWebClientID,
					ClientSecret:   zitadelWebSecret,
					CallbackURL:    o.callback,
					Initiate:       anaplan.InitiateRefresh,
					OpenURL:        openURL,
					ShowDeviceCode: showCode,
				}, store, clk)...)
				if err != nil {
					t.Fatalf("New (REFRESH): %v", err)
				}
				defer func() {
					if err := c.Close(context.Background()); err != nil {
						t.Errorf("Close: %v", err)
					}
				}()
				tok, err := c.Token(zitadelCtx(t))
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				zitadelWhoIs(t, o, tok.Value)
				if n := prompts.Load(); n != 0 {
					t.Errorf("REFRESH prompted %d times", n)
				}
				got := zitadelLoad(t, store)
				var want []string
				if tc.wantRefresh {
					want = []string{"refresh_token"}
					if tok.Value == latest.AccessToken || got.RefreshToken == latest.RefreshToken || got.AccessToken != tok.Value {
						t.Errorf("after the refresh: new access token %v, rotated refresh token saved %v, access token saved %v",
							tok.Value != latest.AccessToken, got.RefreshToken != latest.RefreshToken, got.AccessToken == tok.Value)
					}
				} else {
					if tok.Value != latest.AccessToken {
						t.Errorf("Token did not return the saved, still valid access token")
					}
					if d := cmp.Diff(latest, got); d != "" {
						t.Errorf("settings changed without a refresh (-want +got):\n%s", d)
					}
				}
				if d := cmp.Diff(want, o.grants()[before:], cmpopts.EquateEmpty()); d != "" {
					t.Errorf("token requests (-want +got):\n%s", d)
				}
				if tc.wantRefresh {
					prev := latest
					latest = got
					// The plain oauth2 client spends the newest refresh token,
					// and the one it replaced is dead: the replay refused
					// above was not a matter of client authentication.
					if _, err := o.refreshDirectly(zitadelCtx(t), prev.RefreshToken); err == nil {
						t.Error("the OP accepted a rotated-out refresh token")
					}
				}
			})
		}
		if _, err := o.refreshDirectly(zitadelCtx(t), latest.RefreshToken); err != nil {
			t.Errorf("plain oauth2 refresh with the newest saved refresh token: %v", err)
		}
	})
}

// TestZitadelSpentRefreshToken: settings whose refresh token another party
// already spent. REFRESH must fail without prompting (and without the
// secrets in its error); GETANDREFRESH must sign the person in again.
func TestZitadelSpentRefreshToken(t *testing.T) {
	o := startZitadelOP(t)
	c0, store0, _ := zitadelSignIn(t, o, &zitadelClock{})
	if err := c0.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	spent := zitadelLoad(t, store0)
	fresh, err := o.refreshDirectly(zitadelCtx(t), spent.RefreshToken)
	if err != nil {
		t.Fatalf("spending the refresh token: %v", err)
	}

	for _, tc := range []struct {
		name      string
		initiate  anaplan.InitiateOAuth
		wantErr   bool
		wantOpens int
	}{
		{"REFRESH fails with invalid_grant and does not prompt", anaplan.InitiateRefresh, true, 0},
		{"GETANDREFRESH signs in again", anaplan.InitiateGetAndRefresh, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := anaplan.NewMemoryStore()
			saved := *spent
			if err := store.Save(context.Background(), &saved); err != nil {
				t.Fatal(err)
			}
			clk := &zitadelClock{}
			clk.Advance(zitadelPastExpiry) // the saved access token is out of date
			opened := &zitadelOpened{}
			c, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
				ClientID:     zitadelWebClientID,
				ClientSecret: zitadelWebSecret,
				CallbackURL:  o.callback,
				Initiate:     tc.initiate,
				OpenURL:      o.signInWithBrowser(opened, zitadelPassword),
			}, store, clk)...)
			if n := len(opened.list()); n != tc.wantOpens {
				t.Errorf("OpenURL called %d times, want %d", n, tc.wantOpens)
			}
			if tc.wantErr {
				var ae *anaplan.APIError
				if !errors.As(err, &ae) || ae.Code != "invalid_grant" || !errors.Is(err, anaplan.ErrUnauthorized) {
					t.Fatalf("New = %v, want an *APIError invalid_grant that is ErrUnauthorized", err)
				}
				zitadelNoSecrets(t, err, zitadelWebSecret, spent.RefreshToken, spent.AccessToken, fresh.RefreshToken, zitadelPassword)
				if d := cmp.Diff(spent, zitadelLoad(t, store)); d != "" {
					t.Errorf("a failed refresh changed the settings (-want +got):\n%s", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close(context.Background())
			tok, err := c.Token(zitadelCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			zitadelWhoIs(t, o, tok.Value)
			if got := zitadelLoad(t, store); got.RefreshToken == spent.RefreshToken || got.AccessToken != tok.Value {
				t.Error("the new sign-in's tokens were not saved")
			}
		})
	}
}

// TestZitadelCodeFlowFailures: sign-ins that cannot succeed fail in New with
// an error that says why and holds no secret, and leave nothing saved.
func TestZitadelCodeFlowFailures(t *testing.T) {
	o := startZitadelOP(t)
	for _, tc := range []struct {
		name      string
		initiate  anaplan.InitiateOAuth
		password  string
		wantIs    error
		wantInErr string
		wantOpens int
	}{
		{"wrong password at the OP's login form", anaplan.InitiateGetAndRefresh, "not-the-Passw0rd", nil, "opening the sign-in page", 1},
		{"REFRESH with nothing saved", anaplan.InitiateRefresh, zitadelPassword, anaplan.ErrInteractionRequired, "GETANDREFRESH", 0},
		{"OFF with nothing given", anaplan.InitiateOff, zitadelPassword, anaplan.ErrInteractionRequired, "OAuthAccessToken", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, opened := anaplan.NewMemoryStore(), &zitadelOpened{}
			before := len(o.tokenRequests())
			_, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
				ClientID:     zitadelWebClientID,
				ClientSecret: zitadelWebSecret,
				CallbackURL:  o.callback,
				Initiate:     tc.initiate,
				OpenURL:      o.signInWithBrowser(opened, tc.password),
			}, store, &zitadelClock{})...)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("New = %v, want errors.Is %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("New = %v, want it to mention %q", err, tc.wantInErr)
			}
			zitadelNoSecrets(t, err, zitadelWebSecret, tc.password, zitadelPassword)
			if n := len(opened.list()); n != tc.wantOpens {
				t.Errorf("OpenURL called %d times, want %d", n, tc.wantOpens)
			}
			if n := len(o.tokenRequests()) - before; n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
			if _, err := store.Load(context.Background()); !errors.Is(err, anaplan.ErrNoSettings) {
				t.Errorf("Load after a failed sign-in = %v, want ErrNoSettings", err)
			}
		})
	}
}

// TestZitadelDeviceGrant: a client without a secret signs in with the device
// grant; the person approves (or denies) on the OP's own device pages.
func TestZitadelDeviceGrant(t *testing.T) {
	o := startZitadelOP(t)
	for _, tc := range []struct {
		name        string
		typeCode    bool // the person opens verification_uri and types the code
		later       bool // the person approves only after the SDK's first poll
		action      string
		wantRefresh bool
	}{
		{"verification_uri_complete, allowed, then refreshed", false, false, "allowed", true},
		{"user code typed in, allowed", true, false, "allowed", false},
		{"allowed while the SDK polls", false, true, "allowed", false},
		{"denied", false, false, "denied", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits one poll interval or two
			ctx := zitadelCtx(t)
			store, clk := anaplan.NewMemoryStore(), &zitadelClock{}
			var shown atomic.Pointer[oauth2.DeviceAuthResponse]
			var opens atomic.Int32
			openURL, _ := zitadelNever(&opens)
			show := o.approveDevice(&shown, tc.typeCode, tc.action)
			approved := make(chan error, 1)
			if tc.later {
				show = o.approveDeviceLater(ctx, &shown, approved)
			}
			c, err := anaplan.New(ctx, o.options(anaplan.OAuthConfig{
				ClientID:       zitadelDeviceClientID,
				Initiate:       anaplan.InitiateGetAndRefresh,
				OpenURL:        openURL,
				ShowDeviceCode: show,
			}, store, clk)...)
			d := shown.Load()
			if tc.later && d != nil {
				if err := <-approved; err != nil {
					t.Errorf("approving after the first poll: %v", err)
				}
				var polls []string
				for _, r := range o.tokenRequests() {
					if d != nil && r.Form.Get("device_code") == d.DeviceCode {
						polls = append(polls, r.Form.Get("grant_type"))
					}
				}
				if len(polls) < 2 {
					t.Errorf("the SDK polled %d times, want at least 2 (pending, then granted)", len(polls))
				}
			}
			if d == nil {
				t.Fatalf("ShowDeviceCode was not called; New = %v", err)
			}
			if d.UserCode == "" || d.DeviceCode == "" || d.Interval != zitadelPollInterval ||
				!strings.HasPrefix(d.VerificationURI, o.issuer+"/") || !strings.Contains(d.VerificationURIComplete, url.QueryEscape(d.UserCode)) {
				t.Errorf("device authorization shown: user code %q, interval %d, verification URIs %q and %q",
					d.UserCode, d.Interval, d.VerificationURI, d.VerificationURIComplete)
			}
			if n := opens.Load(); n != 0 {
				t.Errorf("the device grant called OpenURL %d times", n)
			}
			if tc.action == "denied" {
				var ae *anaplan.APIError
				if !errors.As(err, &ae) || ae.Code != "access_denied" {
					t.Fatalf("New = %v, want an *APIError access_denied", err)
				}
				zitadelNoSecrets(t, err, d.DeviceCode, zitadelPassword)
				if _, err := store.Load(context.Background()); !errors.Is(err, anaplan.ErrNoSettings) {
					t.Errorf("Load after a denied sign-in = %v, want ErrNoSettings", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New (device grant): %v", err)
			}
			defer func() {
				if err := c.Close(context.Background()); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tok, err := c.Token(zitadelCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			zitadelWhoIs(t, o, tok.Value)
			saved := zitadelLoad(t, store)
			if saved.AccessToken != tok.Value || saved.RefreshToken == "" || saved.ClientID != zitadelDeviceClientID {
				t.Errorf("saved settings: access token saved %v, refresh token set %v, client %q",
					saved.AccessToken == tok.Value, saved.RefreshToken != "", saved.ClientID)
			}
			for _, r := range o.tokenRequests() {
				if r.Form.Get("device_code") == d.DeviceCode && (r.Form.Get("client_id") != zitadelDeviceClientID || r.Form.Has("client_secret") || r.Form.Has("basic_auth_user")) {
					t.Errorf("device token request authenticates as %q, secret sent %v, basic auth %v; want a public client",
						r.Form.Get("client_id"), r.Form.Has("client_secret"), r.Form.Has("basic_auth_user"))
				}
			}
			if !tc.wantRefresh {
				return
			}

			clk.Advance(zitadelPastExpiry)
			tok2, err := c.Token(zitadelCtx(t))
			if err != nil {
				t.Fatalf("Token after expiry (device client, no secret): %v", err)
			}
			zitadelWhoIs(t, o, tok2.Value)
			now := zitadelLoad(t, store)
			if tok2.Value == tok.Value || now.RefreshToken == saved.RefreshToken || now.AccessToken != tok2.Value {
				t.Error("the device client's refresh did not rotate and save its tokens")
			}
			i := slices.IndexFunc(o.tokenRequests(), func(r zitadelRequest) bool { return r.Form.Get("refresh_token") == saved.RefreshToken })
			if i < 0 {
				t.Fatal("the OP saw no refresh with the device client's refresh token")
			}
			if f := o.tokenRequests()[i].Form; f.Get("client_id") != zitadelDeviceClientID || f.Has("client_secret") || f.Has("basic_auth_user") {
				t.Errorf("device client's refresh: client_id %q, secret sent %v, basic auth %v", f.Get("client_id"), f.Has("client_secret"), f.Has("basic_auth_user"))
			}
		})
	}
}

// TestZitadelSharedStoreSpendsEachRefreshTokenOnce: clients (as separate
// processes would) share one settings store and find the access token
// expired at the same moment. The OP rotates refresh tokens, so only one of
// them may refresh; the others must adopt what it saved.
func TestZitadelSharedStoreSpendsEachRefreshTokenOnce(t *testing.T) {
	o := startZitadelOP(t)
	c0, store, _ := zitadelSignIn(t, o, &zitadelClock{})
	if err := c0.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := zitadelLoad(t, store)
	clk := &zitadelClock{}
	clk.Set(saved.Expiry.Add(time.Minute))
	before := len(o.tokenRequests())

	const n = 3
	var wg sync.WaitGroup
	toks, errs := make([]string, n), make([]error, n)
	for i := range n {
		wg.Go(func() {
			var prompts atomic.Int32
			openURL, showCode := zitadelNever(&prompts)
			c, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
				ClientID:       zitadelWebClientID,
				ClientSecret:   zitadelWebSecret,
				CallbackURL:    o.callback,
				Initiate:       anaplan.InitiateRefresh,
				OpenURL:        openURL,
				ShowDeviceCode: showCode,
			}, store, clk)...)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close(context.Background())
			tok, err := c.Token(zitadelCtx(t))
			if err == nil {
				toks[i] = tok.Value
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	if d := cmp.Diff([]string{"refresh_token"}, o.grants()[before:]); d != "" {
		t.Errorf("token requests (-want +got):\n%s", d)
	}
	for i := range toks {
		if toks[i] != toks[0] || toks[i] == saved.AccessToken {
			t.Errorf("client %d holds a different (or the expired) access token", i)
		}
	}
	if got := zitadelLoad(t, store); got.AccessToken != toks[0] || got.RefreshToken == saved.RefreshToken {
		t.Error("the store does not hold the one refresh's tokens")
	}
}

// TestZitadelRefreshInterruptedAfterRotation: the OP has rotated the refresh
// token (the old one is dead) when the SDK stops waiting for the answer. The
// grant must survive: the next client (process) must be able to refresh
// without a person signing in again.
//
// The SDK spends refresh tokens on a context detached from the caller's
// cancellation, and Close waits for a refresh under way, so the answer is
// received and persisted.
func TestZitadelRefreshInterruptedAfterRotation(t *testing.T) {
	o := startZitadelOP(t)
	for _, tc := range []struct {
		name string
		// interrupt starts a refresh that the OP holds back, interrupts
		// it once the OP has rotated, and returns the store.
		interrupt func(t *testing.T, h *zitadelHold) anaplan.SettingsStore
	}{
		{"Close during a background (early) refresh", func(t *testing.T, h *zitadelHold) anaplan.SettingsStore {
			clk := &zitadelClock{}
			c, store, _ := zitadelSignIn(t, o, clk)
			tok, err := c.Token(zitadelCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(tok.Expiry.Add(-30 * time.Second))        // in the early-refresh window, still usable
			if _, err := c.Token(zitadelCtx(t)); err != nil { // starts the background refresh
				t.Fatal(err)
			}
			<-h.rotated
			if err := c.Close(zitadelCtx(t)); err != nil {
				t.Errorf("Close: %v", err)
			}
			return store
		}},
		{"New's context cancelled during its refresh", func(t *testing.T, h *zitadelHold) anaplan.SettingsStore {
			c0, store, _ := zitadelSignIn(t, o, &zitadelClock{})
			if err := c0.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk := &zitadelClock{}
			clk.Set(zitadelLoad(t, store).Expiry.Add(time.Minute))
			ctx, cancel := context.WithCancel(zitadelCtx(t))
			go func() { <-h.rotated; cancel() }()
			_, err := anaplan.New(ctx, o.options(anaplan.OAuthConfig{
				ClientID: zitadelWebClientID, ClientSecret: zitadelWebSecret, CallbackURL: o.callback,
				Initiate: anaplan.InitiateRefresh,
			}, store, clk)...)
			if err == nil {
				t.Error("New succeeded with a context cancelled during its refresh")
			}
			if !errors.Is(err, context.Canceled) {
				// A second, smaller bug: oauthError formats non-OAuth errors with %s.
				t.Errorf("errors.Is(New's error, context.Canceled) = false; the error is %v", err)
			}
			return store
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := o.holdNextRefresh(t)
			// The answer arrives only after the interruption (Close, or the
			// cancelled context) has happened: the SDK must still take it.
			go func() {
				<-h.rotated
				time.Sleep(100 * time.Millisecond)
				h.Release()
			}()
			store := tc.interrupt(t, h)

			clk := &zitadelClock{}
			clk.Set(zitadelLoad(t, store).Expiry.Add(time.Minute))
			c, err := anaplan.New(zitadelCtx(t), o.options(anaplan.OAuthConfig{
				ClientID: zitadelWebClientID, ClientSecret: zitadelWebSecret, CallbackURL: o.callback,
				Initiate: anaplan.InitiateRefresh,
			}, store, clk)...)
			if err != nil {
				t.Fatalf("the next client cannot refresh: %v\n"+
					"the OP rotated the refresh token, the SDK dropped the answer, and the store still holds the dead one: the grant is lost", err)
			}
			c.Close(context.Background())
		})
	}
}

// FuzzZitadelParseForm: the tests' HTML form reader never panics, and only
// ever submits to the page's own origin.
func FuzzZitadelParseForm(f *testing.F) {
	f.Add(`<form method="POST" action="/login/username"><input type="hidden" name="id" value="a&amp;b"><input id="username" name="username"></form>`)
	f.Add(`<form method="POST"><input id="user_code" name="user_code"></form>`)
	f.Add(`<form method='post' action='https://elsewhere.example/x'><input name=x></form>`)
	f.Add(`<button onclick="location.href='./confirm?action=allowed'">Allow</button><button onclick="location.href='./confirm?action=denied'">`)
	f.Add(`<form method="POST" action="%zz"></form>`)
	f.Add(`<form`)
	base, _ := url.Parse("https://127.0.0.1:8443/device/login")
	f.Fuzz(func(t *testing.T, page string) {
		if form, err := zitadelParseForm(page, base); err == nil {
			if form.Action.Scheme != base.Scheme || form.Action.Host != base.Host {
				t.Fatalf("form action %v leaves the page's origin", form.Action)
			}
		}
		for _, action := range []string{"allowed", "denied"} {
			if u, err := zitadelConfirmLink(page, base, action); err == nil && (u.Host != base.Host || u.Query().Get("action") != action) {
				t.Fatalf("confirm link %v for %q", u, action)
			}
		}
	})
}
