package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-anaplan/anaplan"
)

type schemeStore struct {
	*anaplan.MemoryStore
	loc    string
	key    []byte
	closed atomic.Int32
}

func (s *schemeStore) Close() error { s.closed.Add(1); return nil }

var lastSchemeStore atomic.Pointer[schemeStore]

func init() {
	anaplan.RegisterSettingsScheme("testkv", func(loc string, key []byte) (anaplan.SettingsStore, error) {
		if strings.Contains(loc, "fail") {
			return nil, errors.New("cannot reach the store")
		}
		s := &schemeStore{MemoryStore: anaplan.NewMemoryStore(), loc: loc, key: key}
		lastSchemeStore.Store(s)
		return s, nil
	})
}

func TestSettingsSchemeRegistry(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	cs := "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret +
		";OAuthRefreshToken=" + refresh + ";OAuthSettingsLocation=TESTKV://h1:1,h2:2/anaplan/prod"
	c, err := anaplan.New(ctx, f.options(anaplan.FromConnectionString(cs))...)
	if err != nil {
		t.Fatal(err)
	}
	s := lastSchemeStore.Load()
	if s == nil || s.loc != "TESTKV://h1:1,h2:2/anaplan/prod" || !bytes.Equal(s.key, anaplan.SettingsKey(codeClientID, codeSecret)) {
		t.Fatalf("the opener got %+v", s)
	}
	if st, err := s.Load(ctx); err != nil || st.RefreshToken == refresh {
		t.Fatalf("the rotated token is not in the registered store: %v", err)
	}
	if err := c.Close(ctx); err != nil || s.closed.Load() != 1 {
		t.Fatalf("Close: %v, store closed %d times", err, s.closed.Load())
	}
	c.Close(ctx)
	if s.closed.Load() != 1 {
		t.Fatal("the store was closed twice")
	}

	// An opener's error names the property, never the location.
	_, err = anaplan.New(ctx, f.options(anaplan.FromConnectionString(strings.Replace(cs, "h1:1", "fail-secret-host:1", 1)))...)
	if err == nil || !strings.Contains(err.Error(), "OAuthSettingsLocation") || strings.Contains(err.Error(), "fail-secret-host") {
		t.Fatalf("opener failure: %v", err)
	}
	for _, bad := range []string{"memory", "file", "", "a:b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterSettingsScheme(%q) did not panic", bad)
				}
			}()
			anaplan.RegisterSettingsScheme(bad, func(string, []byte) (anaplan.SettingsStore, error) { return nil, nil })
		}()
	}
}

func TestSealedSettingsInterchangeWithFileStore(t *testing.T) {
	ctx := context.Background()
	key := anaplan.SettingsKey(codeClientID, codeSecret)
	path := filepath.Join(t.TempDir(), "s")
	fs := anaplan.NewFileStore(path, key)
	want := &anaplan.Settings{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", ClientID: codeClientID}
	if err := fs.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	got, err := anaplan.OpenSealedSettings(key, data)
	if err != nil || *got != *want {
		t.Fatalf("open a FileStore file: %v %v", got, err)
	}
	sealed, err := anaplan.SealSettings(key, want)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.Load(ctx); err != nil || *got != *want {
		t.Fatalf("FileStore reads SealSettings: %v %v", got, err)
	}
	if _, err := anaplan.OpenSealedSettings(bytes.Repeat([]byte{1}, 32), sealed); !errors.Is(err, anaplan.ErrSettingsKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := anaplan.OpenSealedSettings(key, sealed[:20]); err == nil || errors.Is(err, anaplan.ErrSettingsKey) {
		t.Fatalf("damaged: %v", err)
	}
}
