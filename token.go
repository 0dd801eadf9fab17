package anaplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// TokenTypeAnaplan is the type of every token the SDK hands out: Anaplan
// expects "Authorization: AnaplanAuthToken <value>" from every scheme.
const TokenTypeAnaplan = "AnaplanAuthToken"

// Token is an Anaplan access token.
//
// String, GoString and LogValue never show Value, so a Token can be printed
// or logged safely. A *Token returned by a Client is shared: do not modify it.
type Token struct {
	Value  string    // the credential; never printed by String, GoString, LogValue or any error
	Type   string    // "AnaplanAuthToken"
	Expiry time.Time // zero: unknown / does not expire
}

// Valid reports whether t is non-nil, has a value and has not expired.
func (t *Token) Valid() bool {
	return t != nil && t.Value != "" && (t.Expiry.IsZero() || time.Now().Before(t.Expiry))
}

// String implements fmt.Stringer without revealing the value.
func (t Token) String() string {
	return fmt.Sprintf("Token{Type:%s Value:%s Expiry:%s}", t.Type, redact(t.Value), fmtTime(t.Expiry))
}

// GoString implements fmt.GoStringer without revealing the value.
func (t Token) GoString() string {
	return fmt.Sprintf("anaplan.Token{Type:%q, Value:%q, Expiry:%q}", t.Type, redact(t.Value), fmtTime(t.Expiry))
}

// LogValue implements slog.LogValuer without revealing the value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", t.Type),
		slog.String("value", redact(t.Value)),
		slog.Time("expiry", t.Expiry),
	)
}

// Redacted is what String, GoString and LogValue show instead of a secret.
const Redacted = "REDACTED"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// TokenSource supplies tokens. Implementations must be safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (*Token, error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (*Token, error)

// Token calls f(ctx).
func (f TokenSourceFunc) Token(ctx context.Context) (*Token, error) { return f(ctx) }

// fetcher obtains tokens for one authentication scheme. The cache calls it
// one at a time; prev is the current token while it is still usable (so that
// it can be refreshed), else nil.
type fetcher interface {
	fetch(ctx context.Context, prev *Token) (*Token, error)
}

// closer is implemented by fetchers that end a session (logout) or persist
// state when the client closes.
type closer interface {
	close(ctx context.Context, cur *Token) error
}

// Cache tuning. Anaplan's tokens live 35 minutes; Anaplan Connect refreshes
// when fewer than 5 minutes remain.
const (
	maxRefreshWindow = 5 * time.Minute  // refresh early when less than this remains...
	maxExpirySkew    = 10 * time.Second // ...and treat a token as expired this much early
	refreshRetryMin  = 5 * time.Second  // after a failed early refresh, wait at least this
	fetchTimeout     = 2 * time.Minute  // bound on a shared (detached) fetch
)

// entry is one immutable snapshot of the cache.
type entry struct {
	tok       *Token
	authValue []string  // {"AnaplanAuthToken <value>"}, built once, shared by every request
	refreshAt time.Time // from then on, refresh in the background (zero: never)
	expiry    time.Time // from then on, the token is not served (zero: never)
	// due: the refresh time has come. On the real clock a timer replaces the
	// entry by a due copy at refreshAt, so the fast path reads no clock: an
	// entry that is not due is served as it is. Due entries (and every entry
	// on a test clock) are checked against the clock.
	due   bool
	bg    atomic.Bool
	timer atomic.Pointer[time.Timer]
}

// fresh: served as it is, no refresh due. refreshAt is never after expiry,
// so a fresh entry is also usable.
func (e *entry) fresh(now time.Time) bool {
	return e.refreshAt.IsZero() || now.Before(e.refreshAt)
}

func (e *entry) usable(now time.Time) bool {
	return e.expiry.IsZero() || now.Before(e.expiry)
}

// tokenCache is the one cache every scheme sits behind, modelled on
// aws-sdk-go-v2's credential cache: an atomic snapshot for the fast path
// (no lock, no allocation), singleflight for fetches, fetches detached from
// the caller's cancellation, an early-refresh window with jitter during which
// the current token keeps being served while one background refresh runs.
type tokenCache struct {
	f      fetcher
	now    func() time.Time
	timers bool           // the real clock: refresh times are kept by timers, not read on every call
	jitter func() float64 // in [0, 1)
	logger *slog.Logger

	cur    atomic.Pointer[entry]
	closed atomic.Bool
	sf     singleflight.Group

	life   context.Context // cancelled by close: ends detached fetches
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// newTokenCache puts f behind a cache. A nil now is the real clock, whose
// refresh times are kept by timers so that the cached path reads no clock; a
// test clock is read on every call instead (timers cannot follow it).
func newTokenCache(f fetcher, now func() time.Time, logger *slog.Logger) *tokenCache {
	timers := now == nil
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	life, cancel := context.WithCancel(context.Background())
	return &tokenCache{f: f, now: now, timers: timers, jitter: rand.Float64, logger: logger, life: life, cancel: cancel}
}

// Token returns the cached token, fetching a new one when there is none or it
// has expired. In the early-refresh window it returns the current token and
// starts one background refresh.
func (c *tokenCache) Token(ctx context.Context) (*Token, error) {
	e, err := c.entry(ctx)
	if err != nil {
		return nil, err
	}
	return e.tok, nil
}

func (c *tokenCache) entry(ctx context.Context) (*entry, error) {
	e := c.cur.Load()
	if e != nil && !e.due && c.timers && !c.closed.Load() {
		return e, nil // the fast path: no clock, no lock, no allocation
	}
	return c.entrySlow(ctx, e)
}

func (c *tokenCache) entrySlow(ctx context.Context, e *entry) (*entry, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if e != nil {
		now := c.now()
		if e.fresh(now) {
			return e, nil
		}
		if e.usable(now) {
			c.refreshInBackground(e)
			return e, nil
		}
	}
	return c.fetchWait(ctx, e)
}

// fetchWait joins (or starts) the shared fetch and waits for it under the
// caller's own context: a cancelled caller stops waiting, the fetch goes on
// for the others.
func (c *tokenCache) fetchWait(ctx context.Context, seen *entry) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := c.sf.DoChan("", func() (any, error) { return c.fetchShared(ctx, seen) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*entry), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchShared runs inside the singleflight: at most one at a time.
func (c *tokenCache) fetchShared(ctx context.Context, seen *entry) (*entry, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	now := c.now()
	cur := c.cur.Load()
	if cur != nil && cur != seen && cur.fresh(now) {
		return cur, nil // another fetch already replaced what this caller saw
	}
	var prev *Token
	if cur != nil && cur.usable(now) {
		prev = cur.tok
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	stop := context.AfterFunc(c.life, cancel)
	defer stop()
	tok, err := c.f.fetch(fctx, prev)
	if err != nil {
		if c.life.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	if tok == nil || tok.Value == "" {
		return nil, errors.New("anaplan: token source returned an empty token")
	}
	ne := c.newEntry(tok, c.now())
	c.publish(ne) // even when closing: close logs out what the fetch obtained
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return ne, nil
}

func (c *tokenCache) newEntry(tok *Token, now time.Time) *entry {
	e := &entry{tok: tok, authValue: []string{TokenTypeAnaplan + " " + tok.Value}}
	if tok.Expiry.IsZero() {
		return e
	}
	life := max(tok.Expiry.Sub(now), 0)
	skew := min(maxExpirySkew, life/10)
	window := min(maxRefreshWindow, life/4)
	window += time.Duration(c.jitter() * float64(window) / 5)
	e.expiry = tok.Expiry.Add(-skew)
	e.refreshAt = tok.Expiry.Add(-max(window, skew)) // never after expiry
	return e
}

// publish makes e the current entry and, on the real clock, arms the timer
// that marks it due at its refresh time. The entry it replaces stops its
// timer. A timer that fires late (a suspended machine, where monotonic time
// stands still) leaves a token in service past its refresh time, or even its
// expiry: the server then answers 401, and authTransport drops the token and
// fetches a new one, once.
func (c *tokenCache) publish(e *entry) {
	if old := c.cur.Swap(e); old != nil && old != e {
		old.stopTimer()
	}
	c.arm(e)
}

func (c *tokenCache) arm(e *entry) {
	if !c.timers || e.due || e.refreshAt.IsZero() {
		return
	}
	fire := func() {
		d := &entry{tok: e.tok, authValue: e.authValue, refreshAt: e.refreshAt, expiry: e.expiry, due: true}
		c.cur.CompareAndSwap(e, d)
	}
	wait := time.Until(e.refreshAt)
	if wait <= 0 {
		fire()
		return
	}
	e.timer.Store(time.AfterFunc(wait, fire))
}

func (e *entry) stopTimer() {
	if t := e.timer.Load(); t != nil {
		t.Stop()
	}
}

// refreshInBackground starts one refresh for e. If it fails, e keeps being
// served until it expires, and the next attempt waits a while.
func (c *tokenCache) refreshInBackground(e *entry) {
	if !e.bg.CompareAndSwap(false, true) {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ch := c.sf.DoChan("", func() (any, error) { return c.fetchShared(c.life, e) })
		r := <-ch
		if r.Err == nil {
			return
		}
		c.logger.LogAttrs(c.life, slog.LevelWarn, "anaplan: early token refresh failed; still using the current token",
			slog.Time("expiry", e.tok.Expiry), slog.String("error", r.Err.Error()))
		// Try again after a fraction of what remains, never on every call.
		if c.closed.Load() {
			return
		}
		now := c.now()
		wait := max(refreshRetryMin, e.expiry.Sub(now)/4)
		retryAt := now.Add(wait)
		if !e.expiry.IsZero() && retryAt.After(e.expiry) {
			retryAt = e.expiry // never fresh past expiry
		}
		retry := &entry{tok: e.tok, authValue: e.authValue, expiry: e.expiry, refreshAt: retryAt}
		if c.cur.CompareAndSwap(e, retry) {
			c.arm(retry)
		}
	}()
}

// invalidate drops tok if it is still the current token: a token the server
// rejected is dropped exactly once, however many requests saw the rejection.
func (c *tokenCache) invalidate(tok *Token) bool {
	e := c.cur.Load()
	if e == nil || e.tok != tok {
		return false
	}
	if !c.cur.CompareAndSwap(e, nil) {
		return false
	}
	e.stopTimer()
	return true
}

// close stops the cache: no new fetch starts, the one under way (a refresh
// whose answer carries the session's new token) is waited for under ctx and
// aborted only when ctx ends, then the fetcher ends its session with the
// token the cache holds. Calls after the first return nil.
func (c *tokenCache) close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Joining the flight waits for the fetch under way; with none, this
	// returns at once.
	select {
	case <-c.sf.DoChan("", func() (any, error) { return nil, ErrClosed }):
	case <-ctx.Done():
	}
	c.cancel()
	c.bg.Wait()
	e := c.cur.Swap(nil)
	if e != nil {
		e.stopTimer()
	}
	if cl, ok := c.f.(closer); ok {
		var tok *Token
		if e != nil && e.usable(c.now()) {
			tok = e.tok
		}
		return cl.close(ctx, tok)
	}
	return nil
}

// sourceFetcher puts a user's TokenSource behind the cache.
type sourceFetcher struct{ ts TokenSource }

func (s sourceFetcher) fetch(ctx context.Context, _ *Token) (*Token, error) {
	tok, err := s.ts.Token(ctx)
	if err != nil {
		return nil, errorf("anaplan: token source: %w", err)
	}
	if tok != nil {
		rememberSecret(tok.Value)
	}
	return tok, nil
}

// prime fetches the first token under the caller's own context (New's
// sign-in, which may be interactive), bypassing the detached shared fetch.
func (c *tokenCache) prime(ctx context.Context) error {
	tok, err := c.f.fetch(ctx, nil)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // what the fetch spent is persisted; New was cancelled all the same
	}
	if tok == nil || tok.Value == "" {
		return errors.New("anaplan: token source returned an empty token")
	}
	c.publish(c.newEntry(tok, c.now()))
	return nil
}
