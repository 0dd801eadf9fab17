package anaplan_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// Issue 8 point 7: token and device-code bodies as JSON to Anaplan, forms
// elsewhere, and the user's explicit choice. The fake's endpoints are on
// 127.0.0.1, so AUTO sends them forms; OAuthBodyJSON stands for "this
// endpoint is Anaplan" (a proxy, a private deployment).
func TestOAuthJSONBodies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		accept []anaplantest.OAuthBodyFormat
		opt    []anaplan.Option
		cs     string // extra connection-string properties, with a connection string
		ok     bool
		seen   anaplantest.OAuthBodyFormat
	}{
		{"json option, json-only server", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyJSON}, []anaplan.Option{anaplan.WithOAuthBodyEncoding(anaplan.OAuthBodyJSON)}, "", true, anaplantest.OAuthBodyJSON},
		{"json property, json-only server", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyJSON}, nil, ";OAuthBodyFormat=JSON", true, anaplantest.OAuthBodyJSON},
		{"auto, form-only server not on anaplan.com", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyForm}, nil, "", true, anaplantest.OAuthBodyForm},
		{"form option, form-only server", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyForm}, []anaplan.Option{anaplan.WithOAuthBodyEncoding(anaplan.OAuthBodyForm)}, "", true, anaplantest.OAuthBodyForm},
		{"auto, json-only server: refused", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyJSON}, nil, "", false, anaplantest.OAuthBodyForm},
		{"json option, form-only server: refused", []anaplantest.OAuthBodyFormat{anaplantest.OAuthBodyForm}, []anaplan.Option{anaplan.WithOAuthBodyEncoding(anaplan.OAuthBodyJSON)}, "", false, anaplantest.OAuthBodyJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newOAuthFake(t)
			f.SetOAuthBodyFormats(tc.accept...)
			_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)

			// A refresh (the token is not given, so New refreshes at once).
			var opts []anaplan.Option
			if tc.cs != "" {
				opts = append(opts, anaplan.FromConnectionString("AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId="+codeClientID+
					";OAuthClientSecret="+codeSecret+";OAuthRefreshToken="+refresh+";OAuthSettingsLocation=memory://json-"+t.Name()+tc.cs))
			} else {
				opts = append(opts, anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret,
					Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))
			}
			c, err := anaplan.New(ctx, f.options(append(opts, tc.opt...)...)...)
			checkBodyOutcome(t, "refresh", c, err, tc.ok, refresh)

			// The device grant: device-code request and token polls.
			dopts := append([]anaplan.Option{anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: deviceClientID, Initiate: anaplan.InitiateGetAndRefresh,
				ShowDeviceCode: func(ctx context.Context, d *oauth2.DeviceAuthResponse) error { return f.ApproveDevice(d.UserCode) }}),
				anaplan.WithSettingsStore(anaplan.NewMemoryStore())}, tc.opt...)
			if tc.cs != "" {
				dopts = append(dopts, anaplan.FromConnectionString(strings.TrimPrefix(tc.cs, ";")))
			}
			c, err = anaplan.New(ctx, f.options(dopts...)...)
			checkBodyOutcome(t, "device", c, err, tc.ok, "")

			// The authorization code given as OAuthVerifier.
			code := f.authCode(t)
			vopts := append([]anaplan.Option{anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret,
				CallbackURL: "https://app.example.com/anaplan/callback", Initiate: anaplan.InitiateRefresh, Verifier: code}),
				anaplan.WithSettingsStore(anaplan.NewMemoryStore())}, tc.opt...)
			if tc.cs != "" {
				vopts = append(vopts, anaplan.FromConnectionString(strings.TrimPrefix(tc.cs, ";")))
			}
			c, err = anaplan.New(ctx, f.options(vopts...)...)
			checkBodyOutcome(t, "verifier", c, err, tc.ok, code)

			seen := f.OAuthBodyFormatsSeen()
			if seen[tc.seen] < 3 || len(seen) != 1 {
				t.Fatalf("bodies seen %v, want only %s (3 or more)", seen, tc.seen)
			}
		})
	}
}

func checkBodyOutcome(t *testing.T, what string, c *anaplan.Client, err error, ok bool, secret string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer c.Close(context.Background())
		if code, _ := whoami(t, c); code != 200 {
			t.Fatalf("%s: users/me %d", what, code)
		}
		return
	}
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 415 || !strings.Contains(err.Error(), "accepts only") {
		t.Fatalf("%s: %v, want the server's 415", what, err)
	}
	for _, s := range []string{secret, codeSecret} {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("%s: the error shows a secret: %v", what, err)
		}
	}
}

// The fake accepts both encodings by default and can go back to that.
func TestFakeOAuthBodyFormats(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	for _, enc := range []anaplan.OAuthBodyEncoding{anaplan.OAuthBodyJSON, anaplan.OAuthBodyForm, anaplan.OAuthBodyAuto} {
		_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
		c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret,
			Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()),
			anaplan.WithOAuthBodyEncoding(enc))...)
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		c.Close(ctx)
		f.SetOAuthBodyFormats(anaplantest.OAuthBodyJSON)
		f.SetOAuthBodyFormats() // both again
	}
	want := map[anaplantest.OAuthBodyFormat]int{anaplantest.OAuthBodyJSON: 1, anaplantest.OAuthBodyForm: 2}
	if d := cmp.Diff(want, f.OAuthBodyFormatsSeen()); d != "" {
		t.Fatalf("seen (-want +got):\n%s", d)
	}
}
