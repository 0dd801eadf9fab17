package anaplan

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// InitiateOAuth says how far the SDK may go to obtain OAuth tokens.
type InitiateOAuth string

// The InitiateOAuth modes, as the connector names them.
const (
	InitiateOff           InitiateOAuth = "OFF"           // use the tokens given; never refresh, never prompt
	InitiateRefresh       InitiateOAuth = "REFRESH"       // refresh and persist; never prompt
	InitiateGetAndRefresh InitiateOAuth = "GETANDREFRESH" // as REFRESH, and sign the person in when no usable token exists
)

// DefaultScopes returns the scopes requested when OAuthConfig.Scopes is
// empty: openid profile email offline_access. Each call returns a new slice,
// so no caller can change what another gets.
func DefaultScopes() []string { return []string{"openid", "profile", "email", "offline_access"} }

// OAuthConfig configures OAuth 2.0 sign-in. String, GoString and LogValue
// redact ClientSecret, AccessToken, RefreshToken and Verifier.
//
// Verifier is the connector's OAuthVerifier: an **authorization code** that
// the person obtained on another machine (or the whole URL the browser was
// redirected to, code= included), which New exchanges once for tokens. It
// is not PKCE's code_verifier: the SDK makes and keeps that secret itself
// in the flows it runs (loopback and pasted URL).
type OAuthConfig struct {
	ClientID     string
	ClientSecret string   // empty: a device-grant client
	CallbackURL  string   // registered redirect URI of an authorization-code client
	Scopes       []string // default: openid profile email offline_access
	Initiate     InitiateOAuth

	AccessToken  string    // OAuthAccessToken
	RefreshToken string    // OAuthRefreshToken
	Expiry       time.Time // of AccessToken (from OAuthExpiresIn + OAuthTokenTimestamp)
	Verifier     string    // OAuthVerifier: an authorization code (or the whole redirected URL) to exchange

	// How GETANDREFRESH reaches the person signing in; nil means the system browser and the terminal.
	OpenURL        func(ctx context.Context, url string) error                   // shows the authorization URL
	ShowDeviceCode func(ctx context.Context, d *oauth2.DeviceAuthResponse) error // device grant: shows user code and URL
}

// String implements fmt.Stringer without revealing secrets.
func (c OAuthConfig) String() string {
	return fmt.Sprintf("OAuthConfig{ClientID:%s ClientSecret:%s CallbackURL:%s Scopes:%v Initiate:%s AccessToken:%s RefreshToken:%s Expiry:%s Verifier:%s}",
		c.ClientID, redact(c.ClientSecret), c.CallbackURL, c.Scopes, c.Initiate, redact(c.AccessToken), redact(c.RefreshToken), fmtTime(c.Expiry), redact(c.Verifier))
}

// GoString implements fmt.GoStringer without revealing secrets.
func (c OAuthConfig) GoString() string { return "anaplan." + c.String() }

// LogValue implements slog.LogValuer without revealing secrets.
func (c OAuthConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redact(c.ClientSecret)),
		slog.String("callback_url", c.CallbackURL),
		slog.Any("scopes", c.Scopes),
		slog.String("initiate", string(c.Initiate)),
		slog.String("access_token", redact(c.AccessToken)),
		slog.String("refresh_token", redact(c.RefreshToken)),
		slog.Time("expiry", c.Expiry),
		slog.String("verifier", redact(c.Verifier)),
	)
}

// OAuth2Config returns the *oauth2.Config of cfg at the endpoints e, for web
// applications that run the authorization-code flow in their own handlers:
// AuthCodeURL for the sign-in link, Exchange for the code, and then New with
// WithOAuth and the exchanged tokens. Client credentials go in the request
// body, as Anaplan expects.
func OAuth2Config(cfg OAuthConfig, e Endpoints) *oauth2.Config {
	ep := e.OAuth
	if ep.AuthStyle == oauth2.AuthStyleAutoDetect {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes()
	}
	return &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  cfg.CallbackURL,
		Scopes:       append([]string(nil), scopes...),
	}
}

// WithOAuth signs in with OAuth 2.0. What happens when no usable token is at
// hand depends on cfg.Initiate; tokens persist in the SettingsStore (see
// WithSettingsStore) with InitiateRefresh and InitiateGetAndRefresh.
func WithOAuth(cfg OAuthConfig) Option {
	return func(c *config) { c.scheme = oauthScheme{cfg: cfg} }
}

type oauthScheme struct{ cfg OAuthConfig }

func (oauthScheme) name() string { return "OAuth" }

func (s oauthScheme) build(env *buildEnv) (fetcher, error) {
	cfg := s.cfg
	if cfg.Initiate == "" {
		cfg.Initiate = InitiateOff
	}
	switch InitiateOAuth(strings.ToUpper(string(cfg.Initiate))) {
	case InitiateOff, InitiateRefresh, InitiateGetAndRefresh:
		cfg.Initiate = InitiateOAuth(strings.ToUpper(string(cfg.Initiate)))
	default:
		return nil, errors.New("anaplan: OAuthConfig.Initiate must be OFF, REFRESH or GETANDREFRESH")
	}
	if cfg.ClientID == "" && (cfg.Initiate != InitiateOff || cfg.Verifier != "") {
		return nil, errors.New("anaplan: OAuth needs the client ID (OAuthClientId) to refresh or sign in")
	}
	if cfg.Initiate == InitiateOff && cfg.AccessToken == "" && cfg.Verifier == "" {
		return nil, fmt.Errorf("%w: InitiateOAuth=OFF uses the tokens it is given, and none was given: set OAuthAccessToken, or use InitiateOAuth=REFRESH or GETANDREFRESH", ErrInteractionRequired)
	}
	if cfg.CallbackURL != "" {
		if _, err := url.Parse(cfg.CallbackURL); err != nil {
			return nil, errors.New("anaplan: OAuth CallbackURL is not a valid URL")
		}
	}
	rememberSecret(cfg.ClientSecret, cfg.AccessToken, cfg.RefreshToken, cfg.Verifier)
	if code, _, err := parseVerifier(cfg.Verifier); err == nil {
		rememberSecret(code)
	}
	store := env.cfg.store
	if store == nil && cfg.Initiate != InitiateOff {
		var err error
		if store, err = defaultSettingsStore(cfg); err != nil {
			return nil, err
		}
	}
	// Requests that spend a single-use credential are bounded by their own
	// deadline (spendTimeout, or the store's), never by the per-request
	// Timeout: a spend cut short loses the rotated refresh token.
	spendHC := &http.Client{Transport: env.hc.Transport, CheckRedirect: env.hc.CheckRedirect, Jar: env.hc.Jar}
	oc := OAuth2Config(cfg, env.endpoints)
	return &oauthFetcher{
		cfg:     cfg,
		oc:      oc,
		hc:      oauthBodyClient(env.hc, env.cfg.oauthBody, oc.Endpoint),  // JSON bodies to Anaplan (oauth_json.go)
		spendHC: oauthBodyClient(spendHC, env.cfg.oauthBody, oc.Endpoint), // likewise
		store:   store,
		logger:  env.cfg.logger,
		now:     env.cfg.now,
		prompt:  env.cfg.prompt,
	}, nil
}

// oauthFetcher obtains, refreshes and persists OAuth tokens. The cache calls
// fetch one at a time; mu also guards against close running alongside.
type oauthFetcher struct {
	cfg     OAuthConfig
	oc      *oauth2.Config
	hc      *http.Client
	spendHC *http.Client  // hc without its Timeout: for the requests that spend
	store   SettingsStore // nil with InitiateOff
	logger  *slog.Logger
	now     func() time.Time

	// prompt reads the redirected URL on the terminal (tests replace it).
	prompt func(ctx context.Context, msg string) (string, error)

	mu          sync.Mutex
	st          Settings // what this client holds
	issued      string   // the access token last handed out
	verifierSet bool     // cfg.Verifier was exchanged (or superseded)
	unsaved     error    // a save that failed; retried on later calls, returned by close
	foreign     error    // the store holds what this client cannot read as its own: never overwritten
	base        string   // the refresh token the store held when this client last read or wrote it
}

func (f *oauthFetcher) fetch(ctx context.Context, prev *Token) (*Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg.Initiate == InitiateOff {
		return f.fetchOff(ctx)
	}
	unlock, err := f.lockStore(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if f.unsaved != nil {
		f.landUnsaved(ctx)
	}
	if f.unsaved == nil { // the store holds what we hold, or newer
		if err := f.adoptStored(ctx); err != nil {
			return nil, err
		}
	}
	if f.st.AccessToken == "" && f.st.RefreshToken == "" && f.cfg.AccessToken+f.cfg.RefreshToken != "" && f.issued == "" {
		// First use: the tokens given in the configuration.
		f.st = Settings{AccessToken: f.cfg.AccessToken, RefreshToken: f.cfg.RefreshToken, TokenType: "Bearer", Expiry: f.cfg.Expiry, ClientID: f.cfg.ClientID}
	}
	// A token this client has not handed out yet, and still in date: another
	// process (or an earlier run) refreshed it. Use it as it is.
	if f.st.AccessToken != "" && f.st.AccessToken != f.issued && f.inDate(f.st.Expiry) {
		return f.hand(), nil
	}
	if f.cfg.Verifier != "" && !f.verifierSet && f.st.RefreshToken == "" {
		if err := f.exchangeVerifier(ctx); err != nil {
			return nil, err
		}
		return f.persistAndHand(ctx), nil
	}
	if f.st.RefreshToken != "" {
		err := f.refresh(ctx)
		if err == nil {
			return f.persistAndHand(ctx), nil
		}
		if !errors.Is(err, ErrUnauthorized) {
			return nil, err // the server or the network failed: the refresh token may still be good
		}
		if clientRefused(err) {
			return nil, err // signing in again would be refused just the same
		}
		if f.cfg.Initiate != InitiateGetAndRefresh {
			return nil, fmt.Errorf("%w: the refresh token was refused, and InitiateOAuth=%s never prompts: sign in again with InitiateOAuth=GETANDREFRESH (for example `anaplan login`): %w", ErrInteractionRequired, f.cfg.Initiate, err)
		}
		if prev != nil {
			return nil, errorf("anaplan: the OAuth refresh token was refused; the person is asked to sign in again once the current token expires: %w", err)
		}
		f.logger.LogAttrs(ctx, slog.LevelInfo, "anaplan: the OAuth refresh token was refused; signing in again", slog.String("error", err.Error()))
	}
	if f.cfg.Initiate != InitiateGetAndRefresh {
		return nil, fmt.Errorf("%w: no usable OAuth token or refresh token, and InitiateOAuth=%s never prompts: sign in once with InitiateOAuth=GETANDREFRESH (for example `anaplan login`) to create the settings, or pass OAuthVerifier", ErrInteractionRequired, f.cfg.Initiate)
	}
	if prev != nil {
		// An early refresh runs in the background while the current token is
		// still served: never prompt from there. The person is asked when
		// no usable token is left, by a caller that waits for it.
		return nil, errors.New("anaplan: no OAuth refresh token to renew the current token with; the person is asked to sign in once it expires")
	}
	if err := f.signIn(ctx); err != nil {
		return nil, err
	}
	return f.persistAndHand(ctx), nil
}

// fetchOff serves the access token given; it never refreshes.
func (f *oauthFetcher) fetchOff(ctx context.Context) (*Token, error) {
	if f.cfg.Verifier != "" && !f.verifierSet {
		if err := f.exchangeVerifier(ctx); err != nil {
			return nil, err
		}
		return f.hand(), nil
	}
	if f.st.AccessToken == "" && f.issued == "" {
		f.st = Settings{AccessToken: f.cfg.AccessToken, TokenType: "Bearer", Expiry: f.cfg.Expiry, ClientID: f.cfg.ClientID}
	}
	if f.st.AccessToken != "" && f.st.AccessToken != f.issued && f.inDate(f.st.Expiry) {
		return f.hand(), nil
	}
	return nil, fmt.Errorf("%w: the OAuth access token has expired or was rejected, and InitiateOAuth=OFF never refreshes: supply a new OAuthAccessToken, or use InitiateOAuth=REFRESH with OAuthRefreshToken", ErrInteractionRequired)
}

// inDate reports whether a token not yet handed out is worth using. The
// margin is small so that short-lived tokens saved by another process are
// adopted too (the cache then refreshes them early as usual).
func (f *oauthFetcher) inDate(expiry time.Time) bool {
	return expiry.IsZero() || f.now().Add(adoptMargin).Before(expiry)
}

// adoptMargin is how long a stored token must still live to be adopted.
const adoptMargin = time.Second

func (f *oauthFetcher) hand() *Token {
	f.issued = f.st.AccessToken
	return &Token{Value: f.st.AccessToken, Type: TokenTypeAnaplan, Expiry: f.st.Expiry}
}

func (f *oauthFetcher) lockStore(ctx context.Context) (func(), error) {
	l, ok := f.store.(Locker)
	if !ok {
		return func() {}, nil
	}
	unlock, err := l.Lock(ctx)
	if err != nil {
		return nil, errorf("anaplan: locking the OAuth settings: %w", err)
	}
	return unlock, nil
}

// adoptStored re-reads the store: what another process saved is newer than
// what this client holds.
func (f *oauthFetcher) adoptStored(ctx context.Context) error {
	s, err := f.store.Load(ctx)
	switch {
	case errors.Is(err, ErrNoSettings):
		f.base = ""
		return nil
	case err != nil:
		return errorf("anaplan: reading the OAuth settings: %w", err)
	case s.ClientID != "" && f.cfg.ClientID != "" && s.ClientID != f.cfg.ClientID:
		// Neither used nor overwritten: they are another client's grant.
		return errorf("anaplan: the OAuth settings store holds the tokens of client %q, not of %q: give each OAuth client its own OAuthSettingsLocation (or SettingsStore)", s.ClientID, f.cfg.ClientID)
	}
	f.base = s.RefreshToken
	if s.AccessToken != "" || s.RefreshToken != "" {
		f.st = *s
		f.verifierSet = true // a stored grant supersedes a verifier (codes are single-use)
	}
	return nil
}

// persistAndHand saves what this client now holds before handing out the new
// access token: a rotated refresh token is never relied on before it is
// persisted. A failed save keeps the tokens in memory and is retried later.
func (f *oauthFetcher) persistAndHand(ctx context.Context) *Token {
	if f.store != nil {
		ctx, cancel := spendCtx(ctx) // what was spent is saved whoever cancels
		defer cancel()
		f.unsaved = nil
		f.retrySave(ctx)
	}
	return f.hand()
}

// landUnsaved settles a save that reported failure, under the store's lock.
// The store is re-read first, and overwritten only when it is empty or still
// holds what it held when this client last read or wrote it (f.base): then
// what the client holds is newer, however many refreshes it made since. When the save landed after all (a store may fail after writing,
// e.g. on a directory sync) or another process saved newer tokens, there is
// nothing to write. Anything else (a file sealed with another key, another
// client's tokens, a damaged file, an unreadable store) is left untouched:
// the tokens stay in memory and the error is reported.
func (f *oauthFetcher) landUnsaved(ctx context.Context) {
	s, err := f.store.Load(ctx)
	switch {
	case errors.Is(err, ErrNoSettings):
		// empty: ours to write
	case err != nil:
		f.keepForeign(ctx, errorf("anaplan: the OAuth settings store could not be read back (%w), so it is left untouched; the new tokens are kept in memory only", err))
		return
	case s.ClientID != "" && f.cfg.ClientID != "" && s.ClientID != f.cfg.ClientID:
		f.keepForeign(ctx, errorf("anaplan: the OAuth settings store now holds the tokens of another client (%q), so it is left untouched; the new tokens are kept in memory only", s.ClientID))
		return
	case s.RefreshToken != f.base:
		// Landed after all, or superseded by another process: nothing to write.
		f.unsaved, f.foreign = nil, nil
		return
	}
	f.foreign = nil
	f.retrySave(ctx)
}

func (f *oauthFetcher) keepForeign(ctx context.Context, err error) {
	f.foreign = err
	f.unsaved = err
	f.logger.LogAttrs(ctx, slog.LevelError, "anaplan: not saving the OAuth settings", slog.String("error", err.Error()))
}

func (f *oauthFetcher) retrySave(ctx context.Context) {
	s := f.st
	if err := f.store.Save(ctx, &s); err != nil {
		f.unsaved = errorf("anaplan: saving the OAuth settings failed; the tokens are kept in memory and the save is retried: %w", err)
		f.logger.LogAttrs(ctx, slog.LevelError, "anaplan: saving the OAuth settings failed", slog.String("error", err.Error()))
		return
	}
	f.unsaved, f.base = nil, s.RefreshToken
}

func (f *oauthFetcher) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, f.hc)
}

// spendTimeout bounds a call that spends a single-use credential, whatever
// the per-request timeout (Timeout, WithTimeout, the given client's).
const spendTimeout = 45 * time.Second

// spendCtx detaches a call that spends a single-use credential (a rotating
// refresh token, an authorization code) from the caller's cancellation: once
// the request is sent, its answer must be received and persisted whoever
// cancels, or the rotated refresh token is lost with the grant.
func spendCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), spendTimeout)
}

// beginSpend is the pre-flight of every request that spends a single-use
// credential. A store that implements SpendPreparer is asked whether it can
// take the result; when it cannot, nothing is spent. The returned context is
// detached from the caller's cancellation, ends at spendTimeout, and carries
// the client without a per-request Timeout. The store's deadline is the last
// moment the request may be sent (the transport checks it before every
// attempt); its answer is awaited up to spendTimeout all the same, so that
// an answer that comes late is still saved.
func (f *oauthFetcher) beginSpend(ctx context.Context) (context.Context, context.CancelFunc, error) {
	deadline := time.Now().Add(spendTimeout) // context deadlines run on the real clock
	var sendBy time.Time
	dl, err := f.prepare(ctx, "the current refresh token was not spent and stays valid")
	if err != nil {
		return nil, nil, err
	}
	if !dl.IsZero() {
		if time.Until(dl) < minSpendTime {
			return nil, nil, fmt.Errorf("%w: the OAuth settings store %s allows less than %v for the spend, so the current refresh token was not spent and stays valid", ErrStoreNotReady, storeName(f.store), minSpendTime)
		}
		sendBy = dl
	}
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	if !sendBy.IsZero() {
		sctx = withSendBy(sctx, sendBy)
	}
	return context.WithValue(sctx, oauth2.HTTPClient, f.spendHC), cancel, nil
}

// prepare asks the store (SpendPreparer) whether it can keep new tokens; a
// store holding what this client cannot read as its own never can. what
// says what was therefore not done.
func (f *oauthFetcher) prepare(ctx context.Context, what string) (time.Time, error) {
	if f.foreign != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", ErrStoreNotReady, what, f.foreign)
	}
	p, ok := f.store.(SpendPreparer)
	if !ok {
		return time.Time{}, nil
	}
	dl, err := p.PrepareSpend(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: the OAuth settings store %s cannot take new tokens, so %s: %w", ErrStoreNotReady, storeName(f.store), what, err)
	}
	return dl, nil
}

// storeName names a store in messages: the SDK's own stores by their
// String (a path or a name, never a key); any other by its type only, since
// its %v might show what it holds.
func storeName(s SettingsStore) string {
	switch s := s.(type) {
	case *FileStore:
		return s.String()
	case *MemoryStore:
		return s.String()
	}
	return fmt.Sprintf("%T", s)
}

// minSpendTime is the least time a store's deadline must leave for a spend.
const minSpendTime = time.Second

// ErrStoreNotReady is matched (errors.Is) when the OAuth settings store said,
// before a single-use credential was to be spent, that it could not take the
// result (a full or read-only disk, a lost lock): nothing was spent, and the
// refresh token stays valid. Fix what the error names and try again.
var ErrStoreNotReady = errors.New("anaplan: OAuth settings store not ready")

func (f *oauthFetcher) refresh(ctx context.Context) error {
	ctx, cancel, err := f.beginSpend(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	old := &oauth2.Token{RefreshToken: f.st.RefreshToken, Expiry: time.Unix(1, 0)}
	t, err := f.oc.TokenSource(ctx, old).Token()
	if err != nil {
		return oauthError("refreshing the OAuth token", err)
	}
	f.take(t)
	return nil
}

func (f *oauthFetcher) exchangeVerifier(ctx context.Context) error {
	code, _, err := parseVerifier(f.cfg.Verifier)
	if err != nil {
		return err
	}
	ctx, cancel, err := f.beginSpend(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	t, err := f.oc.Exchange(ctx, code)
	if err != nil {
		return oauthError("exchanging OAuthVerifier for tokens (codes are single-use and expire within minutes: get a new one if it was used)", err)
	}
	f.verifierSet = true
	f.take(t)
	return nil
}

// take records a token answer. A non-rotating server sends no new refresh
// token: keep the one we have (the oauth2 package already does).
func (f *oauthFetcher) take(t *oauth2.Token) {
	rememberSecret(t.AccessToken, t.RefreshToken)
	if id, ok := t.Extra("id_token").(string); ok {
		rememberSecret(id)
	}
	rt := t.RefreshToken
	if rt == "" {
		rt = f.st.RefreshToken
	}
	exp := t.Expiry
	if t.ExpiresIn > 0 { // measured on our clock, which may not be the oauth2 package's
		exp = f.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	f.st = Settings{AccessToken: t.AccessToken, RefreshToken: rt, TokenType: t.TokenType, Expiry: exp, ClientID: f.cfg.ClientID}
}

func (f *oauthFetcher) close(ctx context.Context, _ *Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store == nil || f.unsaved == nil {
		return nil // the store already holds what this client holds
	}
	unlock, err := f.lockStore(ctx)
	if err != nil {
		return errors.Join(f.unsaved, err)
	}
	defer unlock()
	f.landUnsaved(ctx)
	return f.unsaved
}

// clientRefused reports an OAuth error about the client's own credentials.
func clientRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Code == "invalid_client" || ae.Code == "unauthorized_client")
}

// oauthError turns an oauth2 error into an *APIError without the response
// body (which we do not control) or anything secret.
func oauthError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		ae := &APIError{Code: truncate(scrubServerText(re.ErrorCode), 100), Message: truncate(scrubServerText(re.ErrorDescription), 300), Method: http.MethodPost}
		if re.Response != nil {
			ae.StatusCode = re.Response.StatusCode
			if re.Response.Request != nil {
				ae.URL = redactURL(re.Response.Request.URL.String())
			}
			if ae.Message == "" {
				ae.Message = http.StatusText(re.Response.StatusCode)
			}
		}
		switch ae.Code {
		case "invalid_grant":
			ae.Hint = "the code or refresh token is expired, used or revoked"
		case "invalid_client", "unauthorized_client":
			ae.Hint = "the OAuth client was refused: check OAuthClientId and OAuthClientSecret (a device-grant client has no secret)"
		}
		return errorf("anaplan: %s: %w", what, ae)
	}
	return errorf("anaplan: %s: %w", what, scrubbed(err))
}

// scrubbedError shows an error without its URL's query, and keeps the chain
// (errors.Is(err, context.Canceled) still holds).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrubbed(err error) error {
	return &scrubbedError{msg: scrubServerText(scrubURLError(err)), err: err}
}

// parseVerifier takes an authorization code, or the whole URL the browser
// was redirected to, and returns the code and state.
func parseVerifier(v string) (code, state string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", errors.New("anaplan: OAuthVerifier is empty: paste the code, or the whole URL the browser was sent to")
	}
	if !strings.ContainsAny(v, "?=&/") {
		return v, "", nil // a bare code
	}
	raw := v
	if i := strings.IndexByte(v, '?'); i >= 0 {
		raw = v[i+1:]
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	q, perr := url.ParseQuery(raw)
	if perr != nil {
		return "", "", errors.New("anaplan: OAuthVerifier is neither a code nor a redirected URL with a code= parameter")
	}
	if e := q.Get("error"); e != "" {
		ae := &APIError{Code: truncate(scrubServerText(e), 100), Message: truncate(scrubServerText(q.Get("error_description")), 300)}
		return "", "", errorf("anaplan: the sign-in was refused: %w", ae)
	}
	code = q.Get("code")
	if code == "" {
		return "", "", errors.New("anaplan: the redirected URL has no code= parameter: paste the whole URL the browser was sent to after signing in")
	}
	return code, q.Get("state"), nil
}

// randomString returns n random bytes as unpadded base64url.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
