package anaplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingFetcher hands out numbered tokens living ttl on clock.
type countingFetcher struct {
	clock   *fakeClock
	ttl     time.Duration
	calls   atomic.Int32
	prevs   []string
	mu      sync.Mutex
	fail    atomic.Bool
	gate    chan struct{} // when set, fetch waits on it
	started chan struct{}
}

func (f *countingFetcher) fetch(ctx context.Context, prev *Token) (*Token, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	if prev != nil {
		f.prevs = append(f.prevs, prev.Value)
	} else {
		f.prevs = append(f.prevs, "")
	}
	f.mu.Unlock()
	if f.started != nil {
		select {
		case f.started <- struct{}{}:
		default:
		}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail.Load() {
		return nil, errors.New("auth service down")
	}
	return &Token{Value: fmt.Sprintf("tok-%d", n), Type: TokenTypeAnaplan, Expiry: f.clock.Now().Add(f.ttl)}, nil
}

func newTestCache(f fetcher, clock *fakeClock) *tokenCache {
	c := newTokenCache(f, clock.Now, nil)
	c.jitter = func() float64 { return 0 }
	return c
}

func TestCacheOneFetchForManyGoroutines(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: 35 * time.Minute, gate: make(chan struct{})}
	c := newTestCache(f, clock)
	defer c.close(context.Background())

	const n = 1000
	var wg sync.WaitGroup
	vals := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.Token(context.Background())
			errs[i] = err
			if tok != nil {
				vals[i] = tok.Value
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them pile up on the one fetch
	close(f.gate)
	wg.Wait()
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("fetches = %d, want 1", got)
	}
	for i := range n {
		if errs[i] != nil || vals[i] != "tok-1" {
			t.Fatalf("goroutine %d: %q, %v", i, vals[i], errs[i])
		}
	}

	// At expiry, again exactly one fetch however many ask.
	clock.Advance(36 * time.Minute)
	f.gate = nil
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := c.Token(context.Background()); err != nil || tok.Value != "tok-2" {
				t.Errorf("after expiry: %v, %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("fetches after expiry = %d, want 2", got)
	}
}

func TestCacheEarlyRefreshServesCurrentAndRefreshesOnce(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: 35 * time.Minute}
	c := newTestCache(f, clock)
	defer c.close(context.Background())
	ctx := context.Background()

	tok, _ := c.Token(ctx)
	if tok.Value != "tok-1" {
		t.Fatalf("first token %v", tok)
	}
	clock.Advance(29 * time.Minute) // 6 minutes left: still fresh (window 5 min)
	if tok, _ = c.Token(ctx); tok.Value != "tok-1" || f.calls.Load() != 1 {
		t.Fatalf("fresh token refetched: %v calls=%d", tok, f.calls.Load())
	}
	clock.Advance(2 * time.Minute) // 4 minutes left: early window
	f.gate = make(chan struct{})
	f.started = make(chan struct{}, 1)
	for range 50 {
		if tok, _ = c.Token(ctx); tok.Value != "tok-1" {
			t.Fatalf("in early window got %v, want the current token served", tok)
		}
	}
	<-f.started
	close(f.gate)
	c.bg.Wait()
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (one background refresh)", got)
	}
	if f.prevs[1] != "tok-1" {
		t.Fatalf("refresh got prev %q, want tok-1 (so that it can refresh rather than sign in)", f.prevs[1])
	}
	if tok, _ = c.Token(ctx); tok.Value != "tok-2" {
		t.Fatalf("after refresh got %v", tok)
	}
}

func TestCacheFailedEarlyRefreshKeepsValidToken(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: 35 * time.Minute}
	var logs strings.Builder
	c := newTokenCache(f, clock.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	c.jitter = func() float64 { return 0 }
	defer c.close(context.Background())
	ctx := context.Background()
	c.Token(ctx)
	clock.Advance(31 * time.Minute)
	f.fail.Store(true)
	tok, err := c.Token(ctx)
	if err != nil || tok.Value != "tok-1" {
		t.Fatalf("got %v %v", tok, err)
	}
	c.bg.Wait()
	// The failure does not cause a refresh on every call.
	for range 100 {
		if tok, err = c.Token(ctx); err != nil || tok.Value != "tok-1" {
			t.Fatalf("got %v %v", tok, err)
		}
	}
	c.bg.Wait()
	if got := f.calls.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2: a failed early refresh must back off", got)
	}
	if !strings.Contains(logs.String(), "early token refresh failed") || strings.Contains(logs.String(), "tok-1") {
		t.Fatalf("log: %s", logs.String())
	}
	// After the back-off it tries again, and recovers.
	f.fail.Store(false)
	clock.Advance(2 * time.Minute)
	c.Token(ctx)
	c.bg.Wait()
	if tok, _ = c.Token(ctx); tok.Value != "tok-3" {
		t.Fatalf("after recovery got %v", tok)
	}
	// Once expired, a failing fetch is an error, not the dead token.
	clock.Advance(40 * time.Minute)
	f.fail.Store(true)
	if _, err = c.Token(ctx); err == nil {
		t.Fatal("expired token served")
	}
}

func TestCacheCallerCancellationStopsOnlyThatCaller(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: time.Hour, gate: make(chan struct{}), started: make(chan struct{}, 1)}
	c := newTestCache(f, clock)
	defer c.close(context.Background())

	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() { _, err := c.Token(ctx1); err1 <- err }()
	<-f.started
	res2 := make(chan *Token, 1)
	go func() { tok, _ := c.Token(context.Background()); res2 <- tok }()
	cancel1()
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(f.gate)
	if tok := <-res2; tok == nil || tok.Value != "tok-1" {
		t.Fatalf("other caller got %v: the shared fetch must survive one caller's cancellation", tok)
	}
	if f.calls.Load() != 1 {
		t.Fatalf("calls = %d", f.calls.Load())
	}
}

func TestCacheInvalidateOnce(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: time.Hour}
	c := newTestCache(f, clock)
	defer c.close(context.Background())
	ctx := context.Background()
	old, _ := c.Token(ctx)
	var wg sync.WaitGroup
	var dropped atomic.Int32
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.invalidate(old) {
				dropped.Add(1)
			}
			if tok, err := c.Token(ctx); err != nil || tok.Value != "tok-2" {
				t.Errorf("got %v %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if dropped.Load() != 1 || f.calls.Load() != 2 {
		t.Fatalf("dropped %d times, %d fetches; want 1 and 2", dropped.Load(), f.calls.Load())
	}
	if f.prevs[1] != "" {
		t.Fatalf("a rejected token was offered for refresh: %q", f.prevs[1])
	}
}

func TestCacheWindowScalesForShortTokens(t *testing.T) {
	clock := newFakeClock()
	for _, tc := range []struct {
		ttl, minFresh time.Duration
	}{
		{35 * time.Minute, 29 * time.Minute},
		{time.Minute, 41 * time.Second},
		{2 * time.Second, 1300 * time.Millisecond},
	} {
		c := newTokenCache(nil, clock.Now, nil)
		c.jitter = func() float64 { return 0.999 }
		e := c.newEntry(&Token{Value: "v", Expiry: clock.Now().Add(tc.ttl)}, clock.Now())
		if !e.fresh(clock.Now().Add(tc.minFresh)) {
			t.Errorf("ttl %v: not fresh after %v (refreshAt %v)", tc.ttl, tc.minFresh, e.refreshAt.Sub(clock.Now()))
		}
		if e.fresh(clock.Now().Add(tc.ttl)) || e.usable(clock.Now().Add(tc.ttl)) {
			t.Errorf("ttl %v: still fresh or usable at expiry", tc.ttl)
		}
		c.close(context.Background())
	}
}

func TestCacheClosed(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: time.Hour}
	c := newTestCache(f, clock)
	c.Token(context.Background())
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTokenRedaction(t *testing.T) {
	tok := Token{Value: "s3cr3t-token-value", Type: TokenTypeAnaplan, Expiry: time.Unix(1e9, 0)}
	var buf strings.Builder
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	l.Info("x", "tok", tok, "ptr", &tok)
	for _, s := range []string{
		fmt.Sprintf("%v", tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprint(&tok),
		fmt.Sprintf("%+v", &tok), fmt.Sprintf("%#v", &tok), fmt.Sprintf("%v", []*Token{&tok}), buf.String(),
	} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("secret shown: %s", s)
		}
		if !strings.Contains(s, Redacted) {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

func TestCacheNeverServesExpiredAfterFailedEarlyRefresh(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, ttl: 35 * time.Minute}
	c := newTestCache(f, clock)
	defer c.close(context.Background())
	ctx := context.Background()
	c.Token(ctx)
	// 12 s before expiry (2 s of it usable): the early refresh fails, and
	// the retry is set no later than the expiry.
	clock.Advance(35*time.Minute - 12*time.Second)
	f.fail.Store(true)
	if tok, err := c.Token(ctx); err != nil || tok.Value != "tok-1" {
		t.Fatalf("%v %v", tok, err)
	}
	c.bg.Wait()
	clock.Advance(3 * time.Second) // past the usable end
	if tok, err := c.Token(ctx); err == nil {
		t.Fatalf("served %v after its expiry", tok)
	}
	f.fail.Store(false)
	if tok, err := c.Token(ctx); err != nil || tok.Value == "tok-1" {
		t.Fatalf("after recovery: %v %v", tok, err)
	}
}
