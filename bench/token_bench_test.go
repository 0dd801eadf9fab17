package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"golang.org/x/oauth2"
)

// BenchmarkCachedToken measures what a user gets from a cached token: the
// real clock, the default transport, default options, a Client signed in
// with Basic against anaplantest. Beside it, in the same run, the cached
// token of golang.org/x/oauth2's ReuseTokenSource and of aws-sdk-go-v2's
// CredentialsCache (both read the clock on every call), and two floors: one
// atomic pointer load, and one load plus time.Now.
func BenchmarkCachedToken(b *testing.B) {
	ctx := context.Background()
	srv := anaplantest.New(b)
	srv.AddUser("bench@example.com", "bench-Passw0rd")
	c, err := anaplan.New(ctx, anaplan.WithBasic("bench@example.com", "bench-Passw0rd"),
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)

	reuse := oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x", Expiry: time.Now().Add(time.Hour)}))
	awsCache := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
	}))
	if _, err := awsCache.Retrieve(ctx); err != nil {
		b.Fatal(err)
	}
	var p atomic.Pointer[anaplan.Token]
	p.Store(&anaplan.Token{Value: "x", Expiry: time.Now().Add(time.Hour)})

	cases := []struct {
		name string
		f    func() bool
	}{
		{"floor=atomic-load", func() bool { return p.Load() != nil }},
		{"floor=atomic-load+time.Now", func() bool { t := p.Load(); return time.Now().Before(t.Expiry) }},
		{"sdk=Client.Token", func() bool { t, err := c.Token(ctx); return err == nil && t != nil }},
		{"x-oauth2=ReuseTokenSource", func() bool { t, err := reuse.Token(); return err == nil && t != nil }},
		{"aws=CredentialsCache", func() bool { _, err := awsCache.Retrieve(ctx); return err == nil }},
	}
	for _, tc := range cases {
		b.Run(tc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !tc.f() {
					b.Fatal("no token")
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !tc.f() {
						b.Fatal("no token")
					}
				}
			})
		})
	}
}
