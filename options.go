package anaplan

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Option configures a Client. Options apply in order: a later option
// overrides an earlier one, and a later scheme-choosing option (WithBasic,
// WithCertificate, WithOAuth, WithTokenSource, or AuthScheme in a connection
// string) replaces the scheme an earlier one chose.
type Option func(*config)

// config is what the options assemble; New turns it into a Client.
type config struct {
	scheme     scheme // nil until an option chooses one
	region     Region
	endpoints  Endpoints // explicit overrides; empty fields come from the region
	hc         *http.Client
	logger     *slog.Logger
	ua         string
	store      SettingsStore
	opened     []SettingsStore // stores opened from an OAuthSettingsLocation scheme: closed with the client
	timeout    time.Duration
	timeoutSet bool
	idle       time.Duration
	idleSet    bool
	oauthBody  OAuthBodyEncoding // WithOAuthBodyEncoding (oauth_json.go)
	errs       []error

	// Internal knobs for tests.
	now        func() time.Time
	retry      retryPolicy
	sleep      func(ctx context.Context, d time.Duration) error
	certFormat string
	prompt     func(ctx context.Context, msg string) (string, error)
}

// scheme builds the fetcher of one authentication scheme once the rest of the
// configuration is known.
type scheme interface {
	name() string
	build(env *buildEnv) (fetcher, error)
}

// buildEnv is what a scheme may use to build its fetcher: the resolved
// configuration (defaults filled in) and what New derived from it.
type buildEnv struct {
	hc        *http.Client // retrying, adds no token
	endpoints Endpoints
	cfg       *config
}

func (c *config) fail(err error) { c.errs = append(c.errs, err) }

// WithBasic signs in with an Anaplan user name and password. A single sign-on
// user must be an Exception User to do so.
func WithBasic(user, password string) Option {
	return func(c *config) { c.scheme = basicScheme{user: user, password: password} }
}

type basicScheme struct{ user, password string }

func (basicScheme) name() string { return "Basic" }

func (s basicScheme) build(env *buildEnv) (fetcher, error) {
	rememberSecret(s.password, s.user+":"+s.password, base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.password)))
	switch {
	case s.user == "":
		return nil, errors.New("anaplan: Basic authentication needs a user name (WithBasic user, or User in the connection string)")
	case s.password == "":
		return nil, errors.New("anaplan: Basic authentication needs a password (WithBasic password, or Password in the connection string)")
	}
	a := newBasicService(s.user, s.password)
	a.setup(env)
	return a, nil
}

// WithCertificate signs in with a CA-issued certificate registered with the
// tenant and its RSA private key. The key may be any crypto.Signer with an
// RSA public key: a key from a file (LoadPEM, LoadPKCS12), an HSM or a KMS.
func WithCertificate(cert *x509.Certificate, key crypto.Signer) Option {
	return func(c *config) { c.scheme = certScheme{cert: cert, key: key} }
}

type certScheme struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (certScheme) name() string { return "Certificate" }

func (s certScheme) build(env *buildEnv) (fetcher, error) {
	if s.cert == nil || s.key == nil {
		return nil, errors.New("anaplan: Certificate authentication needs a certificate and its private key (see LoadPEM and LoadPKCS12)")
	}
	if err := checkCertificateKey(s.cert, s.key, env.cfg.now()); err != nil {
		return nil, err
	}
	format := env.cfg.certFormat
	if format == "" {
		format = "v2"
	}
	a := newCertificateService(s.cert, s.key, format)
	a.setup(env)
	return a, nil
}

func (a *authService) setup(env *buildEnv) {
	a.hc, a.base, a.now, a.logger = env.hc, trimSlash(env.endpoints.Auth), env.cfg.now, env.cfg.logger
}

// WithTokenSource uses tokens from ts (tests, external token brokers). They
// sit behind the same cache as every other scheme: ts is called when there is
// no token, when the token nears its Expiry, and when the server rejected it.
func WithTokenSource(ts TokenSource) Option {
	return func(c *config) { c.scheme = sourceScheme{ts: ts} }
}

type sourceScheme struct{ ts TokenSource }

func (sourceScheme) name() string { return "TokenSource" }

func (s sourceScheme) build(*buildEnv) (fetcher, error) {
	if s.ts == nil {
		return nil, errors.New("anaplan: WithTokenSource was given a nil TokenSource")
	}
	return sourceFetcher(s), nil
}

// WithSettingsStore sets where OAuth tokens persist (default with
// InitiateOAuth REFRESH or GETANDREFRESH: a FileStore under os.UserConfigDir).
func WithSettingsStore(s SettingsStore) Option {
	return func(c *config) { c.store = s }
}

// WithRegion selects the Anaplan data centre (default US1). It replaces
// endpoints set by an earlier WithEndpoints.
func WithRegion(r Region) Option {
	return func(c *config) {
		p, err := ParseRegion(string(r))
		if err != nil {
			c.fail(err)
			return
		}
		c.region, c.endpoints = p, Endpoints{}
	}
}

// WithEndpoints sets the hosts explicitly (private deployments, tests). Empty
// fields keep the region's. Plain http:// is accepted only for loopback hosts.
func WithEndpoints(e Endpoints) Option {
	return func(c *config) { c.endpoints = e }
}

// WithHTTPClient sets the HTTP client whose Transport is the base of every
// request (nil Transport: http.DefaultTransport) and whose Timeout is kept.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.hc = hc }
}

// WithLogger logs each request at debug level (method, host, path, status,
// duration, attempt) and refresh problems at warn level. Header values and
// secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithUserAgent sets the User-Agent of requests that do not set their own.
func WithUserAgent(ua string) Option {
	return func(c *config) { c.ua = ua }
}

// WithTimeout bounds each HTTP request (0: no bound). It overrides the
// Timeout of a client given by WithHTTPClient.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail(errorf("anaplan: WithTimeout: %v is negative", d))
			return
		}
		c.timeout, c.timeoutSet = d, true
	}
}

// WithClock makes the client read time from now instead of the system
// clock: for tests that move time, for example with anaplantest.Server.Now,
// so that tokens expire when the fake says. On the system clock (the
// default) the cached token path reads no clock at all; with WithClock every
// cached call reads now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithIdleTimeout sets how long an answer may bring no new bytes (while a
// Read waits), or an upload's connection take none of its bytes, before the
// request is abandoned (default DefaultIdleTimeout). It bounds long
// transfers by lack of progress rather than by total time. 0 means no
// limit, and no bound on a transfer's wait for its answer's headers either
// (by default DefaultCallTimeout once the request is sent, unless the
// caller's context has a deadline).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail(errorf("anaplan: WithIdleTimeout: %v is negative", d))
			return
		}
		c.idle, c.idleSet = d, true
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
