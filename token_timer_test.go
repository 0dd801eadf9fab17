package anaplan

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// realFetcher hands out numbered tokens living ttl on the real clock.
type realFetcher struct {
	ttl   time.Duration
	calls atomic.Int32
}

func (f *realFetcher) fetch(ctx context.Context, prev *Token) (*Token, error) {
	n := f.calls.Add(1)
	return &Token{Value: fmt.Sprintf("tok-%d", n), Type: TokenTypeAnaplan, Expiry: time.Now().Add(f.ttl)}, nil
}

// TestCacheRealClockReadsNoClockUntilDue: on the real clock the cached path
// reads no clock at all until the refresh time, when a timer marks the entry
// due; the next call then serves the current token and starts one
// background refresh.
func TestCacheRealClockReadsNoClockUntilDue(t *testing.T) {
	f := &realFetcher{ttl: 800 * time.Millisecond}
	c := newTokenCache(f, nil, nil)
	c.jitter = func() float64 { return 0 }
	defer c.close(context.Background())
	var reads atomic.Int32
	c.now = func() time.Time { reads.Add(1); return time.Now() }
	ctx := context.Background()
	if err := c.prime(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := c.Token(ctx)
	reads.Store(0)
	for range 10000 {
		if tok, err := c.Token(ctx); err != nil || tok != first {
			t.Fatalf("cached call: %v %v", tok, err)
		}
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("the cached path read the clock %d times in 10,000 calls", n)
	}
	// 800ms token: refresh window min(5m, 200ms) = 200ms before expiry, so
	// due at ~600ms. The entry turns due by its timer, without any call.
	deadline := time.Now().Add(2 * time.Second)
	for !c.cur.Load().due {
		if time.Now().After(deadline) {
			t.Fatal("the refresh timer never marked the entry due")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if tok, _ := c.Token(ctx); tok != first {
		t.Fatal("a due but usable token must still be served")
	}
	for f.calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh after the entry turned due")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The refreshed entry is fresh again and served without a clock.
	for c.cur.Load() == nil || c.cur.Load().tok == first {
		time.Sleep(time.Millisecond)
	}
	second := c.cur.Load().tok
	reads.Store(0)
	if tok, _ := c.Token(ctx); tok != second || reads.Load() != 0 {
		t.Fatalf("after the refresh: %v, %d clock reads", tok, reads.Load())
	}
	if f.calls.Load() != 2 {
		t.Fatalf("%d fetches, want 2", f.calls.Load())
	}
}

// TestCacheRealClockNeverServesExpired: past its expiry a token is never
// served even when no refresh succeeded: due entries are checked against the
// clock.
func TestCacheRealClockNeverServesExpired(t *testing.T) {
	f := &realFetcher{ttl: 300 * time.Millisecond}
	c := newTokenCache(f, nil, nil)
	defer c.close(context.Background())
	ctx := context.Background()
	if err := c.prime(ctx); err != nil {
		t.Fatal(err)
	}
	first := c.cur.Load().tok
	time.Sleep(400 * time.Millisecond)
	tok, err := c.Token(ctx)
	if err != nil || tok == first || !tok.Valid() {
		t.Fatalf("after expiry: %v %v (first %v)", tok, err, first)
	}
}

// TestCacheReplacedEntryStopsTimer: a replaced entry's timer cannot mark the
// new entry due.
func TestCacheReplacedEntryStopsTimer(t *testing.T) {
	f := &realFetcher{ttl: time.Hour}
	c := newTokenCache(f, nil, nil)
	defer c.close(context.Background())
	short := c.newEntry(&Token{Value: "short", Expiry: time.Now().Add(50 * time.Millisecond)}, time.Now())
	c.publish(short)
	long := c.newEntry(&Token{Value: "long", Expiry: time.Now().Add(time.Hour)}, time.Now())
	c.publish(long)
	time.Sleep(100 * time.Millisecond)
	if e := c.cur.Load(); e != long || e.due {
		t.Fatalf("the current entry was disturbed: %+v", e)
	}
}
