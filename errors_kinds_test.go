package anaplan_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// Issue 11, point 4: 403 is ErrForbidden (and still ErrUnauthorized, as
// API.md fixes it); a refused client secret says to check it.
func TestForbiddenIsDistinct(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	srv.FailNext(1, anaplantest.Fault{Status: 403, Path: "GET /2/0/users/me"})
	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
	if err != nil {
		t.Fatal(err)
	}
	err = anaplan.CheckResponse(resp)
	if !errors.Is(err, anaplan.ErrForbidden) || !errors.Is(err, anaplan.ErrUnauthorized) || !strings.Contains(err.Error(), "permission") {
		t.Fatalf("403: %v", err)
	}
	resp, _ = c.HTTPClient().Get(c.Endpoints().API + "/workspaces/nope")
	if err := anaplan.CheckResponse(resp); errors.Is(err, anaplan.ErrForbidden) {
		t.Fatalf("a 404 matched ErrForbidden: %v", err)
	}
}

func TestRefusedClientSecretSaysSo(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	cfg := refreshCfg(refresh)
	cfg.ClientSecret = "not-the-secret"
	_, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(cfg), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if err == nil || !strings.Contains(err.Error(), "OAuthClientSecret") || errors.Is(err, anaplan.ErrInteractionRequired) || strings.Contains(err.Error(), "sign in again") {
		t.Fatalf("a wrong client secret: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Fatal("the error shows the secret")
	}
}

// Issue 11, point 5: error messages do not repeat their prefix.
func TestErrorPrefixOnce(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	_, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, "wrong-password"))...)
	if err == nil || strings.Count(err.Error(), "anaplan: ") != 1 || !errors.Is(err, anaplan.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("the *APIError is not reachable: %v", err)
	}
	store := anaplan.NewFileStore(t.TempDir()+"/s", []byte("short"))
	_, err = anaplan.New(ctx, fakeOptions(srv, anaplan.WithSettingsStore(store),
		anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: "c", RefreshToken: "r-123456", Initiate: anaplan.InitiateRefresh}))...)
	if err == nil || strings.Count(err.Error(), "anaplan: ") != 1 {
		t.Fatalf("bad settings key: %v", err)
	}
}
