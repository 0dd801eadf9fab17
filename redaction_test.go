package anaplan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Secrets used on every failure path below; none may appear in an error, a
// log line or a printed value.
const (
	secretPassword   = "Pw-7f3a9c-SECRET"
	secretKeyPass    = "Kp-51d0e2-SECRET"
	secretClient     = "Cs-88ab41-SECRET"
	secretAccess     = "At-0c9d17-SECRET"
	secretRefresh    = "Rt-6e2f55-SECRET"
	secretVerifier   = "Vf-a17c3b-SECRET"
	secretSettingKey = "Sk-2b8e90-SECRET"
)

var allSecrets = []string{secretPassword, secretKeyPass, secretClient, secretAccess, secretRefresh, secretVerifier, secretSettingKey}

func assertNoSecret(t *testing.T, what, s string, extra ...string) {
	t.Helper()
	for _, sec := range append(append([]string{}, allSecrets...), extra...) {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s shows a secret (%s…): %s", what, sec[:4], s)
		}
	}
}

func TestRedactionOnFailurePaths(t *testing.T) {
	f := newOAuthFake(t)
	f.AddUser(basicUser, basicPassword)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	opts := func(more ...anaplan.Option) []anaplan.Option {
		return append(fakeOptions(f.Server, anaplan.WithLogger(logger)), more...)
	}
	leaf := newLeaf(t, f.Server)
	pfx, _ := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, secretKeyPass)
	dir := t.TempDir()
	pfxFile := filepath.Join(dir, "c.pfx")
	os.WriteFile(pfxFile, pfx, 0o600)
	access, refresh, exp := f.IssueOAuthTokens(codeClientID, oauthUser)

	cases := []struct {
		name string
		opts []anaplan.Option
	}{
		{"basic wrong password", opts(anaplan.WithBasic(basicUser, secretPassword))},
		{"pfx wrong password", opts(anaplan.FromConnectionString("AuthScheme=Certificate;CertificateType=PFXBLOB;Certificate=" + base64.StdEncoding.EncodeToString(pfx) + ";CertificatePassword=" + secretPassword))},
		{"pfx file wrong password", opts(anaplan.FromConnectionString("AuthScheme=Certificate;CertificateType=PFXFILE;Certificate='" + pfxFile + "';CertificatePassword=" + secretPassword))},
		{"pem key wrong password", opts(anaplan.FromConnectionString("AuthScheme=Certificate;CertificateType=PUBLIC_KEY_BLOB;Certificate=" + base64.StdEncoding.EncodeToString(leaf.CertPEM) + ";PrivateKeyType=PEMKEY_BLOB;PrivateKey=" + base64.StdEncoding.EncodeToString(encryptedPKCS8PEM(t, leaf, secretKeyPass)) + ";PrivateKeyPassword=" + secretPassword))},
		{"conn string unterminated quote", opts(anaplan.FromConnectionString("AuthScheme=Basic;User=u;Password='" + secretPassword))},
		{"conn string typo", opts(anaplan.FromConnectionString("AuthScheme=Basic;User=u;Pasword=" + secretPassword))},
		{"conn string bad region", opts(anaplan.FromConnectionString("AuthScheme=Basic;User=u;Password=" + secretPassword + ";Region=" + secretPassword))},
		{"conn string duplicate", opts(anaplan.FromConnectionString("Password=" + secretPassword + ";password=" + secretPassword))},
		{"conn string bad settings key", opts(anaplan.FromConnectionString("AuthScheme=OAuth;OAuthClientId=x;OAuthSettingsKey=" + secretSettingKey))},
		{"server error", opts(anaplan.WithBasic(basicUser, basicPassword))},
		{"oauth bad client secret", opts(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: secretClient, Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))},
		{"oauth refused refresh token", opts(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh, RefreshToken: secretRefresh, AccessToken: secretAccess, Expiry: time.Unix(1, 0)}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))},
		{"oauth bad verifier", opts(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: secretClient, Initiate: anaplan.InitiateRefresh, Verifier: secretVerifier}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))},
		{"oauth verifier URL with error", opts(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: secretClient, Initiate: anaplan.InitiateRefresh, Verifier: "https://x/cb?error=access_denied&code=" + secretVerifier}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))},
		{"oauth off expired", opts(anaplan.WithOAuth(anaplan.OAuthConfig{AccessToken: secretAccess, RefreshToken: secretRefresh, Expiry: time.Unix(1, 0)}))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "server error" {
				f.FailNext(1, anaplantest.Fault{Status: 500, Path: "/token/authenticate", Body: `{"status":"FAILURE","statusMessage":"boom"}`})
			}
			c, err := anaplan.New(ctx, tc.opts...)
			if err == nil {
				c.Close(ctx)
				t.Fatal("no error")
			}
			assertNoSecret(t, "error", err.Error(), codeSecret, basicPassword)
			assertNoSecret(t, "%+v of error", fmt.Sprintf("%+v %#v", err, err), codeSecret, basicPassword)
			var ae *anaplan.APIError
			if errors.As(err, &ae) {
				assertNoSecret(t, "%#v of APIError", fmt.Sprintf("%#v", ae))
			}
		})
	}
	// Working clients: tokens in use never reach the log or printed values.
	c, err := anaplan.New(ctx, opts(anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, AccessToken: access, RefreshToken: refresh, Expiry: exp, Initiate: anaplan.InitiateRefresh}), anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
	if err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour)
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	whoami(t, c)
	printed := fmt.Sprintf("%v %+v %#v %v %+v %#v", c, c, c, tok, tok, *tok)
	logger.Info("values", "client", c, "token", tok)
	c.Close(ctx)
	assertNoSecret(t, "printed client/token", printed, tok.Value, access, refresh)
	assertNoSecret(t, "log", logs.String(), tok.Value, access, refresh, codeSecret, basicPassword)
	if !strings.Contains(logs.String(), "/oauth/token") {
		t.Fatal("the debug log is empty: the test proves nothing")
	}

	// Exported values that hold secrets print redacted.
	cfg := anaplan.OAuthConfig{ClientID: "id", ClientSecret: secretClient, AccessToken: secretAccess, RefreshToken: secretRefresh, Verifier: secretVerifier}
	st := anaplan.Settings{AccessToken: secretAccess, RefreshToken: secretRefresh, ClientID: "id"}
	fs := anaplan.NewFileStore(filepath.Join(dir, "s"), []byte(secretSettingKey+strings.Repeat("x", 32-len(secretSettingKey))))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("v", "cfg", cfg, "pcfg", &cfg, "st", st, "pst", &st, "fs", fs)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("v", "cfg", cfg, "st", &st, "fs", fs)
	for _, v := range []any{cfg, &cfg, st, &st, fs, []any{cfg, st}, struct{ C anaplan.OAuthConfig }{cfg}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assertNoSecret(t, verb, fmt.Sprintf(verb, v))
		}
	}
	assertNoSecret(t, "slog", buf.String())
}
