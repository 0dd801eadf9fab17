package anaplantest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/google/go-cmp/cmp"
)

func TestEndpoints(t *testing.T) {
	s := New(t)
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
	want := anaplan.Endpoints{Auth: s.URL(), API: s.URL() + "/2/0", OAuth: anaplan.OAuthEndpoint(s.URL())}
	if diff := cmp.Diff(want, s.Endpoints()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestCertificatePEM(t *testing.T) {
	s := New(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertificatePEM()) {
		t.Fatal("CertificatePEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL() + "/token/validate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// A client that trusts nothing fails the handshake.
	tr2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
	defer tr2.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr2}).Get(s.URL()); err == nil {
		t.Error("untrusting client connected")
	}
}

func TestClose(t *testing.T) {
	s := NewServer()
	s.Close()
	s.Close() // idempotent
	if _, err := s.Client().Get(s.URL()); err == nil {
		t.Error("closed server answered")
	}
}

func TestClock(t *testing.T) {
	before := time.Now().Add(-time.Second)
	s := New(t)
	if n := s.Now(); n.Before(before) || n.After(time.Now()) {
		t.Errorf("default clock %v is not the real time", n)
	}
	s.SetNow(epoch)
	s.Advance(90 * time.Second)
	if got, want := s.Now(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if got := New(t, WithClock(epoch)).Now(); !got.Equal(epoch) {
		t.Errorf("WithClock: Now = %v", got)
	}
}

func TestFaults(t *testing.T) {
	s := New(t)
	s.AddUser("u", "p")
	tok := login(t, s, "u", "p")
	s.ResetCalls()

	s.FailNext(2, Fault{Status: 429, RetryAfter: "3", Path: "/2/0/"})
	s.FailNext(1, Fault{Status: 503, Body: "down for maintenance", Path: "POST /token/"})
	s.FailNext(1, Fault{Status: 500}) // any path, after the ones above

	type got struct {
		Status      int
		RetryAfter  string
		ContentType string
		Raw         string
	}
	do := func(method, path string, h map[string]string) got {
		r := call(t, s, method, path, h, nil)
		return got{r.Status, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"), r.Raw}
	}
	tooMany := got{429, "3", "application/json", `{"status":{"code":429,"message":"Too Many Requests"}}`}
	steps := []struct {
		method, path string
		h            map[string]string
		want         got
	}{
		// GET /token/validate matches neither prefix fault, so it takes the catch-all 500.
		{"GET", "/token/validate", authToken(tok), got{500, "", "application/json", `{"status":{"code":500,"message":"Internal Server Error"}}`}},
		{"GET", "/2/0/users/me", authToken(tok), tooMany},
		{"POST", "/token/refresh", authToken(tok), got{503, "", "text/plain; charset=utf-8", "down for maintenance"}},
		{"GET", "/2/0/users/me", authToken(tok), tooMany},
		{"GET", "/token/validate", authToken(tok), got{Status: 200, ContentType: "application/json"}},
		{"GET", "/2/0/users/me", nil, got{Status: 401, ContentType: "application/json"}},
	}
	for i, st := range steps {
		g := do(st.method, st.path, st.h)
		if st.want.Raw == "" {
			g.Raw = ""
		}
		if diff := cmp.Diff(st.want, g); diff != "" {
			t.Errorf("step %d %s %s: (-want +got)\n%s", i, st.method, st.path, diff)
		}
	}
	// Faulted requests are counted too.
	wantCalls := map[string]int{"GET /2/0/users/me": 3, "POST /token/refresh": 1, "GET /token/validate": 2, "": 6}
	gotCalls := map[string]int{}
	for k := range wantCalls {
		gotCalls[k] = s.Calls(k)
	}
	if diff := cmp.Diff(wantCalls, gotCalls); diff != "" {
		t.Errorf("Calls (-want +got)\n%s", diff)
	}
	s.ResetCalls()
	if n := s.Calls(""); n != 0 {
		t.Errorf("after ResetCalls: %d", n)
	}
	s.FailNext(0, Fault{Status: 500}) // no-op
	if r := call(t, s, "GET", "/2/0/users/me", authToken(tok), nil); r.Status != 200 {
		t.Errorf("no fault pending: %d", r.Status)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	s := New(t)
	s.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/2/0/users/me", nil)
	start := time.Now()
	_, err := s.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	s.SetLatency(0)
	// A fault without a status is a pure delay, then normal service.
	s.FailNext(1, Fault{Latency: 30 * time.Millisecond})
	start = time.Now()
	if r := call(t, s, "GET", "/2/0/users/me", nil, nil); r.Status != 401 {
		t.Errorf("status %d", r.Status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("delay fault took only %v", d)
	}
	// Close (via Cleanup) must not wait for the abandoned minute-long request.
}

func TestConcurrentUse(t *testing.T) {
	s := New(t)
	s.AddUser("u", "p")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tok := login(t, s, "u", "p")
			if r := call(t, s, "GET", "/2/0/users/me", authToken(tok), nil); r.Status != 200 {
				t.Errorf("users/me: %d", r.Status)
			}
			s.Advance(time.Millisecond)
			s.FailNext(1, Fault{Status: 502, Path: fmt.Sprintf("/none/%d", i)})
			_ = s.Calls("")
		})
	}
	wg.Wait()
	if got := s.Calls("POST /token/authenticate"); got != 8 {
		t.Errorf("Calls = %d", got)
	}
}

func TestNoSecretsInFormatting(t *testing.T) {
	s := New(t)
	s.AddUser("u", "hunter2-password")
	tok := login(t, s, "u", "hunter2-password")
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "server", s)
	for _, out := range []string{fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), logged.String()} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, tok) {
			t.Errorf("formatting leaks a secret: %s", out)
		}
	}
}
