package anaplan_test

// Issue 7, point 11: no unbounded wait by default.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// trickle sends its headers, then one byte every 200 ms for ever (until the
// client leaves).
func trickle(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(200 * time.Millisecond):
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSignInBoundedByTimeout(t *testing.T) {
	srv := trickle(t)
	// A sign-in bounded by Timeout ends however the server trickles; the
	// 30 s default bound itself runs on the transport's timer (TestTransportTotalBound).
	start := time.Now()
	_, err := anaplan.New(context.Background(), anaplan.WithBasic("u@example.com", "pw-123456"), anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: srv.URL, API: srv.URL + "/2/0"}), anaplan.WithTimeout(time.Second))
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("a trickling auth service: %v after %v", err, time.Since(start))
	}
	if anaplan.DefaultSignInTimeout >= time.Minute {
		t.Fatalf("the default sign-in bound %v is not well under a minute", anaplan.DefaultSignInTimeout)
	}
}

func TestCallsBoundedByIdleLimit(t *testing.T) {
	// A body that stalls completely is abandoned after the idle limit, even
	// for a transfer (no total bound applies to those).
	stall := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer stall.Close()
	c, err := anaplan.New(context.Background(), anaplan.WithHTTPClient(stall.Client()),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: stall.URL, API: stall.URL + "/2/0"}),
		anaplan.WithIdleTimeout(300*time.Millisecond),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: "tok-abcdef"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/workspaces/w/models/m/files/f/chunks/0")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no data from the server") {
		t.Fatalf("a stalled body: %q, %v", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("abandoned only after %v", d)
	}
	if string(b) != "first bytes" {
		t.Fatalf("read %q before the stall", b)
	}
}

func TestTrickleBoundedByDefaultCallTimeout(t *testing.T) {
	if anaplan.DefaultCallTimeout > 5*time.Minute || anaplan.DefaultIdleTimeout > 5*time.Minute {
		t.Fatalf("default bounds too long: %v, %v", anaplan.DefaultCallTimeout, anaplan.DefaultIdleTimeout)
	}
	srv := trickle(t)
	c, err := anaplan.New(context.Background(), anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: srv.URL, API: srv.URL + "/2/0"}),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: "tok-abcdef"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// With the caller's own deadline, that deadline governs.
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.Endpoints().API+"/users/me", nil)
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("trickle under a deadline: %v", err)
	}
}
