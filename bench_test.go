package anaplan_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// BenchmarkCachedToken is the fast path every request takes: a token from
// the cache, in parallel. Basic is the baseline; a cached OAuth or
// certificate token must cost the same, since every scheme sits behind the
// one cache.
func BenchmarkCachedToken(b *testing.B) {
	srv := anaplantest.New(b)
	srv.AddUser(basicUser, basicPassword)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "bench", Secret: "bench-secret"})
	access, refresh, exp := srv.IssueOAuthTokens("bench", basicUser)
	cert, key, err := srv.IssueCertificate(basicUser)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []struct {
		name string
		opt  anaplan.Option
	}{
		{"baseline=basic", anaplan.WithBasic(basicUser, basicPassword)},
		{"oauth", anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: "bench", ClientSecret: "bench-secret", Initiate: anaplan.InitiateRefresh,
			AccessToken: access, RefreshToken: refresh, Expiry: exp})},
		{"certificate", anaplan.WithCertificate(cert, key)},
	} {
		b.Run(s.name, func(b *testing.B) {
			c, err := anaplan.New(ctx, fakeOptions(srv, s.opt, anaplan.WithSettingsStore(anaplan.NewMemoryStore()))...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Token(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRequests sends GETs to a loopback server through a bare
// http.Client (the baseline) and through the SDK's HTTPClient, alternating
// request by request in the same loop so that whatever else the machine does
// falls on both alike. It reports each side's time per request and
// ratio = bare ÷ sdk (1 means the SDK adds nothing; the target is ≥ 0.95).
//
// It runs twice: with the default options (what users get), and with the
// transport's bounds turned off (WithTimeout(0), WithIdleTimeout(0)), to
// show what the bounds cost.
func BenchmarkRequests(b *testing.B) {
	b.Run("options=default", func(b *testing.B) { benchmarkRequests(b) })
	b.Run("options=no-bounds", func(b *testing.B) {
		benchmarkRequests(b, anaplan.WithTimeout(0), anaplan.WithIdleTimeout(0))
	})
}

func benchmarkRequests(b *testing.B, extra ...anaplan.Option) {
	payload := make([]byte, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(payload)
	}))
	defer srv.Close()
	ctx := context.Background()
	ts := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
		return &anaplan.Token{Value: "bench-token", Type: "AnaplanAuthToken", Expiry: time.Now().Add(time.Hour)}, nil
	})
	c, err := anaplan.New(ctx, append([]anaplan.Option{anaplan.WithTokenSource(ts),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: srv.URL, API: srv.URL + "/2/0"})}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	bare := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	sdk := c.HTTPClient()
	// The same request on the wire: the bare client sets by hand the
	// headers the SDK adds.
	get := func(hc *http.Client) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest("GET", srv.URL+"/2/0/users/me", nil)
		if hc == bare {
			req.Header["Authorization"] = []string{"AnaplanAuthToken bench-token"}
			req.Header["User-Agent"] = []string{"go-anaplan/" + anaplan.Version}
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	get(bare) // warm both connections
	get(sdk)
	var tBare, tSDK time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 { // alternate which goes first
			tBare += get(bare)
			tSDK += get(sdk)
		} else {
			tSDK += get(sdk)
			tBare += get(bare)
		}
	}
	b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare-ns/req")
	b.ReportMetric(float64(tSDK.Nanoseconds())/float64(b.N), "sdk-ns/req")
	b.ReportMetric(float64(tBare)/float64(tSDK), "ratio")
}
