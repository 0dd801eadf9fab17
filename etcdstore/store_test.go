package etcdstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/etcdstore"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var keySeq atomic.Int64

// newKey returns an etcd key no other test uses.
func newKey(t *testing.T) string {
	return "/test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/" + time.Now().Format("150405.000000") + "-" + string(rune('a'+keySeq.Add(1)%26))
}

func sealKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newStore(t *testing.T, cli *clientv3.Client, key string, seal []byte, opts ...etcdstore.Option) *etcdstore.Store {
	s := etcdstore.New(cli, key, seal, opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

func sample() *anaplan.Settings {
	return &anaplan.Settings{AccessToken: "at-1", RefreshToken: "rt-1", TokenType: "Bearer",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), ClientID: "client-1"}
}

// Round trip, and a settings file and an etcd value are interchangeable in
// both directions.
func TestSealedRoundTripAndFileInterchange(t *testing.T) {
	c := sharedCluster(t)
	cli := c.client(t)
	ctx := ctxT(t)
	seal := sealKey(t)
	key := newKey(t)
	s := newStore(t, cli, key, seal)
	want := sample()
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	// The raw value is the FileStore envelope: it opens as a settings file.
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw value: %v", err)
	}
	raw := resp.Kvs[0].Value
	if bytes.Contains(raw, []byte("rt-1")) || bytes.Contains(raw, []byte("at-1")) {
		t.Fatal("the etcd value holds a token in clear")
	}
	file := filepath.Join(t.TempDir(), "settings")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := anaplan.NewFileStore(file, seal).Load(ctx)
	if err != nil {
		t.Fatalf("the etcd value as a settings file: %v", err)
	}
	if d := cmp.Diff(want, fromFile); d != "" {
		t.Fatalf("etcd value read as a file (-want +got):\n%s", d)
	}

	// The other way: a file that FileStore wrote seeds an empty key.
	laptop := filepath.Join(t.TempDir(), "laptop-settings")
	fs := anaplan.NewFileStore(laptop, seal)
	other := &anaplan.Settings{RefreshToken: "rt-laptop", ClientID: "client-1"}
	if err := fs.Save(ctx, other); err != nil {
		t.Fatal(err)
	}
	seeded := newStore(t, cli, newKey(t), seal)
	if err := seeded.CopyFrom(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if got, err := seeded.Load(ctx); err != nil || got.RefreshToken != "rt-laptop" {
		t.Fatalf("after CopyFrom: %v, %v", got, err)
	}
	// A second seed would replace a fleet's newer tokens: refused.
	if err := seeded.CopyFrom(ctx, fs); !errors.Is(err, etcdstore.ErrSettingsExist) {
		t.Fatalf("second CopyFrom: %v, want ErrSettingsExist", err)
	}
	// And the file's bytes put as they are (etcdctl put KEY < file) load.
	fileBytes, _ := os.ReadFile(laptop)
	putKey := newKey(t)
	if _, err := cli.Put(ctx, putKey, string(fileBytes)); err != nil {
		t.Fatal(err)
	}
	if got, err := newStore(t, cli, putKey, seal).Load(ctx); err != nil || got.RefreshToken != "rt-laptop" {
		t.Fatalf("file bytes put raw: %v, %v", got, err)
	}
	// Sealed by hand with SealSettings, too.
	sealed, err := anaplan.SealSettings(seal, want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, putKey, string(sealed)); err != nil {
		t.Fatal(err)
	}
	if got, err := newStore(t, cli, putKey, seal).Load(ctx); err != nil || cmp.Diff(want, got) != "" {
		t.Fatalf("SealSettings value: %v, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	c := sharedCluster(t)
	cli := c.client(t)
	ctx := ctxT(t)
	seal := sealKey(t)
	good, err := anaplan.SealSettings(seal, sample())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		value  *string // nil: no key
		key    []byte
		is     error
		isNot  []error
		reject string // must not appear in the error
	}{
		{name: "missing key", value: nil, key: seal, is: anaplan.ErrNoSettings},
		{name: "wrong key", value: ptr(string(good)), key: sealKey(t), is: anaplan.ErrSettingsKey, isNot: []error{anaplan.ErrNoSettings}},
		{name: "not JSON", value: ptr("garbage"), key: seal, isNot: []error{anaplan.ErrNoSettings, anaplan.ErrSettingsKey}},
		{name: "truncated", value: ptr(string(good[:len(good)/2])), key: seal, isNot: []error{anaplan.ErrNoSettings, anaplan.ErrSettingsKey}},
		{name: "modified envelope", value: ptr(strings.Replace(string(good), `"version":1`, `"version": 1`, 1)), key: seal, isNot: []error{anaplan.ErrNoSettings, anaplan.ErrSettingsKey}},
		{name: "empty value", value: ptr(""), key: seal, isNot: []error{anaplan.ErrNoSettings, anaplan.ErrSettingsKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newKey(t)
			if tt.value != nil {
				if _, err := cli.Put(ctx, key, *tt.value); err != nil {
					t.Fatal(err)
				}
			}
			got, err := newStore(t, cli, key, tt.key).Load(ctx)
			if err == nil {
				t.Fatalf("Load = %v, want an error", got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not match %v", err, tt.is)
			}
			for _, e := range tt.isNot {
				if errors.Is(err, e) {
					t.Errorf("error %q matches %v", err, e)
				}
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name the key", err)
			}
			if strings.Contains(err.Error(), "rt-1") || strings.Contains(err.Error(), "at-1") {
				t.Errorf("error %q shows a token", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// prepare is what the SDK does before a spend: read the settings under the
// lock, then ask the store.
func prepare(ctx context.Context, s *etcdstore.Store) (time.Time, error) {
	if _, err := s.Load(ctx); err != nil && !errors.Is(err, anaplan.ErrNoSettings) {
		return time.Time{}, err
	}
	return s.PrepareSpend(ctx)
}

// A second holder waits for the lock under its own context, in another
// "process" (another client and lease) and in the same Store.
func TestLockWaitsUnderContext(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	key := newKey(t)
	seal := sealKey(t)
	a := newStore(t, c.client(t), key, seal)
	b := newStore(t, c.client(t), key, seal)
	unlockA, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*etcdstore.Store{"other host": b, "same store": a} {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		unlock, err := s.Lock(wctx)
		cancel()
		if err == nil {
			unlock()
			t.Fatalf("%s: took a held lock", name)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error %v, want the context's deadline", name, err)
		}
		if el := time.Since(start); el < 250*time.Millisecond || el > 5*time.Second {
			t.Errorf("%s: gave up after %v, want about 300ms", name, el)
		}
	}
	// The waiter that gave up left no key behind that would hold the lock
	// after A: B gets it as soon as A unlocks.
	got := make(chan error, 1)
	go func() {
		unlock, err := b.Lock(ctx)
		if err == nil {
			unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("B took the lock while A held it: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	unlockA()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B did not get the lock after A unlocked")
	}
}

// A holder whose lease expires (a process paused or cut off: its keep-alive
// stops) is refused by PrepareSpend and Save, and the lock passes on.
func TestLeaseLostWhileHeld(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	key := newKey(t)
	seal := sealKey(t)
	a := newStore(t, c.client(t), key, seal, etcdstore.WithLeaseTTL(2*time.Second))
	b := newStore(t, c.client(t), key, seal, etcdstore.WithLeaseTTL(2*time.Second))
	if err := a.Save(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	unlockA, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	if _, err := prepare(ctx, a); err != nil {
		t.Fatalf("PrepareSpend while held: %v", err)
	}
	// The spend produced nothing; a new lock, a new pre-flight below.
	unlockA()
	unlockA2, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA2()
	a.StopKeepAliveForTest()
	// B waits until A's lease expires, then holds the lock.
	start := time.Now()
	unlockB, err := b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockB()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("B waited %v for an expired lease of 2s", el)
	}
	if _, err := prepare(ctx, a); !errors.Is(err, etcdstore.ErrLockLost) {
		t.Fatalf("PrepareSpend after the lease expired: %v, want ErrLockLost", err)
	}
	newer := sample()
	newer.RefreshToken = "rt-stale-holder"
	if err := a.Save(ctx, newer); !errors.Is(err, etcdstore.ErrLockLost) {
		t.Fatalf("Save after the lease expired: %v, want ErrLockLost", err)
	}
	if got, err := b.Load(ctx); err != nil || got.RefreshToken != "rt-1" {
		t.Fatalf("the stale holder's save landed: %v, %v", got, err)
	}
	// B, the holder now, spends and saves.
	if _, err := prepare(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, &anaplan.Settings{RefreshToken: "rt-b", ClientID: "client-1"}); err != nil {
		t.Fatal(err)
	}
	unlockB()
	unlockA2()
	// A recovers with a new lease.
	unlock, err := a.Lock(ctx)
	if err != nil {
		t.Fatalf("A cannot lock again: %v", err)
	}
	defer unlock()
	if _, err := prepare(ctx, a); err != nil {
		t.Fatalf("A's PrepareSpend under its new lease: %v", err)
	}
}

// A holder that lost its lease while its spend was in flight still lands the
// result, and no one spends in the meantime; once someone else changed the
// settings, its late result is refused.
func TestFenceAcrossLostLease(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	key := newKey(t)
	seal := sealKey(t)
	a := newStore(t, c.client(t), key, seal, etcdstore.WithLeaseTTL(2*time.Second))
	b := newStore(t, c.client(t), key, seal, etcdstore.WithLeaseTTL(2*time.Second))
	if err := a.Save(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	unlockA, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.StopKeepAliveForTest() // paused with the request in flight
	unlockB, err := b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(ctx, b); !errors.Is(err, etcdstore.ErrSpendPending) {
		t.Fatalf("B's PrepareSpend while A's spend may land: %v, want ErrSpendPending", err)
	}
	// A wakes up with the answer and saves: it lands.
	if err := a.Save(ctx, &anaplan.Settings{RefreshToken: "rt-a2", ClientID: "client-1"}); err != nil {
		t.Fatalf("A's late save: %v", err)
	}
	unlockA()
	// B read the settings before A's result landed: spending what it read
	// would spend A's old token a second time.
	if _, err := b.PrepareSpend(ctx); !errors.Is(err, etcdstore.ErrStale) {
		t.Fatalf("B's PrepareSpend on a read made stale by A's late save: %v, want ErrStale", err)
	}
	if got, err := b.Load(ctx); err != nil || got.RefreshToken != "rt-a2" {
		t.Fatalf("after A's late save: %v, %v", got, err)
	}
	if _, err := b.PrepareSpend(ctx); err != nil {
		t.Fatalf("B's PrepareSpend after reading A's result: %v", err)
	}
	unlockB() // B spent nothing: its fence is lifted

	// Again, but this time the settings change before A comes back.
	unlockA, err = a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.StopKeepAliveForTest()
	unlockB, err = b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, &anaplan.Settings{RefreshToken: "rt-reseeded", ClientID: "client-1"}); err != nil {
		t.Fatal(err)
	}
	unlockB()
	if err := a.Save(ctx, &anaplan.Settings{RefreshToken: "rt-a3", ClientID: "client-1"}); !errors.Is(err, etcdstore.ErrLockLost) {
		t.Fatalf("A's late save over changed settings: %v, want ErrLockLost", err)
	}
	unlockA()
	if got, err := b.Load(ctx); err != nil || got.RefreshToken != "rt-reseeded" {
		t.Fatalf("newer settings overwritten: %v, %v", got, err)
	}
}

// A pre-flight whose spend produced nothing to save does not block others.
func TestUnlockLiftsFence(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	key := newKey(t)
	seal := sealKey(t)
	a := newStore(t, c.client(t), key, seal)
	b := newStore(t, c.client(t), key, seal)
	unlock, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(ctx, a); err != nil {
		t.Fatal(err)
	}
	unlock()
	unlock, err = b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := prepare(ctx, b); err != nil {
		t.Fatalf("B blocked by a lifted fence: %v", err)
	}
}

func TestPrepareSpendDeadline(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	s := newStore(t, c.client(t), newKey(t), sealKey(t), etcdstore.WithLeaseTTL(10*time.Second), etcdstore.WithSafetyMargin(2*time.Second))
	if _, err := prepare(ctx, s); err == nil {
		t.Fatal("PrepareSpend without the lock succeeded")
	}
	unlock, err := s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := time.Now()
	dl, err := prepare(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	// The lease has at least 10s - 1s (whole seconds) - the time since the
	// last renewal; the deadline ends 2s before.
	if left := dl.Sub(before); left > 8*time.Second+100*time.Millisecond || left < 4*time.Second {
		t.Fatalf("deadline %v after the call, want between 4s and 8s", left)
	}
}

// A spend whose Save failed keeps its fence: neither another host nor another
// client of the same Store spends the stored (maybe spent) refresh token
// until the result lands.
func TestFailedSaveKeepsFence(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	key := newKey(t)
	seal := sealKey(t)
	a := newStore(t, c.client(t), key, seal)
	b := newStore(t, c.client(t), key, seal)
	if err := a.Save(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	unlock, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(ctx, a); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel() // etcd out of reach for the whole save
	if err := a.Save(gone, &anaplan.Settings{RefreshToken: "rt-2", ClientID: "client-1"}); err == nil {
		t.Fatal("Save with a cancelled context succeeded")
	}
	unlock()
	for name, s := range map[string]*etcdstore.Store{"same store": a, "other host": b} {
		unlock, err := s.Lock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prepare(ctx, s); !errors.Is(err, etcdstore.ErrSpendPending) {
			t.Errorf("%s: PrepareSpend after a failed save: %v, want ErrSpendPending", name, err)
		}
		unlock()
	}
	// The SDK's retry lands it; then spending is allowed again.
	unlock, err = a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, &anaplan.Settings{RefreshToken: "rt-2", ClientID: "client-1"}); err != nil {
		t.Fatalf("retried save: %v", err)
	}
	unlock()
	unlock, err = b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := prepare(ctx, b); err != nil {
		t.Fatalf("PrepareSpend after the result landed: %v", err)
	}
	if got, err := b.Load(ctx); err != nil || got.RefreshToken != "rt-2" {
		t.Fatalf("after the retried save: %v, %v", got, err)
	}
}

// PrepareSpend needs a read under the same lock, and a sign-in may prepare
// twice (before asking the person, and before the exchange).
func TestPrepareSpendNeedsReadAndMayRepeat(t *testing.T) {
	c := sharedCluster(t)
	ctx := ctxT(t)
	s := newStore(t, c.client(t), newKey(t), sealKey(t))
	if _, err := s.Load(ctx); !errors.Is(err, anaplan.ErrNoSettings) {
		t.Fatal(err)
	}
	unlock, err := s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := s.PrepareSpend(ctx); !errors.Is(err, etcdstore.ErrStale) {
		t.Fatalf("PrepareSpend without a read under the lock: %v, want ErrStale", err)
	}
	if _, err := prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrepareSpend(ctx); err != nil {
		t.Fatalf("second PrepareSpend before any spend: %v", err)
	}
	if err := s.Save(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	// After its own save, the store's view is current: a further spend
	// under the same lock needs no new read.
	if _, err := s.PrepareSpend(ctx); err != nil {
		t.Fatalf("PrepareSpend after this store's own save: %v", err)
	}
}
