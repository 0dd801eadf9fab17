package anaplan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTransportTotalBound: a call without a deadline ends at the transport's
// total bound even when the server trickles bytes (so the idle limit never
// fires); a transfer is not bounded in total.
func TestTransportTotalBound(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 12; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer srv.Close()
	tr := &transport{base: srv.Client().Transport, total: 400 * time.Millisecond, idle: time.Second, policy: defaultRetryPolicy,
		logger: slog.New(slog.DiscardHandler), now: time.Now, sleep: sleepCtx}
	hc := &http.Client{Transport: tr}
	resp, err := hc.Get(srv.URL + "/2/0/users/me")
	if err != nil {
		t.Fatal(err)
	}
	b0, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within") {
		t.Fatalf("a trickling small call: %d bytes, %v", len(b0), err)
	}
	// The same answer as a transfer: read to the end (1.2 s > the total bound).
	resp, err = hc.Get(srv.URL + "/2/0/workspaces/w/models/m/files/f/chunks/0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 12 {
		t.Fatalf("a trickling transfer: %d bytes, %v", len(b), err)
	}
}

// TestSendByGatesEveryAttempt: a spend whose store deadline has passed is
// never sent.
func TestSendByGatesEveryAttempt(t *testing.T) {
	calls := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	defer srv.Close()
	tr := &transport{base: srv.Client().Transport, policy: defaultRetryPolicy, logger: slog.New(slog.DiscardHandler), now: time.Now, sleep: sleepCtx}
	ctx := withSendBy(context.Background(), time.Now().Add(-time.Millisecond))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/oauth/token", strings.NewReader("grant_type=refresh_token"))
	if _, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, errSendByPassed) || calls != 0 {
		t.Fatalf("past the deadline: %v, %d requests", err, calls)
	}
	ctx = withSendBy(context.Background(), time.Now().Add(time.Minute))
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/oauth/token", strings.NewReader("grant_type=refresh_token"))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil || calls != 1 {
		t.Fatalf("before the deadline: %v, %d requests", err, calls)
	}
	resp.Body.Close()
}

// TestIdleCountsOnlyWaitingReads: a caller that pauses longer than the idle
// limit between reads (a slow consumer) is not cut off; only a Read that
// waits for the server counts.
func TestIdleCountsOnlyWaitingReads(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for i := 0; i < 3; i++ {
			w.Write([]byte(strings.Repeat("x", 100)))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	tr := &transport{base: srv.Client().Transport, idle: 100 * time.Millisecond, policy: defaultRetryPolicy,
		logger: slog.New(slog.DiscardHandler), now: time.Now, sleep: sleepCtx}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/2/0/workspaces/w/models/m/files/f/chunks/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 50)
	total := 0
	for {
		time.Sleep(150 * time.Millisecond) // longer than the idle limit, between reads
		n, err := resp.Body.Read(buf)
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("a slow reader was cut off after %d bytes: %v", total, err)
		}
	}
	if total != 300 {
		t.Fatalf("read %d bytes, want 300", total)
	}
}

func boundTransport(base http.RoundTripper, total, header, idle time.Duration) *transport {
	return &transport{base: base, total: total, header: header, idle: idle, policy: retryPolicy{maxAttempts: 1},
		logger: slog.New(slog.DiscardHandler), now: time.Now, sleep: sleepCtx}
}

// TestHeaderWaitBounded: a server that takes a request and never answers
// is left after the header bound, for a transfer too (no total bound), and
// whatever client is given (net/http's ResponseHeaderTimeout is not what
// bounds it).
func TestHeaderWaitBounded(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, 0, 300*time.Millisecond, time.Hour)}
	start := time.Now()
	_, err := hc.Get(srv.URL + "/2/0/workspaces/w/models/m/files/f/chunks/0")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer from the server within 300ms") {
		t.Fatalf("a server that never answers: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("abandoned after %v, want 300 ms and a tick", d)
	}
}

// TestHeaderWaitUnderDeadline: a caller's deadline governs the wait for
// headers, so a server that takes longer than the header bound to answer,
// within the deadline, is waited for.
func TestHeaderWaitUnderDeadline(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(600 * time.Millisecond)
		w.Write([]byte("late"))
	}))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, 0, 200*time.Millisecond, time.Hour)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/2/0/workspaces/w/models/m/files/f/chunks/0", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("a late answer within the caller's deadline: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "late" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// repeatReader gives n bytes of 'x' without holding them.
type repeatReader struct{ n int64 }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n))
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= int64(k)
	return k, nil
}

// TestUploadStallBounded: a server that stops taking an upload's bytes
// ends it after the idle limit; the header bound, much longer, is not what
// fires, and the total bound does not apply to a transfer.
func TestUploadStallBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reads nothing: the connection's buffers fill. (A server that
		// reads no body cannot see the client go, so the test releases it.)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, 0, time.Hour, 300*time.Millisecond)}
	const size = 256 << 20 // far more than loopback buffers hold
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/2/0/workspaces/w/models/m/files/f/chunks/0", io.NopCloser(&repeatReader{n: size}))
	req.ContentLength = size
	start := time.Now()
	_, err := hc.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "took none of the request for 300ms") {
		t.Fatalf("an upload the server does not read: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("abandoned after %v", d)
	}
}

// slowReader gives its bytes in pieces, pausing before each: the source's
// own time.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

// TestSlowUploadSourceAndServerNotCut: an upload whose source pauses longer
// than the idle limit between pieces, to a server that reads slowly and
// answers only once it has it all (longer than the header bound after the
// first byte), completes: the source's time is not the server's, and the
// header wait starts only once the last byte is sent.
func TestSlowUploadSourceAndServerNotCut(t *testing.T) {
	const size = 96 << 10 // 6 pieces of 16 KiB, 300 ms apart: 1.8 s, longer than both bounds
	got := make(chan int, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server read: %v", err)
		}
		got <- len(b)
		time.Sleep(150 * time.Millisecond) // within the header bound once all is sent
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, 0, time.Second, 200*time.Millisecond)}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/2/0/workspaces/w/models/m/files/f/chunks/0",
		io.NopCloser(&slowReader{r: &repeatReader{n: size}, pause: 300 * time.Millisecond}))
	req.ContentLength = size
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("a slow source: %v after %v", err, time.Since(start))
	}
	resp.Body.Close()
	if n := <-got; n != size || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("server got %d bytes, status %d", n, resp.StatusCode)
	}
	if d := time.Since(start); d < 6*300*time.Millisecond {
		t.Fatalf("took %v: the source's pauses (6 × 300 ms, longer than both bounds) did not happen", d)
	}
}

// TestBodyReadToEndLeavesNothing: an answer read to its end but never
// closed (golang.org/x/oauth2's device-code request does that) ends its
// call at EOF, so the watcher holds nothing and can stop.
func TestBodyReadToEndLeavesNothing(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"device_code":"d"}`))
	}))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, time.Minute, time.Minute, time.Minute)}
	resp, err := hc.Post(srv.URL+"/oauth/device/code", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := resp.Body.(*call)
	if !ok {
		t.Fatalf("the body is a %T, not the call's wrapper", resp.Body)
	}
	watch.mu.Lock()
	linked := c.linked
	watch.mu.Unlock()
	if !linked {
		t.Fatal("the call was not watched while its answer was unread")
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	watch.mu.Lock()
	linked = c.linked
	watch.mu.Unlock()
	if linked || c.ctx.Err() == nil {
		t.Fatalf("after EOF without Close: still watched %v, context %v", linked, c.ctx.Err())
	}
	// Reading again gives EOF, not the released context's error.
	if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("a read after the end: %d, %v", n, err)
	}
}

// TestEmptyAnswerLeavesNothing: an answer without a body (a 204), whose
// body callers often leave unclosed, ends its call at once.
func TestEmptyAnswerLeavesNothing(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, time.Minute, time.Minute, time.Minute)}
	watched := func() int {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		n := 0
		for c := watch.head; c != nil; c = c.next {
			n++
		}
		return n
	}
	for range 20 {
		resp, err := hc.Get(srv.URL + "/2/0/workspaces/w/models/m/files/f")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusNoContent || resp.Body != http.NoBody {
			t.Fatalf("status %d, body %T", resp.StatusCode, resp.Body)
		}
		// Not closed, on purpose.
	}
	// Other tests may run calls meanwhile, but not 20 that stay.
	if n := watched(); n >= 20 {
		t.Fatalf("%d calls still watched after 20 unclosed empty answers", n)
	}
}

// TestWatcherEndsAfterLastCall: no goroutine of the SDK outlives the
// requests by more than linger and a tick.
func TestWatcherEndsAfterLastCall(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	hc := &http.Client{Transport: boundTransport(srv.Client().Transport, time.Minute, time.Minute, time.Minute)}
	for range 3 {
		resp, err := hc.Get(srv.URL + "/2/0/users/me")
		if err != nil {
			t.Fatal(err)
		}
		drain(resp.Body)
	}
	watcherStops(t)
}

// watcherStops waits for the watcher to end once no call is left, failing
// the test if it still runs 1 s after the last call (it promises linger,
// 50 ms; another test's calls in flight restart the wait).
func watcherStops(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		watch.mu.Lock()
		running, empty := watch.running, watch.head == nil
		watch.mu.Unlock()
		if !running {
			return
		}
		if !empty {
			deadline = time.Now().Add(time.Second)
		} else if time.Now().After(deadline) {
			t.Fatalf("the watcher still runs 1 s after the last call (it should end %v after it)", linger)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatcherManyCalls: 200 calls at once, every other one stalling after
// its first bytes: each stalled one ends with the idle bound and each other
// one reads its whole answer, whatever order they are added to and taken
// off the watcher in; then the watcher ends.
func TestWatcherManyCalls(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first "))
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("stall") == "1" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Write([]byte("rest"))
	}))
	defer srv.Close()
	defer close(release)
	// The idle limit leaves room for 200 TLS calls at once on two cores
	// under the race detector: the answers that do not stall must never
	// wait that long for their next bytes.
	tr := boundTransport(srv.Client().Transport, time.Minute, time.Minute, time.Second)
	hc := &http.Client{Transport: tr}
	const n = 200
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stall := i%2 == 1
			resp, err := hc.Get(fmt.Sprintf("%s/2/0/workspaces/w/models/m/files/f/chunks/0?stall=%d&i=%d", srv.URL, map[bool]int{true: 1}[stall], i))
			if err != nil {
				errs <- fmt.Errorf("call %d: %v", i, err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case stall && (!errors.Is(err, context.DeadlineExceeded) || string(b) != "first "):
				errs <- fmt.Errorf("stalled call %d: %q, %v", i, b, err)
			case !stall && (err != nil || string(b) != "first rest"):
				errs <- fmt.Errorf("call %d: %q, %v", i, b, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	watcherStops(t)
}
