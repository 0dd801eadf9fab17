package anaplan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted answers requests from a list of statuses, then 200.
type scripted struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  []string
	auth    []string
	n       atomic.Int32
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.n.Add(1)
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	var a func(http.ResponseWriter)
	if len(s.answers) > 0 {
		a, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if a == nil {
		w.WriteHeader(200)
		io.WriteString(w, "ok")
		return
	}
	a(w)
}

func status(code int, hdr ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"status":{"code":`+http.StatusText(code)+`}}`)
	}
}

type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func newTestTransport(base http.RoundTripper, w *waits, logger *slog.Logger) *transport {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &transport{base: base, logger: logger, policy: defaultRetryPolicy, ua: "test-ua", uaValue: []string{"test-ua"}, now: time.Now, sleep: w.sleep}
}

func TestTransportRetries(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		method    string
		answers   []func(http.ResponseWriter)
		wantCalls int32
		wantCode  int
		checkWait func(t *testing.T, d []time.Duration)
	}{
		{"429 seconds", "GET", []func(http.ResponseWriter){status(429, "Retry-After", "7")}, 2, 200,
			func(t *testing.T, d []time.Duration) {
				if len(d) != 1 || d[0] != 7*time.Second {
					t.Errorf("waits %v, want [7s]", d)
				}
			}},
		{"429 http date", "GET", []func(http.ResponseWriter){status(429, "Retry-After", date)}, 2, 200,
			func(t *testing.T, d []time.Duration) {
				if len(d) != 1 || d[0] < time.Second || d[0] > 3*time.Second {
					t.Errorf("waits %v, want about 2-3s", d)
				}
			}},
		{"429 on POST is retried", "POST", []func(http.ResponseWriter){status(429)}, 2, 200, nil},
		{"503 GET retried with backoff", "GET", []func(http.ResponseWriter){status(503), status(502), status(504)}, 4, 200,
			func(t *testing.T, d []time.Duration) {
				if len(d) != 3 || d[0] <= 0 || d[0] > time.Second {
					t.Errorf("waits %v", d)
				}
			}},
		{"503 POST not retried", "POST", []func(http.ResponseWriter){status(503)}, 1, 503, nil},
		{"gives up after max attempts", "PUT", []func(http.ResponseWriter){status(503), status(503), status(503), status(503), status(503)}, 4, 503, nil},
		{"Retry-After too long is returned", "GET", []func(http.ResponseWriter){status(429, "Retry-After", "3600")}, 1, 429, nil},
		{"500 not retried", "GET", []func(http.ResponseWriter){status(500)}, 1, 500, nil},
		{"404 not retried", "DELETE", []func(http.ResponseWriter){status(404)}, 1, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{answers: tc.answers}
			srv := httptest.NewTLSServer(s)
			defer srv.Close()
			w := &waits{}
			hc := &http.Client{Transport: newTestTransport(srv.Client().Transport, w, nil)}
			req, _ := http.NewRequest(tc.method, srv.URL+"/x", strings.NewReader("payload"))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || s.n.Load() != tc.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", resp.StatusCode, s.n.Load(), tc.wantCode, tc.wantCalls)
			}
			for i, b := range s.bodies {
				if b != "payload" {
					t.Errorf("attempt %d body %q: the body must be resent whole", i, b)
				}
			}
			if tc.checkWait != nil {
				tc.checkWait(t, w.d)
			}
		})
	}
}

func TestTransportNoRetryWithoutGetBody(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter){status(429)}}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	hc := &http.Client{Transport: newTestTransport(srv.Client().Transport, &waits{}, nil)}
	req, _ := http.NewRequest("PUT", srv.URL, io.MultiReader(strings.NewReader("x")))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || s.n.Load() != 1 {
		t.Fatalf("a body that cannot be replayed was retried: %d calls", s.n.Load())
	}
}

type flaky struct {
	fails atomic.Int32
	next  http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(r)
}

func TestTransportNetworkErrors(t *testing.T) {
	s := &scripted{}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	for _, tc := range []struct {
		method string
		ok     bool
	}{{"GET", true}, {"POST", false}} {
		f := &flaky{next: srv.Client().Transport}
		f.fails.Store(2)
		hc := &http.Client{Transport: newTestTransport(f, &waits{}, nil)}
		req, _ := http.NewRequest(tc.method, srv.URL, nil)
		resp, err := hc.Do(req)
		if tc.ok != (err == nil) {
			t.Fatalf("%s: err %v", tc.method, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

func TestTransportContextBoundsWaits(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter){status(429, "Retry-After", "30")}}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	tr := newTestTransport(srv.Client().Transport, nil, nil)
	tr.sleep = sleepCtx
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestTransportLogsWithoutSecrets(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter){status(503)}}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hc := &http.Client{Transport: newTestTransport(srv.Client().Transport, &waits{}, logger)}
	req, _ := http.NewRequest("GET", srv.URL+"/2/0/users/me?code=querysecret", nil)
	req.Header.Set("Authorization", "AnaplanAuthToken headersecret")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := buf.String()
	for _, want := range []string{`"method":"GET"`, `"path":"/2/0/users/me"`, `"status":503`, `"attempt":2`, `"status":200`, `"duration"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"headersecret", "querysecret"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %s", secret)
		}
	}
	if s.auth[0] != "AnaplanAuthToken headersecret" {
		t.Errorf("header not sent")
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"5", 5 * time.Second, true}, {" 0 ", 0, true}, {"-1", 0, false}, {"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v,%v want %v,%v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOriginMatch(t *testing.T) {
	o := newOrigin("https://api.anaplan.com/2/0")
	p := newOrigin("https://127.0.0.1:8443")
	for _, tc := range []struct {
		u    string
		o    origin
		want bool
	}{
		{"https://api.anaplan.com/2/0/users/me", o, true},
		{"https://API.anaplan.com:443/x", o, true},
		{"http://api.anaplan.com/x", o, false},
		{"https://api.anaplan.com:8443/x", o, false},
		{"https://api.anaplan.com.evil.com/x", o, false},
		{"https://evil.com/api.anaplan.com", o, false},
		{"https://127.0.0.1:8443/x", p, true},
		{"https://127.0.0.1:8444/x", p, false},
		{"https://127.0.0.1/x", p, false},
	} {
		u, _ := url.Parse(tc.u)
		if got := tc.o.match(u); got != tc.want {
			t.Errorf("%s: %v", tc.u, got)
		}
	}
}

func TestCheckResponseShapes(t *testing.T) {
	for _, tc := range []struct {
		status      int
		body        string
		code, msg   string
		unauthorize bool
	}{
		{401, `{"status":"FAILURE_BAD_CREDENTIAL","statusMessage":"Bad credentials"}`, "FAILURE_BAD_CREDENTIAL", "Bad credentials", true},
		{404, `{"status":{"code":404,"message":"Not Found"},"path":"/x"}`, "", "Not Found", false},
		{400, `{"error":"invalid_grant","error_description":"refresh token used"}`, "invalid_grant", "refresh token used", true},
		{502, `<html>bad gateway</html>`, "", "Bad Gateway", false},
		{403, ``, "", "Forbidden", true},
	} {
		req, _ := http.NewRequest("GET", "https://api.anaplan.com/2/0/x?access_token=zzz", nil)
		resp := &http.Response{StatusCode: tc.status, Body: io.NopCloser(strings.NewReader(tc.body)), Request: req}
		err := CheckResponse(resp)
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%d: %v", tc.status, err)
		}
		if ae.Code != tc.code || ae.Message != tc.msg || ae.StatusCode != tc.status || ae.URL != "https://api.anaplan.com/2/0/x" {
			t.Errorf("%d: %+v", tc.status, ae)
		}
		if errors.Is(err, ErrUnauthorized) != tc.unauthorize {
			t.Errorf("%d: Is(ErrUnauthorized) = %v", tc.status, !tc.unauthorize)
		}
		if strings.Contains(err.Error(), "zzz") {
			t.Errorf("query secret in error: %v", err)
		}
	}
}
