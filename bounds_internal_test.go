package anaplan

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
