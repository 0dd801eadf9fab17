package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

const (
	basicUser     = "ada@example.com"
	basicPassword = "pa55-w0rd-S3CRET"
)

// newFake starts the fake Anaplan with one user.
func newFake(t *testing.T, opts ...anaplantest.Option) *anaplantest.Server {
	t.Helper()
	srv := anaplantest.New(t, opts...)
	srv.AddUser(basicUser, basicPassword)
	return srv
}

// fakeOptions points a client at srv, on srv's clock, with fast retries.
func fakeOptions(srv *anaplantest.Server, more ...anaplan.Option) []anaplan.Option {
	return append([]anaplan.Option{
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithClockForTest(srv.Now),
		anaplan.WithFastRetriesForTest(),
	}, more...)
}

func whoami(t *testing.T, c *anaplan.Client) (int, string) {
	t.Helper()
	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
	if err != nil {
		t.Fatalf("GET users/me: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBasicSignIn(t *testing.T) {
	for _, status := range []int{201, 200} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newFake(t, anaplantest.WithAuthenticateStatus(status))
			ctx := context.Background()
			c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Token(ctx)
			// expiresAt (ms) less the answer's Date (whole seconds), placed on
			// the client's clock: 35 minutes, to within the second given away.
			if left := tok.Expiry.Sub(srv.Now()); err != nil || tok.Type != "AnaplanAuthToken" || left > 35*time.Minute || left < 35*time.Minute-2*time.Second {
				t.Fatalf("token %v, %v: %v left, want 35 minutes from expiresAt", tok, err, left)
			}
			if code, body := whoami(t, c); code != 200 || !strings.Contains(body, basicUser) {
				t.Fatalf("users/me: %d %s", code, body)
			}
			if n := srv.Calls("POST /token/authenticate"); n != 1 {
				t.Fatalf("authenticate called %d times", n)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if n := srv.Calls("POST /token/logout"); n != 1 {
				t.Fatalf("logout called %d times, want 1 (Close is idempotent)", n)
			}
			// The token is dead on the server after logout.
			req, _ := http.NewRequest("GET", srv.Endpoints().API+"/users/me", nil)
			req.Header.Set("Authorization", "AnaplanAuthToken "+tok.Value)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("token still valid after Close: %d", resp.StatusCode)
			}
			if _, err := c.Token(ctx); !errors.Is(err, anaplan.ErrClosed) {
				t.Fatalf("Token after Close: %v", err)
			}
		})
	}
}

func TestBasicBadPassword(t *testing.T) {
	srv := newFake(t)
	_, err := anaplan.New(context.Background(), fakeOptions(srv, anaplan.WithBasic(basicUser, "wrong-Pa55word"))...)
	var ae *anaplan.APIError
	if !errors.Is(err, anaplan.ErrUnauthorized) || !errors.As(err, &ae) || ae.Code != "FAILURE_BAD_CREDENTIAL" || ae.StatusCode != 401 {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"password", "Exception User"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "wrong-Pa55word") {
		t.Fatalf("password in error: %s", msg)
	}
}

func TestNoSchemeAndOptionOrder(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	if _, err := anaplan.New(ctx, fakeOptions(srv)...); err == nil || !strings.Contains(err.Error(), "WithBasic") {
		t.Fatalf("no scheme: %v", err)
	}
	// A later scheme replaces an earlier one.
	ts := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
		return &anaplan.Token{Value: "from-source", Type: "AnaplanAuthToken"}, nil
	})
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithTokenSource(ts), anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if tok, _ := c.Token(ctx); tok.Value == "from-source" {
		t.Fatal("WithBasic after WithTokenSource did not replace it")
	}
	c2, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, "x"), anaplan.WithTokenSource(ts))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	if tok, _ := c2.Token(ctx); tok.Value != "from-source" {
		t.Fatal("WithTokenSource after WithBasic did not replace it")
	}
	// A later connection string's AuthScheme replaces WithBasic too.
	if _, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword), anaplan.FromConnectionString("AuthScheme=Basic;User=nobody;Password=nopass"))...); !errors.Is(err, anaplan.ErrUnauthorized) {
		t.Fatalf("connection string did not replace the scheme: %v", err)
	}
}

func TestHTTPClientOnlyAuthorizesOwnHosts(t *testing.T) {
	srv := newFake(t)
	var seen sync.Map
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer other.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	pool.AddCert(other.Certificate())
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	resp, err := c.HTTPClient().Get(other.URL + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v, _ := seen.Load("/elsewhere"); v != "" {
		t.Fatalf("another host received Authorization %q", v)
	}
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("own host: %d", code)
	}
}

func TestRefreshAndReSignIn(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	first, _ := c.Token(ctx)

	// Under 5 minutes left: the current token is served and refreshed once
	// in the background through /token/refresh.
	srv.Advance(31 * time.Minute)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := c.Token(ctx); err != nil || tok == nil {
				t.Errorf("token: %v", err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, func() bool { tok, _ := c.Token(ctx); return tok.Value != first.Value })
	if n := srv.Calls("POST /token/refresh"); n != 1 {
		t.Fatalf("refresh called %d times, want 1", n)
	}
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("refreshed token rejected: %d", code)
	}

	// Expired for good: a fresh sign-in.
	srv.Advance(time.Hour)
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("after expiry: %d", code)
	}
	if n := srv.Calls("POST /token/authenticate"); n != 2 {
		t.Fatalf("authenticate called %d times, want 2", n)
	}
}

func TestRefreshFailureFallsBackToSignIn(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	first, _ := c.Token(ctx)
	srv.Advance(32 * time.Minute)
	srv.FailNext(1, anaplantest.Fault{Status: 401, Path: "/token/refresh"})
	c.Token(ctx)
	waitFor(t, func() bool { tok, _ := c.Token(ctx); return tok.Value != first.Value })
	if r, a := srv.Calls("POST /token/refresh"), srv.Calls("POST /token/authenticate"); r != 1 || a != 2 {
		t.Fatalf("refresh %d, authenticate %d; want 1 and 2", r, a)
	}
	// The old session is logged out rather than left behind.
	if n := srv.Calls("POST /token/logout"); n != 1 {
		t.Fatalf("logout called %d times, want 1 for the replaced session", n)
	}
}

func TestRejectedTokenRetriedOnce(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tok, _ := c.Token(ctx)
	srv.RevokeToken(tok.Value)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
			if err != nil || resp.StatusCode != 200 {
				bad.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed after the token was revoked", bad.Load())
	}
	if n := srv.Calls("POST /token/authenticate"); n != 2 {
		t.Fatalf("authenticate called %d times, want 2 (one re-sign-in for all 20 requests)", n)
	}
	// A host that keeps answering 401 gets one retry, not a loop.
	srv.FailNext(10, anaplantest.Fault{Status: 401, Path: "/2/0/users/me"})
	before := srv.Calls("GET /2/0/users/me")
	if code, _ := whoami(t, c); code != 401 {
		t.Fatalf("got %d, want the 401 returned", code)
	}
	if n := srv.Calls("GET /2/0/users/me") - before; n != 2 {
		t.Fatalf("users/me sent %d times, want 2", n)
	}
}

func TestTransportRetriesAgainstFake(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	var mu sync.Mutex
	var slept []time.Duration
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword),
		anaplan.WithSleepForTest(func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	srv.FailNext(1, anaplantest.Fault{Status: 429, RetryAfter: "3", Path: "/2/0/"})
	srv.FailNext(1, anaplantest.Fault{Status: 503, Path: "/2/0/"})
	if code, _ := whoami(t, c); code != 200 {
		t.Fatalf("got %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 2 || slept[0] != 3*time.Second {
		t.Fatalf("waits %v, want Retry-After 3s then a backoff", slept)
	}
}

func TestSignInRetriedOn503(t *testing.T) {
	srv := newFake(t)
	srv.FailNext(2, anaplantest.Fault{Status: 503, Path: "/token/authenticate"})
	c, err := anaplan.New(context.Background(), fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
}

func TestDebugLogging(t *testing.T) {
	srv := newFake(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword), anaplan.WithLogger(logger))...)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := c.Token(ctx)
	whoami(t, c)
	c.Close(ctx)
	out := buf.String()
	if !strings.Contains(out, "/token/authenticate") || !strings.Contains(out, "/2/0/users/me") {
		t.Fatalf("requests not logged:\n%s", out)
	}
	if strings.Contains(out, tok.Value) || strings.Contains(out, basicPassword) {
		t.Fatalf("secret logged:\n%s", out)
	}
}

func TestTokenSourceBehindCache(t *testing.T) {
	var calls atomic.Int32
	now := time.Now()
	ts := anaplan.TokenSourceFunc(func(ctx context.Context) (*anaplan.Token, error) {
		n := calls.Add(1)
		return &anaplan.Token{Value: fmt.Sprint("fake-", n), Type: "AnaplanAuthToken", Expiry: now.Add(time.Hour)}, nil
	})
	srv := anaplantest.New(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for range 100 {
		if tok, err := c.Token(ctx); err != nil || tok.Value != "fake-1" {
			t.Fatalf("%v %v", tok, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("source called %d times", calls.Load())
	}
	failing := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) { return nil, errors.New("broker down") })
	if _, err := anaplan.New(ctx, anaplan.WithTokenSource(failing), anaplan.WithEndpoints(srv.Endpoints())); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("failing source: %v", err)
	}
	if _, err := anaplan.New(ctx, anaplan.WithTokenSource(nil)); err == nil {
		t.Fatal("nil source accepted")
	}
}

func TestTimeoutOption(t *testing.T) {
	srv := newFake(t)
	srv.SetLatency(2 * time.Second)
	start := time.Now()
	_, err := anaplan.New(context.Background(), fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword),
		anaplan.FromConnectionString("Timeout=1"))...)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout not applied: %v after %v", err, time.Since(start))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestThousandGoroutinesAtExpiryOneSignIn(t *testing.T) {
	srv := newFake(t)
	ctx := context.Background()
	c, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithBasic(basicUser, basicPassword))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	srv.Advance(time.Hour) // expired: no refresh possible, a new sign-in
	srv.SetLatency(20 * time.Millisecond)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if a, r := srv.Calls("POST /token/authenticate"), srv.Calls("POST /token/refresh"); a != 2 || r != 0 {
		t.Fatalf("authenticate %d, refresh %d: want exactly one new sign-in for 1000 goroutines", a, r)
	}
}

func TestUserAgentAndHTTPClientTimeout(t *testing.T) {
	var mu sync.Mutex
	var uas []string
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uas = append(uas, r.Header.Get("User-Agent"))
		mu.Unlock()
		if r.URL.Path == "/2/0/slow" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(slow)
	ctx := context.Background()
	ts := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) { return &anaplan.Token{Value: "v"}, nil })
	ep := anaplan.WithEndpoints(anaplan.Endpoints{Auth: srv.URL, API: srv.URL + "/2/0"})

	c, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), ep, anaplan.WithUserAgent("my-job/2.0"),
		anaplan.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient().Get(srv.URL + "/2/0/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/2/0/x", nil)
	req.Header.Set("User-Agent", "caller-set")
	resp, err = c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	if len(uas) != 2 || uas[0] != "my-job/2.0" || uas[1] != "caller-set" {
		t.Fatalf("User-Agents %q", uas)
	}
	mu.Unlock()
	// The given client's Timeout is kept...
	start := time.Now()
	if _, err := c.HTTPClient().Get(srv.URL + "/2/0/slow"); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Timeout not kept: %v after %v", err, time.Since(start))
	}
	// ...and a later WithTimeout overrides it.
	c2, _ := anaplan.New(ctx, anaplan.WithTokenSource(ts), ep, anaplan.WithHTTPClient(&http.Client{Timeout: time.Hour}), anaplan.WithTimeout(50*time.Millisecond))
	if c2.HTTPClient().Timeout != 50*time.Millisecond {
		t.Fatalf("WithTimeout: %v", c2.HTTPClient().Timeout)
	}
	if _, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithTimeout(-time.Second)); err == nil {
		t.Fatal("negative timeout accepted")
	}
}
