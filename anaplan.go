// Package anaplan signs Go programs in to Anaplan and works with its
// Integration API.
//
// A Client authenticates with one of three schemes: Basic (user and
// password), Certificate (a CA-issued X.509 certificate and its RSA key) or
// OAuth 2.0, or with tokens from a TokenSource of your own. Every scheme sits
// behind one token cache: the cached token costs a few nanoseconds and no
// allocation, one sign-in or refresh runs at a time however many goroutines
// ask, and tokens are refreshed a few minutes before they expire.
//
//	c, err := anaplan.New(ctx, anaplan.WithBasic(user, password), anaplan.WithRegion(anaplan.EU1))
//	...
//	defer c.Close(ctx)
//	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
//
// Connection strings in the form of Anaplan's commercial connectors work too:
//
//	c, err := anaplan.New(ctx, anaplan.FromConnectionString("AuthScheme=Basic;User=…;Password=…;Region=EU1"))
package anaplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Version is this SDK's version, sent in the default User-Agent.
const Version = "0.1.0"

// Client is an authenticated connection to Anaplan. It is safe for
// concurrent use.
type Client struct {
	cache     *tokenCache
	hc        *http.Client
	endpoints Endpoints
	scheme    string

	opened []SettingsStore // closed by Close

	closeOnce sync.Once
	closeErr  error
}

// New assembles the options, signs in, and returns a Client. Bad
// credentials, bad options and unreachable hosts fail here, with an error
// that says what to fix.
//
// Cancelling ctx stops the sign-in, with one exception: a request that
// spends a single-use OAuth credential (a rotating refresh token, a code) is
// allowed to finish (at most a minute) and its answer is persisted, so that
// no grant is lost; New then returns the context's error.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	cfg := &config{retry: defaultRetryPolicy, sleep: sleepCtx}
	for _, o := range opts {
		if o != nil {
			o(cfg)
		}
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	if cfg.scheme == nil {
		return nil, errors.New("anaplan: no way to authenticate was given: use WithBasic, WithCertificate, WithOAuth or WithTokenSource, or AuthScheme in a connection string")
	}
	realClock := cfg.now == nil
	if realClock {
		cfg.now = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ua == "" {
		cfg.ua = "go-anaplan/" + Version
	}
	ep, err := resolveEndpoints(cfg.region, cfg.endpoints)
	if err != nil {
		return nil, err
	}

	base := defaultTransport
	var timeout time.Duration
	var checkRedirect func(*http.Request, []*http.Request) error
	if cfg.hc != nil {
		if cfg.hc.Transport != nil {
			base = cfg.hc.Transport
		}
		timeout, checkRedirect = cfg.hc.Timeout, cfg.hc.CheckRedirect
	}
	if cfg.timeoutSet {
		timeout = cfg.timeout
	}
	var callBound, signInBound time.Duration
	if timeout == 0 && !cfg.timeoutSet {
		// Nothing chosen: bounded by default, never waiting for ever.
		callBound, signInBound = DefaultCallTimeout, DefaultSignInTimeout
	}
	idle := DefaultIdleTimeout
	if cfg.idleSet {
		idle = cfg.idle
	}
	var header time.Duration
	if idle > 0 {
		header = DefaultCallTimeout // a server that never answers
	}
	tr := &transport{base: base, total: callBound, idle: idle, header: header, logger: cfg.logger, policy: cfg.retry, ua: cfg.ua, uaValue: []string{cfg.ua}, now: cfg.now, sleep: cfg.sleep}
	signInTr := *tr
	signInTr.total = signInBound
	env := &buildEnv{
		hc:        &http.Client{Transport: &signInTr, Timeout: timeout, CheckRedirect: noRedirect},
		endpoints: ep,
		cfg:       cfg,
	}
	f, err := cfg.scheme.build(env)
	if err != nil {
		closeStores(cfg.opened)
		return nil, err
	}
	var cacheClock func() time.Time // nil: the real clock, kept by timers
	if !realClock {
		cacheClock = cfg.now
	}
	cache := newTokenCache(f, cacheClock, cfg.logger)
	at := &authTransport{next: tr, uaValue: tr.uaValue, cache: cache, hosts: [2]origin{newOrigin(ep.Auth), newOrigin(ep.API)}}
	c := &Client{
		cache:     cache,
		hc:        &http.Client{Transport: at, Timeout: timeout, CheckRedirect: checkRedirect},
		endpoints: ep,
		scheme:    cfg.scheme.name(),
		opened:    cfg.opened,
	}
	if err := cache.prime(ctx); err != nil {
		_ = cache.close(context.WithoutCancel(ctx))
		closeStores(cfg.opened)
		return nil, err
	}
	return c, nil
}

// defaultTransport is http.DefaultTransport with more idle connections per
// host (the default keeps 2): chunked transfers keep several requests to one
// host in flight, and should not reconnect every round. Shared by every
// Client that is not given its own, like http.DefaultTransport.
var defaultTransport = func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()

// The default bounds, in force when no Timeout is chosen (Timeout in a
// connection string, WithTimeout, or the Timeout of the client given to
// WithHTTPClient). An explicit Timeout (0 included, meaning none) replaces
// the first two; WithIdleTimeout replaces the third.
const (
	// DefaultSignInTimeout bounds each request of a sign-in: Basic and
	// certificate authentication, token refreshes of the auth service,
	// OAuth device-code requests. Requests that spend a single-use OAuth
	// credential have their own bound (45 s) that no timeout shortens.
	DefaultSignInTimeout = 30 * time.Second
	// DefaultCallTimeout bounds a call without a deadline in its context
	// (metadata, listings, task starts and polls), retries included.
	// Transfers (file and dump chunks, pages of large reads, cell data) are
	// not bounded in total, only by DefaultIdleTimeout.
	DefaultCallTimeout = 2 * time.Minute
	// DefaultIdleTimeout ends an answer whose body brings no new bytes for
	// this long while a Read waits, and an upload whose connection takes
	// none of its bytes for this long: a stalled connection or server.
	// With it, a transfer without a deadline has its wait for the answer's
	// headers, once the request is sent, bounded at DefaultCallTimeout.
	DefaultIdleTimeout = time.Minute
)

// noRedirect keeps the sign-in calls from following redirects: the
// authentication service does not redirect, and a redirect elsewhere must
// not receive credentials.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// HTTPClient returns the client's authenticated *http.Client. It adds
// "Authorization: AnaplanAuthToken <token>" to requests for the client's own
// Anaplan hosts (the scheme, host and port of Endpoints.Auth and
// Endpoints.API) and to no other; a request that sets its own Authorization
// header is sent as it is. When a host answers 401, the token is dropped and
// the request is sent once more with a new one.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Token returns a valid token, from the cache when it holds one.
func (c *Client) Token(ctx context.Context) (*Token, error) { return c.cache.Token(ctx) }

// TokenSource returns the client's token cache as a TokenSource.
func (c *Client) TokenSource() TokenSource { return c.cache }

// AuthScheme names how the client signs in: "Basic", "Certificate",
// "OAuth" or "TokenSource". Closing a Basic or Certificate client logs its
// session out; closing an OAuth client persists its tokens.
func (c *Client) AuthScheme() string { return c.scheme }

// Endpoints returns the hosts the client talks to.
func (c *Client) Endpoints() Endpoints { return c.endpoints }

// Close ends the client. It waits for a token refresh under way, then, for
// Basic and Certificate, logs the session out; for OAuth it persists what it
// holds and revokes nothing, so the next process reuses those tokens. Calls
// after the first return the first call's result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closeErr = c.cache.close(ctx)
		if err := closeStores(c.opened); err != nil {
			c.closeErr = errors.Join(c.closeErr, err)
		}
	})
	return c.closeErr
}

// closeStores closes the settings stores a connection string opened through
// a registered scheme (RegisterSettingsScheme).
func closeStores(stores []SettingsStore) error {
	var errs []error
	for _, s := range stores {
		if cl, ok := s.(interface{ Close() error }); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, errorf("anaplan: closing the OAuth settings store: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("anaplan.Client{Scheme:%s Auth:%s API:%s}", c.scheme, c.endpoints.Auth, c.endpoints.API)
}

// GoString is String, so that %#v shows no internals.
func (c *Client) GoString() string { return c.String() }

// resolveEndpoints merges explicit endpoints over the region's and checks them.
func resolveEndpoints(r Region, o Endpoints) (Endpoints, error) {
	if r == "" {
		r = DefaultRegion
	}
	ep, err := r.Endpoints()
	if err != nil {
		return Endpoints{}, err
	}
	if o.Auth != "" {
		ep.Auth = o.Auth
	}
	if o.API != "" {
		ep.API = o.API
	}
	if o.OAuth.AuthURL != "" {
		ep.OAuth.AuthURL = o.OAuth.AuthURL
	}
	if o.OAuth.TokenURL != "" {
		ep.OAuth.TokenURL = o.OAuth.TokenURL
	}
	if o.OAuth.DeviceAuthURL != "" {
		ep.OAuth.DeviceAuthURL = o.OAuth.DeviceAuthURL
	}
	if o.OAuth.AuthStyle != 0 {
		ep.OAuth.AuthStyle = o.OAuth.AuthStyle
	}
	ep.Auth, ep.API = trimSlash(ep.Auth), trimSlash(ep.API)
	for _, u := range []struct{ name, v string }{
		{"Auth", ep.Auth}, {"API", ep.API},
		{"OAuth.AuthURL", ep.OAuth.AuthURL}, {"OAuth.TokenURL", ep.OAuth.TokenURL}, {"OAuth.DeviceAuthURL", ep.OAuth.DeviceAuthURL},
	} {
		if err := checkEndpoint(u.v); err != nil {
			return Endpoints{}, errorf("anaplan: endpoint %s: %w", u.name, err)
		}
	}
	return ep, nil
}

// checkEndpoint accepts https URLs, and http URLs only on loopback hosts.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be an absolute URL such as https://host/path, without user information, query or fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http:// is refused for a non-loopback host: credentials would travel unencrypted; use https://")
	}
	return errors.New("scheme must be https (or http for a loopback host)")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
