package anaplan_test

// Regression tests of issue 7, points 1-3: a single-use credential is never
// spent when its result cannot be kept, a retried save never overwrites what
// it cannot read as its own, and no per-request timeout cuts a spend short.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// smallFS mounts a tmpfs of size bytes for the test, or skips (outside CI)
// where mounting is not allowed. In CI (which runs as root) it must work.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs for the full-disk test (CI runs as root and must allow it): %v: %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here (%v: %s); the full-disk case is covered by TestSpendRefusedByStorePreflight", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill takes every free byte of the file system holding dir.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for { // the last partial block
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	f.Close()
	return func() { os.Remove(name) }
}

func refreshCfg(refresh string) anaplan.OAuthConfig {
	return anaplan.OAuthConfig{ClientID: codeClientID, ClientSecret: codeSecret, Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}
}

func TestSpendRefusedWhenSettingsDiskFull(t *testing.T) {
	dir := smallFS(t, "256k")
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	path := filepath.Join(dir, "oauth-settings")
	store := anaplan.NewFileStore(path, anaplan.SettingsKey(codeClientID, codeSecret))
	free := fill(t, dir)

	_, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if !errors.Is(err, anaplan.ErrStoreNotReady) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("a full settings disk must refuse the refresh, naming the directory and the fix: %v", err)
	}
	if strings.Contains(err.Error(), refresh) {
		t.Fatal("the error shows the refresh token")
	}
	if n := f.tokenCalls(); n != 0 {
		t.Fatalf("the refresh token was spent (%d token calls) although its result could not be kept", n)
	}
	// Nothing is left behind on the full disk but the lock file and the filler.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("a reservation was left behind: %s", e.Name())
		}
	}

	// Once there is room, the next run refreshes normally with the old token.
	free()
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatalf("with room again: %v", err)
	}
	defer c.Close(ctx)
	if s, err := store.Load(ctx); err != nil || s.RefreshToken == refresh || s.RefreshToken == "" {
		t.Fatalf("the rotated token was not saved: %v", err)
	}
	if uses := f.RefreshTokenUses(); uses[refresh] != 1 || f.GrantRevocations() != 0 {
		t.Fatalf("uses %v, revocations %d", uses, f.GrantRevocations())
	}

	// The disk fills up while the client runs: the next refresh is refused
	// before it is sent, the current grant stays good, and after the disk
	// has room again the client refreshes with the token it holds.
	free = fill(t, dir)
	f.Advance(40 * time.Minute)
	before := f.tokenCalls()
	if _, err := c.Token(ctx); !errors.Is(err, anaplan.ErrStoreNotReady) {
		t.Fatalf("refresh with a full disk: %v", err)
	}
	if f.tokenCalls() != before {
		t.Fatal("a refresh was sent with a full disk")
	}
	free()
	if _, err := c.Token(ctx); err != nil {
		t.Fatalf("after freeing the disk: %v", err)
	}
	for rt, n := range f.RefreshTokenUses() {
		if n != 1 {
			t.Fatalf("refresh token %.6s… used %d times", rt, n)
		}
	}
}

func TestSpendRefusedWhenSettingsDiskReadOnly(t *testing.T) {
	dir := smallFS(t, "256k")
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	store := anaplan.NewFileStore(filepath.Join(dir, "oauth-settings"), anaplan.SettingsKey(codeClientID, codeSecret))
	// The lock file exists before the file system turns read-only.
	unlock, err := store.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v %s", err, out)
	}
	_, err = anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if err == nil || f.tokenCalls() != 0 {
		t.Fatalf("a read-only settings directory must refuse the spend: err %v, %d token calls", err, f.tokenCalls())
	}
	if !strings.Contains(err.Error(), "not writable") && !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("the error does not say what to fix: %v", err)
	}
}

// preflightStore is a custom store that takes part in the pre-flight.
type preflightStore struct {
	anaplan.SettingsStore
	refuse   atomic.Bool
	prepared atomic.Int32
	deadline time.Time
}

func (s *preflightStore) PrepareSpend(ctx context.Context) (time.Time, error) {
	s.prepared.Add(1)
	if s.refuse.Load() {
		return time.Time{}, errors.New("vault is sealed")
	}
	return s.deadline, nil
}

func TestSpendRefusedByStorePreflight(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	store := &preflightStore{SettingsStore: anaplan.NewMemoryStore()}
	store.refuse.Store(true)
	_, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if !errors.Is(err, anaplan.ErrStoreNotReady) || !strings.Contains(err.Error(), "vault is sealed") || f.tokenCalls() != 0 {
		t.Fatalf("err %v, %d token calls", err, f.tokenCalls())
	}
	// A deadline that leaves no time for the spend is a refusal too.
	store.refuse.Store(false)
	store.deadline = time.Now().Add(100 * time.Millisecond)
	if _, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...); !errors.Is(err, anaplan.ErrStoreNotReady) || f.tokenCalls() != 0 {
		t.Fatalf("a deadline in 100ms: err %v, %d token calls", err, f.tokenCalls())
	}
	store.deadline = time.Time{}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if store.prepared.Load() != 3 || f.tokenCalls() != 1 {
		t.Fatalf("prepared %d times, %d token calls", store.prepared.Load(), f.tokenCalls())
	}
}

// TestSpendSavedWhateverTheRequestTimeout: with a per-request timeout of
// 300ms and a token endpoint that rotates at once but answers after 900ms,
// the answer is still received and saved, and the grant survives.
func TestSpendSavedWhateverTheRequestTimeout(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, f.Endpoints().OAuth.TokenURL, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := f.Client().Do(req) // the server acts (and rotates) now...
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		time.Sleep(900 * time.Millisecond) // ...and answers late
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(answer)
	}))
	defer slow.Close()
	ep := f.Endpoints()
	ep.OAuth.TokenURL = slow.URL + "/oauth/token"
	hc := f.Client() // httptest servers share one certificate: it trusts slow too
	store := anaplan.NewMemoryStore()
	_, err := anaplan.New(ctx, anaplan.WithEndpoints(ep), anaplan.WithHTTPClient(hc), anaplan.WithTimeout(300*time.Millisecond),
		anaplan.WithClockForTest(f.Now), anaplan.WithFastRetriesForTest(),
		anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))
	if err != nil {
		t.Fatalf("a slow token endpoint under a short request timeout: %v", err)
	}
	s, err := store.Load(ctx)
	if err != nil || s.RefreshToken == refresh {
		t.Fatalf("the rotated refresh token was lost: %v", err)
	}
	// The saved token is the live one: the next run refreshes with it.
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	f.Advance(40 * time.Minute)
	if code, _ := whoami(t, c); code != 200 || f.GrantRevocations() != 0 {
		t.Fatalf("users/me %d, revocations %d", code, f.GrantRevocations())
	}
}

// failOnceStore fails its next Save once.
type failOnceStore struct {
	anaplan.SettingsStore
	fail atomic.Bool
}

func (s *failOnceStore) Save(ctx context.Context, st *anaplan.Settings) error {
	if s.fail.CompareAndSwap(true, false) {
		return errors.New("disk hiccup")
	}
	return s.SettingsStore.Save(ctx, st)
}

func (s *failOnceStore) Lock(ctx context.Context) (func(), error) {
	return s.SettingsStore.(anaplan.Locker).Lock(ctx)
}

// TestRetriedSaveNeverOverwritesForeignFile: after a failed save, a settings
// file that this client cannot read as its own (sealed with another key, or
// a symlink's target that is not a settings file) is left untouched.
func TestRetriedSaveNeverOverwritesForeignFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"sealed with another key", func(t *testing.T, path string) {
			other := anaplan.NewFileStore(path, bytes.Repeat([]byte{7}, 32))
			if err := other.Save(context.Background(), &anaplan.Settings{RefreshToken: "someone-elses", ClientID: "other"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink to a foreign file", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "passwd-copy")
			if err := os.WriteFile(target, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Remove(path)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"another client's tokens", func(t *testing.T, path string) {
			same := anaplan.NewFileStore(path, anaplan.SettingsKey(codeClientID, codeSecret))
			if err := same.Save(context.Background(), &anaplan.Settings{RefreshToken: "rt-of-other", ClientID: "other-client"}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newOAuthFake(t)
			ctx := context.Background()
			_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
			path := filepath.Join(t.TempDir(), "oauth-settings")
			store := &failOnceStore{SettingsStore: anaplan.NewFileStore(path, anaplan.SettingsKey(codeClientID, codeSecret))}
			store.fail.Store(true)
			c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
			if err != nil {
				t.Fatal(err)
			}
			tc.replace(t, path)
			real, _ := filepath.EvalSymlinks(path)
			before, _ := os.ReadFile(real)
			// The next refresh would retry the save: it must not replace the file.
			f.Advance(40 * time.Minute)
			_, err = c.Token(ctx)
			if err == nil {
				t.Fatal("a refresh over a foreign settings file must be refused, not spent into memory")
			}
			if err := c.Close(ctx); err == nil {
				t.Fatal("Close must report that the tokens could not be saved")
			}
			after, _ := os.ReadFile(real)
			if !bytes.Equal(before, after) {
				t.Fatalf("the foreign file was overwritten:\nbefore %q\nafter  %q", before, after)
			}
			for rt, n := range f.RefreshTokenUses() {
				if n != 1 {
					t.Fatalf("refresh token %.6s… used %d times", rt, n)
				}
			}
		})
	}
}

// TestTwoFailedSavesNeverReplay: a store that takes no part in the
// pre-flight fails two saves in a row, while it still holds an older refresh
// token; when it recovers, the client saves what it holds rather than
// mistaking the old token for a newer one, and nothing is spent twice.
func TestTwoFailedSavesNeverReplay(t *testing.T) {
	f := newOAuthFake(t)
	ctx := context.Background()
	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	store := &failingStore{SettingsStore: anaplan.NewMemoryStore()}
	c, err := anaplan.New(ctx, f.options(anaplan.WithOAuth(refreshCfg(refresh)), anaplan.WithSettingsStore(store))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	store.fail.Store(true)
	for i := range 2 { // two refreshes whose saves fail
		f.Advance(40 * time.Minute)
		if code, _ := whoami(t, c); code != 200 {
			t.Fatalf("refresh %d: %d", i, code)
		}
	}
	store.fail.Store(false)
	f.Advance(40 * time.Minute)
	if code, _ := whoami(t, c); code != 200 || f.GrantRevocations() != 0 {
		t.Fatalf("after recovery: %d, %d revocations", code, f.GrantRevocations())
	}
	for rt, n := range f.RefreshTokenUses() {
		if n != 1 {
			t.Fatalf("refresh token %.6s… used %d times", rt, n)
		}
	}
	tok, _ := c.Token(ctx)
	if s, err := store.Load(ctx); err != nil || s.AccessToken != tok.Value {
		t.Fatalf("the store does not hold the tokens in use: %v", err)
	}
}

// TestPrepareSpendRemovesStaleReservations: what killed processes left of
// the next settings file is removed, so kills cannot fill the disk; a
// fresh temporary file (another writer's, in use) is kept.
func TestPrepareSpendRemovesStaleReservations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "oauth-settings")
	store := anaplan.NewFileStore(path, anaplan.SettingsKey(codeClientID, codeSecret))
	stale := filepath.Join(dir, ".oauth-settings.tmp-111")
	fresh := filepath.Join(dir, ".oauth-settings.tmp-222")
	other := filepath.Join(dir, ".other.tmp-333")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, make([]byte, 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(other, old, old)
	ctx := context.Background()
	unlock, err := store.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PrepareSpend(ctx); err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a stale reservation was left in place")
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
