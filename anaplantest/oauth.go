package anaplantest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultOAuthUser is the user the OAuth service signs in until SetOAuthUser
// names another.
const DefaultOAuthUser = "oauth.user@example.com"

// DefaultScope is the scope granted when a request names none.
const DefaultScope = "openid profile email offline_access"

// The device-grant type, as sent in grant_type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// OAuthClient is an OAuth client as a tenant administrator registers it in
// Anaplan.
type OAuthClient struct {
	ID string
	// Secret is the client secret of an authorization-code client; empty
	// makes a device-grant (public) client that authenticates with its ID
	// alone.
	Secret string
	// RedirectURIs are the registered callback URLs; authorize accepts
	// exactly these and no others.
	RedirectURIs []string
	// Rotating makes refresh tokens single-use: each refresh returns a new
	// one, and presenting a used one revokes the whole grant.
	Rotating bool
	// RefreshTTL is the life of a refresh token from its issue; 0 means it
	// never expires.
	RefreshTTL time.Duration
}

// String describes the client without its secret.
func (c OAuthClient) String() string {
	secret := ""
	if c.Secret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("anaplantest.OAuthClient{ID:%q Secret:%q RedirectURIs:%q Rotating:%t RefreshTTL:%v}",
		c.ID, secret, c.RedirectURIs, c.Rotating, c.RefreshTTL)
}

// GoString is String, so that %#v shows no secret either.
func (c OAuthClient) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c OAuthClient) LogValue() slog.Value { return slog.StringValue(c.String()) }

type grant struct {
	clientID string
	user     *user
	scope    string
	revoked  bool
}

type accessToken struct {
	g       *grant
	expires time.Time
	revoked bool
}

type refreshToken struct {
	g       *grant
	expires time.Time // zero: never
	used    bool
	revoked bool
}

type authCode struct {
	clientID, redirectURI, scope, challenge string
	user                                    *user
	expires                                 time.Time
	used                                    bool
	g                                       *grant // the grant it was exchanged for
}

type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDenied
	deviceExchanged
)

type deviceAuth struct {
	clientID, scope, userCode string
	user                      *user
	expires                   time.Time
	state                     deviceState
	lastPoll, lastPollReal    time.Time
}

// oauthState is the OAuth service's state, guarded by Server.mu.
type oauthState struct {
	clients     map[string]*OAuthClient
	user        string
	denyNext    bool
	codes       map[string]*authCode
	access      map[string]*accessToken
	refresh     map[string]*refreshToken
	devices     map[string]*deviceAuth // by device_code
	userCodes   map[string]*deviceAuth // by normalized user_code
	refreshUses map[string]int
	revocations int
}

func (o *oauthState) init() {
	o.clients = map[string]*OAuthClient{}
	o.user = DefaultOAuthUser
	o.codes = map[string]*authCode{}
	o.access = map[string]*accessToken{}
	o.refresh = map[string]*refreshToken{}
	o.devices = map[string]*deviceAuth{}
	o.userCodes = map[string]*deviceAuth{}
	o.refreshUses = map[string]int{}
}

func (o *oauthState) revokeToken(value string) {
	if t := o.access[value]; t != nil {
		t.revoked = true
	}
	if t := o.refresh[value]; t != nil {
		t.revoked = true
	}
}

// accessUser finds the user of a live OAuth access token, or says why not.
func (o *oauthState) accessUser(value string, now time.Time) (*user, string) {
	t := o.access[value]
	switch {
	case t == nil:
		return nil, "token is not valid"
	case t.revoked || t.g.revoked:
		return nil, "token has been revoked"
	case !now.Before(t.expires):
		return nil, "token has expired"
	}
	return t.g.user, ""
}

// ---- configuration

// AddOAuthClient registers an OAuth client, or replaces the one with the same
// ID.
func (s *Server) AddOAuthClient(c OAuthClient) {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.clients[c.ID] = &c
}

// SetOAuthUser names the user that the auto-approving authorize endpoint and
// device approvals sign in (DefaultOAuthUser until set). The user is created
// if needed.
func (s *Server) SetOAuthUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.user = user
	s.userLocked(user)
}

// DenyNextAuthorization makes the next sign-in decision a refusal: the next
// GET /auth/authorize redirects with error=access_denied, or the next device
// verification page denies its user code.
func (s *Server) DenyNextAuthorization() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.denyNext = true
}

// SetAccessTokenTTL sets the life of OAuth access tokens issued from now on
// (default 2100 s).
func (s *Server) SetAccessTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessTTL = d
}

// IssueOAuthTokens creates a grant for user (created if needed) and client
// clientID without any browser, as if the person had signed in, and returns
// its access token, refresh token and the access token's expiry. Register the
// client with AddOAuthClient first: refreshing authenticates it, and its
// Rotating and RefreshTTL apply.
func (s *Server) IssueOAuthTokens(clientID, user string) (access, refresh string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &grant{clientID: clientID, user: s.userLocked(user), scope: DefaultScope}
	access, expiry = s.newAccessLocked(g)
	return access, s.newRefreshLocked(g), expiry
}

// ApproveDevice approves a pending device-grant user code (any case, with or
// without its hyphen) for the OAuth user, as the person would on the
// verification page.
func (s *Server) ApproveDevice(userCode string) error {
	return s.decideDevice(userCode, deviceApproved)
}

// DenyDevice refuses a pending device-grant user code: the device's next
// poll gets access_denied.
func (s *Server) DenyDevice(userCode string) error {
	return s.decideDevice(userCode, deviceDenied)
}

func (s *Server) decideDevice(userCode string, st deviceState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideDeviceLocked(userCode, st)
}

func (s *Server) decideDeviceLocked(userCode string, st deviceState) error {
	d := s.oauth.userCodes[normalizeUserCode(userCode)]
	switch {
	case d == nil:
		return errors.New("anaplantest: unknown user code: use the user_code from POST /oauth/device/code")
	case !s.now.Before(d.expires):
		return errors.New("anaplantest: user code has expired")
	case d.state != devicePending:
		return errors.New("anaplantest: user code was already approved or denied")
	}
	d.state = st
	d.user = s.userLocked(s.oauth.user)
	return nil
}

// RefreshTokenUses reports how many times each refresh token was presented to
// POST /oauth/token, successfully or not.
func (s *Server) RefreshTokenUses() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.oauth.refreshUses))
	for k, v := range s.oauth.refreshUses {
		out[k] = v
	}
	return out
}

// GrantRevocations reports how many grants reuse detection revoked: a used
// rotating refresh token or a used authorization code presented again.
func (s *Server) GrantRevocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.revocations
}

// ---- routes

func (s *Server) registerOAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("POST /oauth/device/code", s.handleDeviceCode)
	mux.HandleFunc("GET /auth/device", s.handleDevicePage)
}

func page(w http.ResponseWriter, code int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(message))
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.oauth.clients[q.Get("client_id")]
	if c == nil {
		page(w, http.StatusBadRequest, "Invalid request", "unknown client_id")
		return
	}
	redirect := q.Get("redirect_uri")
	target, err := url.Parse(redirect)
	if redirect == "" || err != nil || !slices.Contains(c.RedirectURIs, redirect) {
		page(w, http.StatusBadRequest, "Invalid request", "redirect_uri is not registered for this client")
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		rq := target.Query()
		for k, v := range params {
			rq[k] = v
		}
		target.RawQuery = rq.Encode()
		http.Redirect(w, r, target.String(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	case challenge != "" && len(challenge) != 43:
		fail("invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the verifier")
		return
	case s.oauth.denyNext:
		s.oauth.denyNext = false
		fail("access_denied", "the user denied access")
		return
	}
	code := randomToken()
	s.oauth.codes[code] = &authCode{
		clientID:    c.ID,
		redirectURI: redirect,
		scope:       q.Get("scope"),
		challenge:   challenge,
		user:        s.userLocked(s.oauth.user),
		expires:     s.now.Add(AuthorizationCodeTTL),
	}
	back(url.Values{"code": {code}})
}

// oauthError is an RFC 6749 error answer.
type oauthError struct {
	status int
	code   string
	desc   string
}

func (e *oauthError) write(w http.ResponseWriter) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func badRequest(code, desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, code, desc}
}

// parseParams reads an OAuth request body: form encoding (RFC 6749) or a
// JSON object of strings (as Anaplan's documentation shows). A parameter
// given twice is an error.
func parseParams(contentType string, body []byte) (map[string]string, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	out := map[string]string{}
	switch mt {
	case "application/json":
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, errors.New("body is not a JSON object")
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case json.Number:
				out[k] = v.String()
			case nil:
			default:
				return nil, fmt.Errorf("parameter %q must be a string", truncate(k, 40))
			}
		}
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("body is not valid form encoding")
		}
		for k, v := range vals {
			if len(v) > 1 {
				return nil, fmt.Errorf("parameter %q is repeated", truncate(k, 40))
			}
			out[k] = v[0]
		}
	default:
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// readParams reads the body of r as parseParams does, in a format
// SetOAuthBodyFormats allows.
func (s *Server) readParams(w http.ResponseWriter, r *http.Request) (map[string]string, *oauthError) {
	if oe := s.checkBodyFormat(r); oe != nil {
		return nil, oe
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		return nil, badRequest("invalid_request", "request body is too large or unreadable")
	}
	p, err := parseParams(r.Header.Get("Content-Type"), buf.Bytes())
	if err != nil {
		return nil, badRequest("invalid_request", err.Error())
	}
	return p, nil
}

// clientLocked authenticates the client of a token or device-code request:
// client_id and client_secret in the body, or HTTP Basic.
func (s *Server) clientLocked(r *http.Request, p map[string]string) (*OAuthClient, *oauthError) {
	id, secret := p["client_id"], p["client_secret"]
	if scheme, param, ok := authParam(r.Header.Get("Authorization")); ok && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(param)
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "malformed Basic client credentials"}
		}
		// RFC 6749 2.3.1: both parts are form-encoded before joining.
		if u, err := url.QueryUnescape(bid); err == nil {
			bid = u
		}
		if u, err := url.QueryUnescape(bsecret); err == nil {
			bsecret = u
		}
		if (id != "" && id != bid) || secret != "" {
			return nil, badRequest("invalid_request", "client credentials given both in the body and in the Authorization header")
		}
		id, secret = bid, bsecret
	}
	fail := func(desc string) *oauthError {
		return &oauthError{http.StatusUnauthorized, "invalid_client", desc}
	}
	if id == "" {
		return nil, badRequest("invalid_request", "client_id is required")
	}
	c := s.oauth.clients[id]
	switch {
	case c == nil:
		return nil, fail("unknown client_id")
	case c.Secret != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1:
		return nil, fail("client authentication failed: wrong or missing client_secret")
	}
	return c, nil
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	p, oe := s.readParams(w, r)
	if oe != nil {
		oe.write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, oe := s.clientLocked(r, p)
	if oe == nil {
		switch gt := p["grant_type"]; gt {
		case "authorization_code":
			oe = s.exchangeCodeLocked(w, c, p)
		case "refresh_token":
			oe = s.refreshLocked(w, c, p)
		case deviceGrantType:
			oe = s.exchangeDeviceLocked(w, c, p)
		case "":
			oe = badRequest("invalid_request", "grant_type is required")
		default:
			oe = badRequest("unsupported_grant_type", "grant_type must be authorization_code, refresh_token or "+deviceGrantType)
		}
	}
	if oe != nil {
		if oe.code == "invalid_client" && r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="anaplan"`)
		}
		oe.write(w)
	}
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Server) exchangeCodeLocked(w http.ResponseWriter, c *OAuthClient, p map[string]string) *oauthError {
	code := p["code"]
	if code == "" {
		return badRequest("invalid_request", "code is required")
	}
	ac := s.oauth.codes[code]
	switch {
	case ac == nil:
		return badRequest("invalid_grant", "authorization code is not valid")
	case ac.clientID != c.ID:
		return badRequest("invalid_grant", "authorization code was issued to another client")
	case ac.used:
		if ac.g != nil && !ac.g.revoked {
			ac.g.revoked = true
			s.oauth.revocations++
		}
		return badRequest("invalid_grant", "authorization code was already used: the tokens issued for it are revoked")
	case !s.now.Before(ac.expires):
		return badRequest("invalid_grant", "authorization code has expired")
	case p["redirect_uri"] != ac.redirectURI:
		return badRequest("invalid_grant", "redirect_uri does not match the authorization request")
	case ac.challenge != "" && p["code_verifier"] == "":
		return badRequest("invalid_grant", "code_verifier is required: the authorization request sent a code_challenge")
	case ac.challenge != "" && subtle.ConstantTimeCompare([]byte(s256(p["code_verifier"])), []byte(ac.challenge)) != 1:
		return badRequest("invalid_grant", "code_verifier does not match the code_challenge")
	}
	ac.used = true
	ac.g = &grant{clientID: c.ID, user: ac.user, scope: ac.scope}
	s.writeTokensLocked(w, ac.g, s.newRefreshLocked(ac.g))
	return nil
}

func (s *Server) refreshLocked(w http.ResponseWriter, c *OAuthClient, p map[string]string) *oauthError {
	value := p["refresh_token"]
	if value == "" {
		return badRequest("invalid_request", "refresh_token is required")
	}
	s.oauth.refreshUses[value]++
	t := s.oauth.refresh[value]
	switch {
	case t == nil:
		return badRequest("invalid_grant", "refresh token is not valid")
	case t.g.clientID != c.ID:
		return badRequest("invalid_grant", "refresh token was issued to another client")
	case t.g.revoked || t.revoked:
		return badRequest("invalid_grant", "refresh token has been revoked")
	case t.used:
		t.g.revoked = true
		s.oauth.revocations++
		return badRequest("invalid_grant", "refresh token was already used: the whole grant is revoked (reuse detection)")
	case !t.expires.IsZero() && !s.now.Before(t.expires):
		return badRequest("invalid_grant", "refresh token has expired")
	}
	next := value
	if c.Rotating {
		t.used = true
		next = s.newRefreshLocked(t.g)
	}
	s.writeTokensLocked(w, t.g, next)
	return nil
}

func (s *Server) exchangeDeviceLocked(w http.ResponseWriter, c *OAuthClient, p map[string]string) *oauthError {
	dc := p["device_code"]
	if dc == "" {
		return badRequest("invalid_request", "device_code is required")
	}
	d := s.oauth.devices[dc]
	switch {
	case d == nil:
		return badRequest("invalid_grant", "device_code is not valid")
	case d.clientID != c.ID:
		return badRequest("invalid_grant", "device_code was issued to another client")
	case d.state == deviceExchanged:
		return badRequest("invalid_grant", "device_code was already exchanged for tokens")
	case !s.now.Before(d.expires):
		return badRequest("expired_token", "device_code has expired: start again")
	}
	// Too fast means under half the interval since the previous poll, both
	// on the server's clock and in real time: a client that sleeps for
	// real and a test that calls Advance both pass.
	now, wall := s.now, time.Now()
	tooFast := !d.lastPoll.IsZero() &&
		max(now.Sub(d.lastPoll), wall.Sub(d.lastPollReal)) < s.cfg.deviceInterval/2
	d.lastPoll, d.lastPollReal = now, wall
	switch {
	case tooFast:
		return badRequest("slow_down", "polling too fast: wait the interval between polls")
	case d.state == deviceDenied:
		return badRequest("access_denied", "the user denied access")
	case d.state == devicePending:
		return badRequest("authorization_pending", "the user has not approved the device yet")
	}
	d.state = deviceExchanged
	g := &grant{clientID: c.ID, user: d.user, scope: d.scope}
	s.writeTokensLocked(w, g, s.newRefreshLocked(g))
	return nil
}

func (s *Server) newAccessLocked(g *grant) (string, time.Time) {
	v := randomToken()
	exp := s.now.Add(s.accessTTL)
	s.oauth.access[v] = &accessToken{g: g, expires: exp}
	return v, exp
}

func (s *Server) newRefreshLocked(g *grant) string {
	v := randomToken()
	t := &refreshToken{g: g}
	if c := s.oauth.clients[g.clientID]; c != nil && c.RefreshTTL > 0 {
		t.expires = s.now.Add(c.RefreshTTL)
	}
	s.oauth.refresh[v] = t
	return v
}

func (s *Server) writeTokensLocked(w http.ResponseWriter, g *grant, refresh string) {
	access, _ := s.newAccessLocked(g)
	scope := g.scope
	if scope == "" {
		scope = DefaultScope
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"id_token":      "id." + randomToken(),
		"refresh_token": refresh,
		"scope":         scope,
		"expires_in":    int64(s.accessTTL / time.Second),
		"token_type":    "Bearer",
	})
}

// userCodeAlphabet has no vowels and no look-alike characters.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

func newUserCode() string {
	b := randomBytes(8)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return string(out)
}

func normalizeUserCode(c string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(c))
}

func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	p, oe := s.readParams(w, r)
	if oe != nil {
		oe.write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, oe := s.clientLocked(r, p)
	if oe != nil {
		oe.write(w)
		return
	}
	var code string
	for code == "" || s.oauth.userCodes[normalizeUserCode(code)] != nil {
		code = newUserCode()
	}
	dc := randomToken()
	d := &deviceAuth{
		clientID: c.ID,
		scope:    p["scope"],
		userCode: code,
		expires:  s.now.Add(s.cfg.deviceCodeTTL),
	}
	s.oauth.devices[dc] = d
	s.oauth.userCodes[normalizeUserCode(code)] = d
	verify := s.srv.URL + "/auth/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               dc,
		"user_code":                 code,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + url.QueryEscape(code),
		"expires_in":                int64(s.cfg.deviceCodeTTL / time.Second),
		"interval":                  int64(s.cfg.deviceInterval / time.Second),
	})
}

// handleDevicePage is the verification page: with a user_code it approves it
// for the OAuth user at once (or denies it after DenyNextAuthorization).
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if code == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Device sign-in</title><form method="get">`+
			`<label>Code <input name="user_code"></label> <button>Continue</button></form>`+"\n")
		return
	}
	st := deviceApproved
	s.mu.Lock()
	if s.oauth.denyNext {
		st = deviceDenied
	}
	err := s.decideDeviceLocked(code, st)
	if err == nil && st == deviceDenied {
		s.oauth.denyNext = false
	}
	s.mu.Unlock()
	if err != nil {
		page(w, http.StatusBadRequest, "Device sign-in", strings.TrimPrefix(err.Error(), "anaplantest: "))
		return
	}
	if st == deviceDenied {
		page(w, http.StatusOK, "Device sign-in", "Access denied.")
		return
	}
	page(w, http.StatusOK, "Device sign-in", "Device approved: you may close this page.")
}
