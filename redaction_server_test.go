package anaplan_test

// Issue 7, point 5: server text is scrubbed of every secret the client knows
// before it reaches an error or a log line, whatever the server echoes.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"golang.org/x/oauth2"
)

// echoServer answers every request with an error whose text repeats the
// request: its headers, query and body, as a misconfigured proxy might.
func echoServer(t *testing.T, shape string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var echo strings.Builder
		echo.WriteString(r.Method + " " + r.URL.String() + " ")
		for k, v := range r.Header {
			echo.WriteString(k + "=" + strings.Join(v, ",") + " ")
		}
		echo.Write(body)
		text := echo.String()
		w.Header().Set("Content-Type", "application/json")
		var v any
		status := http.StatusUnauthorized
		switch shape {
		case "auth":
			v = map[string]any{"status": "FAILURE_BAD_HEADER", "statusMessage": text}
		case "oauth":
			status = http.StatusBadRequest
			v = map[string]any{"error": "invalid_request", "error_description": text}
		case "api":
			status = http.StatusInternalServerError
			v = map[string]any{"status": map[string]any{"code": 500, "message": text}}
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func assertClean(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(text, form) {
				t.Errorf("%s shows a secret (%.4s…): %s", what, s, text)
			}
		}
	}
	if !strings.Contains(text, anaplan.Redacted) {
		t.Errorf("%s: expected the echoed secret to read %s: %s", what, anaplan.Redacted, text)
	}
}

func TestServerTextScrubbedBasic(t *testing.T) {
	echo := echoServer(t, "auth")
	const user, pw = "ada@example.com", "Tr0ub4dor&3-secret"
	_, err := anaplan.New(context.Background(), anaplan.WithBasic(user, pw), anaplan.WithHTTPClient(echo.Client()),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: echo.URL, API: echo.URL + "/2/0"}))
	if err == nil {
		t.Fatal("the echo server accepted the sign-in")
	}
	assertClean(t, "Basic sign-in error", err.Error(), pw, user+":"+pw)
}

func TestServerTextScrubbedOAuth(t *testing.T) {
	echo := echoServer(t, "oauth")
	const secret, refresh = "sup3r-client-secret", "rt-0123456789abcdef"
	var logs bytes.Buffer
	ep := anaplan.Endpoints{Auth: echo.URL, API: echo.URL + "/2/0",
		OAuth: oauth2Endpoint(echo.URL)}
	_, err := anaplan.New(context.Background(), anaplan.WithHTTPClient(echo.Client()), anaplan.WithEndpoints(ep),
		anaplan.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		anaplan.WithSettingsStore(anaplan.NewMemoryStore()),
		anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: "cid", ClientSecret: secret, RefreshToken: refresh, Initiate: anaplan.InitiateRefresh}))
	if err == nil {
		t.Fatal("the echo server gave tokens")
	}
	assertClean(t, "OAuth refresh error", err.Error(), secret, refresh)
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), refresh) {
		t.Errorf("the log shows a secret: %s", logs.String())
	}
}

func TestServerTextScrubbedAPI(t *testing.T) {
	echo := echoServer(t, "api")
	const token = "at-9f8e7d6c5b4a"
	c, err := anaplan.New(context.Background(), anaplan.WithHTTPClient(echo.Client()),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: echo.URL, API: echo.URL + "/2/0"}),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: token, Type: anaplan.TokenTypeAnaplan}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me?password=never-known-pw")
	if err != nil {
		t.Fatal(err)
	}
	err = anaplan.CheckResponse(resp)
	if err == nil {
		t.Fatal("500 accepted")
	}
	assertClean(t, "API error", err.Error(), token, "never-known-pw")
}

func oauth2Endpoint(base string) oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: base + "/auth/authorize", TokenURL: base + "/oauth/token", DeviceAuthURL: base + "/oauth/device/code"}
}
