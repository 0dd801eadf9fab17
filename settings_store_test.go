package anaplan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	settingsTestAccessToken  = "at-SECRET-4f1c"
	settingsTestRefreshToken = "rt-SECRET-9b2e"
)

func sampleSettings() *Settings {
	return &Settings{
		AccessToken:  settingsTestAccessToken,
		RefreshToken: settingsTestRefreshToken,
		TokenType:    TokenTypeAnaplan,
		Expiry:       time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		ClientID:     "client-123",
	}
}

func randomSettingsKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSettingsAEAD(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	a, err := newSettingsAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// assertNoSettingsSecrets fails when out contains any of secrets.
func assertNoSettingsSecrets(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s reveals a secret: %q", what, out)
		}
	}
}

// ---- Settings redaction

func TestSettingsRedaction(t *testing.T) {
	s := sampleSettings()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for name, arg := range map[string]any{"value": *s, "pointer": s} {
			out := fmt.Sprintf(verb, arg)
			assertNoSettingsSecrets(t, verb+" of "+name, out, settingsTestAccessToken, settingsTestRefreshToken)
			if !strings.Contains(out, Redacted) || !strings.Contains(out, "client-123") {
				t.Errorf("%s of %s = %q, want %s and the client ID", verb, name, out, Redacted)
			}
		}
	}
	if got := fmt.Sprint(Settings{ClientID: "c"}); strings.Contains(got, Redacted) {
		t.Errorf("empty tokens shown as %s: %q", Redacted, got)
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("saved", "settings", s, "value", *s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("saved", "settings", s, "value", *s)
	assertNoSettingsSecrets(t, "slog output", buf.String(), settingsTestAccessToken, settingsTestRefreshToken)
	if n := strings.Count(buf.String(), Redacted); n != 8 {
		t.Errorf("slog output has %d %s, want 8:\n%s", n, Redacted, buf.String())
	}

	// JSON keeps the tokens: stores need them.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// ---- SettingsKey

func TestSettingsKeyGolden(t *testing.T) {
	// Computed once (and checked against an independent HKDF-SHA256 in
	// Python): a file sealed on another machine with the same client opens.
	tests := []struct{ id, secret, want string }{
		{"my-client-id", "my-client-secret", "c4bb52a2898a81a6ece8d717362bd9e1c34bb1f9c50f7f91995bd4e21bc03693"},
		{"device-client", "", "91a985f74b92c4c2a04c21342dd3b5c05f9194781099c0f665b0f84a20cdd629"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(SettingsKey(tt.id, tt.secret)); got != tt.want {
			t.Errorf("SettingsKey(%q, …) = %s, want %s", tt.id, got, tt.want)
		}
	}
}

func TestSettingsKeySeparation(t *testing.T) {
	pairs := [][2]string{
		{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"", "abc"}, {"c", "ab"},
		{"client", "secret"}, {"secret", "client"}, {"client", "secret2"}, {"client2", "secret"},
		{"a\x00\x00\x00\x01b", ""}, {"a", "b"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		k := SettingsKey(p[0], p[1])
		if len(k) != 32 {
			t.Fatalf("SettingsKey(%q, …) has %d bytes, want 32", p[0], len(k))
		}
		if !bytes.Equal(k, SettingsKey(p[0], p[1])) {
			t.Errorf("SettingsKey(%q, …) is not deterministic", p[0])
		}
		if prev, ok := seen[string(k)]; ok {
			t.Errorf("SettingsKey%q == SettingsKey%q", p, prev)
		}
		seen[string(k)] = p
	}
}

// ---- FileStore: round trip and file layout

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	path := filepath.Join(dir, "oauth-settings")
	s := NewFileStore(path, SettingsKey("client-123", "shh"))

	first := sampleSettings()
	second := sampleSettings()
	second.AccessToken, second.RefreshToken = "at-2", "rt-2"
	second.Expiry = time.Now() // monotonic reading and local zone: must compare Equal after the trip
	var files [][]byte
	for _, want := range []*Settings{first, second} {
		if err := s.Save(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load after Save (-want +got):\n%s", diff)
		}
		// A second store with the same client opens the file.
		got, err = NewFileStore(path, SettingsKey("client-123", "shh")).Load(ctx)
		if err != nil || !got.Expiry.Equal(want.Expiry) {
			t.Errorf("another FileStore with the same key: %v, %v", got, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}

	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700, filepath.Dir(dir): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("mode of %s = %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"oauth-settings"}, names); diff != "" {
		t.Errorf("directory after two saves (-want +got):\n%s", diff)
	}

	// The envelope says what it is, hides the tokens, and uses a new nonce each write.
	var env map[string]any
	if err := json.Unmarshal(files[1], &env); err != nil {
		t.Fatalf("settings file is not JSON: %v", err)
	}
	if env["format"] != "go-anaplan-settings" || env["version"] != 1.0 || env["alg"] != "AES-256-GCM" {
		t.Errorf("envelope header = %v", env)
	}
	for i, f := range files {
		assertNoSettingsSecrets(t, fmt.Sprintf("file %d", i), string(f), settingsTestAccessToken, settingsTestRefreshToken, "at-2", "rt-2")
	}
	var e0, e1 settingsEnvelope
	json.Unmarshal(files[0], &e0)
	json.Unmarshal(files[1], &e1)
	if bytes.Equal(e0.Nonce, e1.Nonce) {
		t.Error("two saves used the same nonce")
	}
}

func TestFileStoreNoSettings(t *testing.T) {
	base := t.TempDir()
	for _, path := range []string{
		filepath.Join(base, "missing"),
		filepath.Join(base, "no", "such", "dir", "settings"),
	} {
		_, err := NewFileStore(path, randomSettingsKey(t)).Load(t.Context())
		if !errors.Is(err, ErrNoSettings) {
			t.Errorf("Load(%s) = %v, want ErrNoSettings", path, err)
		}
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "no")); !errors.Is(err, os.ErrNotExist) {
		t.Error("Load created directories")
	}
}

// ---- FileStore: unreadable files are reported and left alone

// sealSettingsWith builds a settings file whose ciphertext was sealed under aad and
// nonce: a well-formed v1 envelope on disk.
func sealSettingsWith(t testing.TB, key, aad, nonce []byte, plain []byte) []byte {
	t.Helper()
	a := mustSettingsAEAD(t, key)
	b, err := json.Marshal(settingsEnvelope{
		Format: settingsFormat, Version: settingsVersion, Alg: settingsAlg,
		Nonce: nonce, Ciphertext: a.Seal(nil, nonce, plain, aad),
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func flipSettingsByte(b []byte, sub string, bit byte) []byte {
	i := bytes.Index(b, []byte(sub))
	if i < 0 {
		panic("flipSettingsByte: " + sub + " not found")
	}
	c := bytes.Clone(b)
	c[i+len(sub)-1] ^= bit
	return c
}

func TestFileStoreUnreadable(t *testing.T) {
	key := randomSettingsKey(t)
	otherKey := randomSettingsKey(t)
	good, err := encodeSettingsFile(mustSettingsAEAD(t, key), rand.Reader, sampleSettings())
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(sampleSettings())
	nonce := make([]byte, 12)
	newer := strings.Replace(string(good), `"version":1`, `"version":2`, 1)
	otherHeader, _ := json.Marshal(settingsHeader{Format: settingsFormat, Version: 1, Alg: "AES-128-GCM"})
	var env settingsEnvelope
	json.Unmarshal(good, &env)
	ctFlipped := bytes.Clone(env.Ciphertext)
	ctFlipped[0] ^= 1
	envFlipped := env
	envFlipped.Ciphertext = ctFlipped
	ctFile, _ := json.Marshal(envFlipped)

	tests := []struct {
		name   string
		data   []byte
		key    []byte
		kind   error
		phrase string
	}{
		{"wrong key", good, otherKey, errSettingsKey, "OAuthClientId/OAuthClientSecret or OAuthSettingsKey differ"},
		{"truncated", good[:len(good)/2], key, errSettingsCorrupt, "truncated"},
		{"empty", nil, key, errSettingsCorrupt, "truncated"},
		{"garbage", []byte("\x00\x01 not a settings file"), key, errSettingsCorrupt, "move it aside"},
		{"other format", []byte(`{"format":"something-else","version":1}`), key, errSettingsCorrupt, "format"},
		{"newer version", []byte(newer), key, errSettingsNewer, "newer version"},
		{"format bit flip", flipSettingsByte(good, `"go-anaplan-settings`, 1), key, errSettingsCorrupt, "format"},
		{"version bit flip down", flipSettingsByte(good, `"version":1`, 1), key, errSettingsCorrupt, "version 0"},
		{"version bit flip up", flipSettingsByte(good, `"version":1`, 2), key, errSettingsNewer, "version 3"},
		{"alg bit flip", flipSettingsByte(good, `"AES-256`, 4), key, errSettingsCorrupt, "algorithm"},
		{"field name case flip", flipSettingsByte(good, `"n`, 0x20), key, errSettingsCorrupt, "modified"},
		{"ciphertext bit flip", append(ctFile, '\n'), key, errSettingsKey, "different key"},
		{"sealed under another header", sealSettingsWith(t, key, otherHeader, nonce, plain), key, errSettingsKey, "different key"},
		{"extra field", []byte(strings.Replace(string(good), `"alg"`, `"x":1,"alg"`, 1)), key, errSettingsCorrupt, "modified"},
		{"trailing data", append(bytes.Clone(good), "{}"...), key, errSettingsCorrupt, "truncated or not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "settings")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := NewFileStore(path, tt.key).Load(t.Context())
			if err == nil {
				t.Fatalf("Load = %v, want an error", st)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("Load error %q is not %q", err, tt.kind)
			}
			if errors.Is(err, ErrNoSettings) {
				t.Errorf("Load error %q must not read as ErrNoSettings", err)
			}
			for _, want := range []string{path, tt.phrase} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Load error %q does not contain %q", err, want)
				}
			}
			assertNoSettingsSecrets(t, "error", err.Error(), settingsTestAccessToken, settingsTestRefreshToken, string(tt.key))
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tt.data) {
				t.Error("Load changed the file")
			}
		})
	}
}

// Every single-bit change anywhere in a settings file is refused.
func TestDecodeSettingsFileEveryBitFlip(t *testing.T) {
	a := mustSettingsAEAD(t, randomSettingsKey(t))
	good, err := encodeSettingsFile(a, rand.Reader, sampleSettings())
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range [][]byte{good, bytes.TrimSuffix(good, []byte("\n")), append(bytes.Clone(bytes.TrimSuffix(good, []byte("\n"))), "\r\n"...)} {
		if _, err := decodeSettingsFile(variant, a); err != nil {
			t.Fatalf("decode %q: %v", variant, err)
		}
	}
	for i := range good {
		for bit := range 8 {
			c := bytes.Clone(good)
			c[i] ^= 1 << bit
			if st, err := decodeSettingsFile(c, a); err == nil {
				t.Fatalf("flip of bit %d at byte %d (%q) accepted: %v", bit, i, good[i], st)
			}
		}
	}
}

func TestFileStorePermissions(t *testing.T) {
	if runtime.GOOS == "windows" || !settingsLockCrossProcess { // not Unix: mode bits are not access control
		t.Skip("Unix permission checks only")
	}
	key := randomSettingsKey(t)
	tests := []struct {
		name              string
		fileMode, dirMode os.FileMode
		phrase            string
	}{
		{"group-writable file", 0o620, 0o700, "chmod 600"},
		{"world-writable file", 0o606, 0o700, "chmod 600"},
		{"group-writable directory", 0o600, 0o770, "chmod 700"},
		{"world-writable directory", 0o600, 0o703, "chmod 700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			path := filepath.Join(dir, "settings")
			s := NewFileStore(path, key)
			if err := s.Save(t.Context(), sampleSettings()); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			if err := os.Chmod(path, tt.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(t.Context())
			if err == nil {
				t.Fatal("Load accepted the insecure file")
			}
			for _, want := range []string{tt.phrase, dir, "writable"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Load error %q does not contain %q", err, want)
				}
			}
			if tt.dirMode != 0o700 {
				if err := s.Save(t.Context(), sampleSettings()); err == nil || !strings.Contains(err.Error(), "chmod 700") {
					t.Errorf("Save into a writable directory = %v, want a chmod 700 error", err)
				}
				if _, err := s.Lock(t.Context()); err == nil || !strings.Contains(err.Error(), "chmod 700") {
					t.Errorf("Lock in a writable directory = %v, want a chmod 700 error", err)
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the refused file was changed")
			}
		})
	}
}

func TestFileStoreSaveFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings")
	// A non-empty directory where the file should be: the rename fails.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := NewFileStore(path, randomSettingsKey(t)).Save(t.Context(), sampleSettings()); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "settings" {
		t.Errorf("directory holds %v after a failed save, want only settings/", entries)
	}
	if _, err := NewFileStore(path, randomSettingsKey(t)).Load(t.Context()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load of a directory = %v", err)
	}
}

func TestFileStoreConcurrentSaveLoad(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "settings")
	key := randomSettingsKey(t)
	if err := NewFileStore(path, key).Save(ctx, sampleSettings()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 4 {
		s := NewFileStore(path, key)
		wg.Go(func() {
			for j := range 5 {
				st := sampleSettings()
				st.AccessToken = fmt.Sprintf("at-%d-%d", i, j)
				if err := s.Save(ctx, st); err != nil {
					errs <- err
				}
				if _, err := s.Load(ctx); err != nil { // never a half-written file
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after concurrent saves, want 1", len(entries))
	}
}

func TestFileStoreBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		store  *FileStore
		phrase string
	}{
		{"no key", NewFileStore(filepath.Join(dir, "s"), nil), "32 bytes"},
		{"short key", NewFileStore(filepath.Join(dir, "s"), make([]byte, 16)), "not 16"},
		{"long key", NewFileStore(filepath.Join(dir, "s"), make([]byte, 33)), "not 33"},
		{"empty path", NewFileStore("", make([]byte, 32)), "path is empty"},
		{"zero value", &FileStore{}, "NewFileStore"},
		{"nil", nil, "NewFileStore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, lerr := tt.store.Load(t.Context())
			serr := tt.store.Save(t.Context(), sampleSettings())
			_, kerr := tt.store.Lock(t.Context())
			for _, err := range []error{lerr, serr, kerr} {
				if err == nil || !strings.Contains(err.Error(), tt.phrase) {
					t.Errorf("error = %v, want one containing %q", err, tt.phrase)
				}
			}
		})
	}
	if err := NewFileStore(filepath.Join(dir, "s"), make([]byte, 32)).Save(t.Context(), nil); err == nil {
		t.Error("Save(nil) succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed calls left %v behind", entries)
	}
}

// ---- FileStore: locking

func TestFileStoreLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "settings")
	key := randomSettingsKey(t)
	a, b, c := NewFileStore(path, key), NewFileStore(path, key), NewFileStore(path, key)

	unlockA, err := a.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + ".lock"); err != nil || (runtime.GOOS != "windows" && settingsLockCrossProcess && fi.Mode().Perm() != 0o600) {
		t.Errorf("lock file: %v, %v; want mode 0600", fi, err)
	}

	// Another FileStore on the same path, and the same FileStore from
	// another goroutine, wait, and give up with their context.
	for name, s := range map[string]*FileStore{"other store": b, "same store": a} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err := s.Lock(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Lock while held = %v, want DeadlineExceeded", name, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := b.Lock(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Lock after cancel = %v, want Canceled", err)
	}
	if _, err := b.Lock(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a cancelled context = %v, want Canceled", err)
	}

	// Released, the waiter gets it.
	got := make(chan func())
	go func() {
		u, err := b.Lock(t.Context())
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	unlockA()
	unlockB := <-got

	// unlock is idempotent: a second unlockA does not release b's lock.
	unlockA()
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = c.Lock(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock after a repeated unlock of a = %v, want DeadlineExceeded", err)
	}
	unlockB()
	unlockB()
	unlockC, err := c.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	unlockC()

	settingsPathLocks.Lock()
	n := len(settingsPathLocks.m)
	settingsPathLocks.Unlock()
	if n != 0 {
		t.Errorf("%d in-process path locks left registered", n)
	}
}

// The lock serializes read-modify-write cycles of independent stores.
func TestFileStoreLockSerializes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "settings")
	key := randomSettingsKey(t)
	if err := NewFileStore(path, key).Save(ctx, &Settings{AccessToken: "0"}); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 4, 3
	var wg sync.WaitGroup
	for range workers {
		s := NewFileStore(path, key)
		wg.Go(func() {
			for range rounds {
				unlock, err := s.Lock(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				st, err := s.Load(ctx)
				if err == nil {
					var n int
					fmt.Sscan(st.AccessToken, &n)
					st.AccessToken = fmt.Sprint(n + 1)
					err = s.Save(ctx, st)
				}
				unlock()
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st, err := NewFileStore(path, key).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(workers * rounds); st.AccessToken != want {
		t.Errorf("counter = %s, want %s: updates were lost", st.AccessToken, want)
	}
}

// lockSettingsFile alone (without the in-process lock) excludes a second open of the
// same file in this process: flock semantics, not fcntl.
func TestSettingsLockFileOpenFileDescription(t *testing.T) {
	if !settingsLockCrossProcess {
		t.Skip("no file lock on this system")
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	release, err := lockSettingsFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = lockSettingsFile(ctx, path)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lockSettingsFile while held = %v, want DeadlineExceeded", err)
	}
	release()
	release2, err := lockSettingsFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	release2()
}

const settingsLockChildEnv = "ANAPLAN_TEST_SETTINGS_LOCK_CHILD"

// TestFileStoreLockCrossProcess runs this test binary again as a child that
// holds the lock until its stdin closes.
func TestFileStoreLockCrossProcess(t *testing.T) {
	if path := os.Getenv(settingsLockChildEnv); path != "" {
		unlock, err := NewFileStore(path, make([]byte, 32)).Lock(context.Background())
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("LOCKED")
		io.Copy(io.Discard, os.Stdin)
		unlock()
		return
	}
	if !settingsLockCrossProcess {
		t.Skip("no cross-process lock on this system")
	}
	path := filepath.Join(t.TempDir(), "settings")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFileStoreLockCrossProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), settingsLockChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "LOCKED\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}

	s := NewFileStore(path, make([]byte, 32))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	_, err = s.Lock(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock while another process holds it = %v, want DeadlineExceeded", err)
	}

	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		unlock, err := s.Lock(ctx) // waits for the child
		if err == nil {
			unlock()
		}
		got <- err
	}()
	stdin.Close() // the child releases and exits
	if err := <-got; err != nil {
		t.Errorf("Lock after the child released = %v", err)
	}
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// ---- MemoryStore

func TestMemoryStore(t *testing.T) {
	ctx := t.Context()
	m := NewMemoryStore()
	if _, err := m.Load(ctx); !errors.Is(err, ErrNoSettings) {
		t.Fatalf("Load of an empty store = %v, want ErrNoSettings", err)
	}
	in := sampleSettings()
	if err := m.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.AccessToken = "changed after Save"
	out, err := m.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleSettings(), out); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	out.RefreshToken = "changed after Load"
	again, _ := m.Load(ctx)
	if diff := cmp.Diff(sampleSettings(), again); diff != "" {
		t.Errorf("the store changed with the caller's copy (-want +got):\n%s", diff)
	}
	if err := m.Save(ctx, nil); err == nil {
		t.Error("Save(nil) succeeded")
	}

	unlock, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = m.Lock(tctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock while held = %v, want DeadlineExceeded", err)
	}
	got := make(chan func())
	go func() {
		u, err := m.Lock(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	unlock()
	unlock2 := <-got
	unlock() // idempotent: must not release the second holder
	tctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = m.Lock(tctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock after a repeated unlock = %v, want DeadlineExceeded", err)
	}
	unlock2()

	for _, bad := range []*MemoryStore{nil, {}} {
		if _, err := bad.Load(ctx); err == nil {
			t.Error("Load on an uninitialized MemoryStore succeeded")
		}
		if err := bad.Save(ctx, in); err == nil {
			t.Error("Save on an uninitialized MemoryStore succeeded")
		}
		if _, err := bad.Lock(ctx); err == nil {
			t.Error("Lock on an uninitialized MemoryStore succeeded")
		}
	}
}

func TestMemoryStoreNamed(t *testing.T) {
	a, b, c := memoryStoreNamed("test-named-a"), memoryStoreNamed("test-named-a"), memoryStoreNamed("test-named-c")
	if a != b {
		t.Error("the same name gave two stores")
	}
	if a == c {
		t.Error("two names gave one store")
	}
	if err := a.Save(t.Context(), sampleSettings()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(t.Context()); err != nil {
		t.Errorf("store by the same name: %v", err)
	}
	if _, err := c.Load(t.Context()); !errors.Is(err, ErrNoSettings) {
		t.Errorf("store by another name: %v, want ErrNoSettings", err)
	}
	if got := a.String(); got != "MemoryStore{name:test-named-a}" {
		t.Errorf("String = %q", got)
	}
}

// ---- stores print no secrets

func TestSettingsStoreFormatting(t *testing.T) {
	key := randomSettingsKey(t)
	path := filepath.Join(t.TempDir(), "settings")
	fsStore := NewFileStore(path, key)
	mem := NewMemoryStore()
	if err := mem.Save(t.Context(), sampleSettings()); err != nil {
		t.Fatal(err)
	}
	if err := fsStore.Save(t.Context(), sampleSettings()); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		settingsTestAccessToken, settingsTestRefreshToken,
		string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), fmt.Sprint(key), fmt.Sprintf("%x", key[:8]),
	}
	type nested struct {
		f FileStore
		m MemoryStore
	}
	args := map[string]any{
		"*FileStore": fsStore, "FileStore": *fsStore,
		"*MemoryStore": mem, "MemoryStore": *mem,
		"unexported fields": nested{*fsStore, *mem},
	}
	for name, arg := range args {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, arg)
			assertNoSettingsSecrets(t, verb+" of "+name, out, secrets...)
			if strings.Contains(name, "FileStore") && !strings.Contains(out, path) {
				t.Errorf("%s of %s = %q, want the path", verb, name, out)
			}
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("store", "file", fsStore, "mem", mem)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("store", "file", *fsStore, "mem", *mem)
	assertNoSettingsSecrets(t, "slog output", buf.String(), secrets...)
	if !strings.Contains(buf.String(), path) {
		t.Errorf("slog output does not show the path: %s", buf.String())
	}
	bad := NewFileStore(path, make([]byte, 7))
	_, err := bad.Load(t.Context())
	assertNoSettingsSecrets(t, "key error", err.Error()+fmt.Sprintf("%#v", bad), "\x00\x00\x00\x00\x00\x00\x00")
}

// ---- fuzzing the decoder

// settingsNonceReader yields a repeating byte pattern: deterministic nonces for seeds.
type settingsNonceReader byte

func (r settingsNonceReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r) + byte(i)
	}
	return len(p), nil
}

func FuzzDecodeSettingsFile(f *testing.F) {
	key := SettingsKey("fuzz-client", "fuzz-secret")
	a := mustSettingsAEAD(f, key)
	want := sampleSettings()
	good, err := encodeSettingsFile(a, settingsNonceReader(7), want)
	if err != nil {
		f.Fatal(err)
	}
	wrongKey, err := encodeSettingsFile(mustSettingsAEAD(f, SettingsKey("fuzz-client", "other")), settingsNonceReader(7), want)
	if err != nil {
		f.Fatal(err)
	}
	plain, _ := json.Marshal(want)
	otherHeader, _ := json.Marshal(settingsHeader{Format: settingsFormat, Version: 1, Alg: "X"})
	f.Add(good)
	f.Add(bytes.TrimSuffix(good, []byte("\n")))
	f.Add(good[:len(good)/2])
	f.Add(wrongKey)
	f.Add(flipSettingsByte(good, `"version":1`, 2))
	f.Add(flipSettingsByte(good, `"go-anaplan-settings`, 1))
	f.Add(sealSettingsWith(f, key, otherHeader, make([]byte, 12), plain))
	f.Add([]byte(strings.Replace(string(good), `"nonce"`, `"Nonce"`, 1)))
	f.Add([]byte(`{"format":"go-anaplan-settings","version":1,"alg":"AES-256-GCM","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
	f.Add([]byte(`{"format":"go-anaplan-settings","version":99999999999999999999}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})

	canonical := bytes.TrimSuffix(good, []byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeSettingsFile(data, a)
		if err != nil {
			if st != nil {
				t.Fatal("settings returned with an error")
			}
			if !errors.Is(err, errSettingsCorrupt) && !errors.Is(err, errSettingsKey) && !errors.Is(err, errSettingsNewer) {
				t.Fatalf("error of no known kind: %v", err)
			}
			assertNoSettingsSecrets(t, "error", err.Error(), settingsTestAccessToken, settingsTestRefreshToken)
			return
		}
		// Only the file this key sealed opens, byte for byte (line ending aside).
		body := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
		if !bytes.Equal(body, canonical) {
			t.Fatalf("a tampered file opened:\n%q", data)
		}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Fatalf("decoded settings (-want +got):\n%s", diff)
		}
	})
}

func TestFileStoreThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "settings")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	ctx := context.Background()
	key := SettingsKey("id", "secret")
	st := &Settings{RefreshToken: "r", ClientID: "id"}
	if err := NewFileStore(link, key).Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("Save replaced the symbolic link with a file: %v %v", fi, err)
	}
	got, err := NewFileStore(real, key).Load(ctx)
	if err != nil || got.RefreshToken != "r" {
		t.Fatalf("the link's target does not hold the settings: %v %v", got, err)
	}
	// The link and its target lock each other out.
	unlock, err := NewFileStore(link, key).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := NewFileStore(real, key).Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock through the target while the link is locked: %v", err)
	}
}
