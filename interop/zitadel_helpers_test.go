package interop_test

// A real, third-party OpenID provider for the OAuth tests: the example OP
// shipped with github.com/zitadel/oidc/v3 (its exampleop router and in-memory
// storage), run in-process on an httptest TLS server. The tests drive its own
// login and device pages as a person's browser would.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/go-anaplan/anaplan"
)

const (
	zitadelWebClientID    = "anaplan-sdk-web"
	zitadelWebSecret      = "zitadel-web-S3CRET-4c1f"
	zitadelDeviceClientID = "anaplan-sdk-device"
	// The example user store's users all have this password; the user name
	// of "id1" is test-user@<issuer host>.
	zitadelPassword = "verysecure"
	zitadelUserID   = "id1"
	// zitadelPollInterval is the device-grant poll interval the tests let the
	// OP announce (the example OP hard-codes 5 s; see zitadelFastPoll).
	zitadelPollInterval = 1
)

// zitadelOP is one running example OP with two registered clients: a web
// (confidential) client with a secret and a loopback redirect URI, and a
// native (public) client allowed the device grant.
type zitadelOP struct {
	srv      *httptest.Server
	issuer   string
	username string
	callback string // the web client's registered loopback redirect URI
	meta     oidc.DiscoveryConfiguration

	mu    sync.Mutex
	reqs  []zitadelRequest         // token and device-authorization requests, in order
	polls map[string]chan struct{} // device code -> closed once the OP has answered a poll for it
	hold  *zitadelHold             // the next refresh's answer is held back
}

// zitadelHold holds back the answer to one refresh: the OP has rotated the
// refresh token (rotated is closed) but the client gets the answer only
// when release is closed, or never if it has given up by then.
type zitadelHold struct {
	rotated, release chan struct{}
	Release          func() // idempotent
}

// holdNextRefresh makes the OP hold back its answer to the next refresh,
// until Release (at the latest when t ends, so the server can close).
func (o *zitadelOP) holdNextRefresh(t *testing.T) *zitadelHold {
	h := &zitadelHold{rotated: make(chan struct{}), release: make(chan struct{})}
	h.Release = sync.OnceFunc(func() { close(h.release) })
	t.Cleanup(h.Release)
	o.mu.Lock()
	o.hold = h
	o.mu.Unlock()
	return h
}

func (o *zitadelOP) takeHold(form url.Values) *zitadelHold {
	if form.Get("grant_type") != "refresh_token" {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hold
	o.hold = nil
	return h
}

// zitadelRequest is one request the OP received on an OAuth endpoint.
type zitadelRequest struct {
	Path string
	Form url.Values
}

func startZitadelOP(t *testing.T) *zitadelOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "https://" + srv.Listener.Addr().String()
	o := &zitadelOP{
		srv:      srv,
		issuer:   issuer,
		username: "test-user@127.0.0.1",
		callback: "http://" + freeLoopbackAddr(t) + "/callback",
	}
	web := storage.WebClient(zitadelWebClientID, zitadelWebSecret, o.callback)
	device := storage.NativeClient(zitadelDeviceClientID)
	users := storage.NewUserStore(issuer)
	st := &zitadelStorage{
		Storage: storage.NewStorageWithClients(users,
			map[string]*storage.Client{web.GetID(): web, device.GetID(): device}),
		users:  users,
		device: device,
	}
	router := exampleop.SetupServer(issuer, st, nil, false)
	srv.Config.Handler = o.record(zitadelFastPoll(router))
	srv.StartTLS()
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(issuer + oidc.DiscoveryEndpoint)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&o.meta); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if o.meta.AuthorizationEndpoint == "" || o.meta.TokenEndpoint == "" || o.meta.DeviceAuthorizationEndpoint == "" || o.meta.UserinfoEndpoint == "" {
		t.Fatalf("discovery lacks an endpoint: %+v", o.meta)
	}
	return o
}

// zitadelStorage adapts the example storage to what the SDK's clients are:
//   - the device client is public (no secret: that is how the SDK tells a
//     device client) and may use the device grant and refresh tokens; the
//     example's DeviceClient is confidential with HTTP Basic only, and its
//     NativeClient lacks the device grant, so GrantTypes is widened here;
//   - a device grant's refresh token is bound to its client: the example
//     storage files device grants under an empty client ID, so the OP itself
//     would refuse every refresh of them with invalid_grant;
//   - a device grant's subject is the user's ID: the example device pages
//     complete the grant with the user name, which the example storage then
//     cannot find ("user not found", 500) when it writes the ID token.
type zitadelStorage struct {
	*storage.Storage
	users  storage.UserStore
	device *storage.Client
}

func (s *zitadelStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, subject string) error {
	if u := s.users.GetUserByUsername(subject); u != nil {
		subject = u.ID
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, subject)
}

type zitadelDeviceClient struct{ *storage.Client }

func (zitadelDeviceClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeDeviceCode, oidc.GrantTypeRefreshToken}
}

func (s *zitadelStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == s.device.GetID() {
		return zitadelDeviceClient{s.device}, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

func (s *zitadelStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if d, ok := req.(*op.DeviceAuthorizationState); ok && current == "" {
		req = &storage.AuthRequest{ApplicationID: d.ClientID, UserID: d.Subject, Scopes: d.Scopes, CreationDate: time.Now()}
	}
	return s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
}

// zitadelFastPoll lets the device-authorization answer announce a 1 s poll
// interval instead of the example OP's hard-coded 5 s (golang.org/x/oauth2
// waits one interval before its first poll), so the device tests take about
// a second. Nothing else in the answer changes.
func zitadelFastPoll(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/device_authorization" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var m map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &m) == nil {
			if _, ok := m["interval"]; ok {
				m["interval"] = zitadelPollInterval
				body, _ = json.Marshal(m)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// record keeps the form of every POST to the token and device-authorization
// endpoints.
func (o *zitadelOP) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/oauth/token" || r.URL.Path == "/device_authorization") {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "cannot read body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			form, _ := url.ParseQuery(string(b))
			if u, p, ok := r.BasicAuth(); ok { // never expected from the SDK: recorded to be asserted on
				form.Set("basic_auth_user", u)
				form.Set("basic_auth_password", p)
			}
			o.mu.Lock()
			o.reqs = append(o.reqs, zitadelRequest{Path: r.URL.Path, Form: form})
			o.mu.Unlock()
			defer o.polled(form.Get("device_code"))
			if h := o.takeHold(form); h != nil {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				close(h.rotated)
				select {
				case <-h.release:
				case <-r.Context().Done():
					return // the client gave up: it never sees the new tokens
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// polledOnce returns a channel closed once the OP has answered a token
// request (a poll) with the device code.
func (o *zitadelOP) polledOnce(deviceCode string) <-chan struct{} { return o.pollChan(deviceCode) }

func (o *zitadelOP) pollChan(deviceCode string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.polls == nil {
		o.polls = map[string]chan struct{}{}
	}
	ch, ok := o.polls[deviceCode]
	if !ok {
		ch = make(chan struct{})
		o.polls[deviceCode] = ch
	}
	return ch
}

func (o *zitadelOP) polled(deviceCode string) {
	if deviceCode == "" {
		return
	}
	ch := o.pollChan(deviceCode)
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// tokenRequests returns the token requests so far, in order.
func (o *zitadelOP) tokenRequests() []zitadelRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []zitadelRequest
	for _, r := range o.reqs {
		if r.Path == "/oauth/token" {
			out = append(out, r)
		}
	}
	return out
}

// grants returns the grant types of the token requests so far.
func (o *zitadelOP) grants() []string {
	var g []string
	for _, r := range o.tokenRequests() {
		g = append(g, r.Form.Get("grant_type"))
	}
	return g
}

// endpoints are the SDK's endpoints on this OP. Auth and API are never
// called by these tests; they only have to be valid.
func (o *zitadelOP) endpoints() anaplan.Endpoints {
	return anaplan.Endpoints{
		Auth: o.issuer,
		API:  o.issuer + "/2/0",
		OAuth: oauth2.Endpoint{
			AuthURL:       o.meta.AuthorizationEndpoint,
			TokenURL:      o.meta.TokenEndpoint,
			DeviceAuthURL: o.meta.DeviceAuthorizationEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
	}
}

// options are the SDK options every test here uses.
func (o *zitadelOP) options(cfg anaplan.OAuthConfig, store anaplan.SettingsStore, clk *zitadelClock) []anaplan.Option {
	return []anaplan.Option{
		anaplan.WithOAuth(cfg),
		anaplan.WithEndpoints(o.endpoints()),
		anaplan.WithSettingsStore(store),
		anaplan.WithHTTPClient(o.srv.Client()),
		anaplan.WithClock(clk.Now),
	}
}

// oauth2Config is a plain golang.org/x/oauth2 client of the web client, to
// talk to the OP without the SDK.
func (o *zitadelOP) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     zitadelWebClientID,
		ClientSecret: zitadelWebSecret,
		Endpoint:     o.endpoints().OAuth,
		RedirectURL:  o.callback,
	}
}

// refreshDirectly spends rt at the OP's token endpoint with plain oauth2.
func (o *zitadelOP) refreshDirectly(ctx context.Context, rt string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, o.srv.Client())
	return o.oauth2Config().TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

// userinfo asks the OP's userinfo endpoint who the access token belongs to:
// the OP answers only for tokens it issued and still holds.
func (o *zitadelOP) userinfo(ctx context.Context, access string) (status int, sub string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.meta.UserinfoEndpoint, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := o.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var ui struct {
		Sub string `json:"sub"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&ui); err != nil {
			return resp.StatusCode, "", err
		}
	}
	return resp.StatusCode, ui.Sub, nil
}

// browser returns a person's browser: a cookie-jar client that trusts the
// OP's certificate and follows redirects, also to the SDK's loopback
// callback. Call the returned close when done.
func (o *zitadelOP) browser() (*http.Client, func()) {
	tr := o.srv.Client().Transport.(*http.Transport).Clone()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}, tr.CloseIdleConnections
}

// signInWithBrowser is an OpenURL that signs the example user in: it opens
// the authorization URL, fills in the OP's login form, and follows the
// redirects to the SDK's loopback callback. It records every URL it is
// given in opened.
func (o *zitadelOP) signInWithBrowser(opened *zitadelOpened, password string) func(ctx context.Context, u string) error {
	return func(ctx context.Context, u string) error {
		opened.add(u)
		hc, done := o.browser()
		defer done()
		page, at, err := zitadelGet(ctx, hc, u)
		if err != nil {
			return err
		}
		f, err := zitadelParseForm(page, at)
		if err != nil {
			return fmt.Errorf("the OP's login page (%s): %w", at.Path, err)
		}
		f.Values.Set("username", o.username)
		f.Values.Set("password", password)
		page, at, err = zitadelPost(ctx, hc, f)
		if err != nil {
			return err
		}
		if cb, _ := url.Parse(o.callback); at.Host != cb.Host || at.Path != cb.Path {
			return fmt.Errorf("the browser ended on %s, not on the SDK's callback: %.200q", at.Redacted(), page)
		}
		if !strings.Contains(page, "You are signed in") {
			return fmt.Errorf("the SDK's callback page says: %.200q", page)
		}
		return nil
	}
}

// approveDevice is a ShowDeviceCode that plays the person at another device:
// it opens the verification page (the complete URI, or the plain one where
// the person types the code), signs in on the OP's device login form, and
// presses Allow or Deny (action "allowed" or "denied").
func (o *zitadelOP) approveDevice(shown *atomic.Pointer[oauth2.DeviceAuthResponse], typeCode bool, action string) func(ctx context.Context, d *oauth2.DeviceAuthResponse) error {
	return func(ctx context.Context, d *oauth2.DeviceAuthResponse) error {
		cp := *d
		shown.Store(&cp)
		return o.deviceApproval(ctx, d, typeCode, action)
	}
}

// approveDeviceLater is a ShowDeviceCode that returns at once, as a real one
// does, and has the person approve only after the SDK's first poll (which
// the OP answers authorization_pending). done receives the approval's result.
func (o *zitadelOP) approveDeviceLater(ctx context.Context, shown *atomic.Pointer[oauth2.DeviceAuthResponse], done chan<- error) func(context.Context, *oauth2.DeviceAuthResponse) error {
	return func(_ context.Context, d *oauth2.DeviceAuthResponse) error {
		cp := *d
		shown.Store(&cp)
		polled := o.polledOnce(d.DeviceCode)
		go func() {
			select {
			case <-polled:
				done <- o.deviceApproval(ctx, &cp, false, "allowed")
			case <-ctx.Done():
				done <- ctx.Err()
			}
		}()
		return nil
	}
}

// deviceApproval is the person's part of the device grant.
func (o *zitadelOP) deviceApproval(ctx context.Context, d *oauth2.DeviceAuthResponse, typeCode bool, action string) error {
	hc, done := o.browser()
	defer done()
	var page string
	var at *url.URL
	var err error
	if typeCode {
		page, at, err = zitadelGet(ctx, hc, d.VerificationURI)
		if err != nil {
			return err
		}
		var f *zitadelForm
		if f, err = zitadelParseForm(page, at); err != nil {
			return fmt.Errorf("the OP's user-code page: %w", err)
		}
		f.Values.Set("user_code", d.UserCode)
		page, at, err = zitadelPost(ctx, hc, f)
	} else {
		page, at, err = zitadelGet(ctx, hc, d.VerificationURIComplete)
	}
	if err != nil {
		return err
	}
	f, err := zitadelParseForm(page, at)
	if err != nil {
		return fmt.Errorf("the OP's device login page: %w", err)
	}
	if f.Values.Get("user_code") != d.UserCode {
		return errors.New("the OP's device login form does not carry the user code")
	}
	f.Values.Set("username", o.username)
	f.Values.Set("password", zitadelPassword)
	page, at, err = zitadelPost(ctx, hc, f)
	if err != nil {
		return err
	}
	confirm, err := zitadelConfirmLink(page, at, action)
	if err != nil {
		return fmt.Errorf("the OP's confirmation page: %w", err)
	}
	page, _, err = zitadelGet(ctx, hc, confirm.String())
	if err != nil {
		return err
	}
	if want := "Device authorization " + action; !strings.Contains(page, want) {
		return fmt.Errorf("the OP answered %.200q, not %q", page, want)
	}
	return nil
}

func zitadelGet(ctx context.Context, hc *http.Client, u string) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	return zitadelDo(hc, req)
}

func zitadelPost(ctx context.Context, hc *http.Client, f *zitadelForm) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.Action.String(), strings.NewReader(f.Values.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return zitadelDo(hc, req)
}

// zitadelDo returns the final page and where it was, after redirects.
func zitadelDo(hc *http.Client, req *http.Request) (string, *url.URL, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%s %s: %d: %.200q", req.Method, resp.Request.URL.Path, resp.StatusCode, b)
	}
	return string(b), resp.Request.URL, nil
}

// zitadelForm is an HTML form ready to submit.
type zitadelForm struct {
	Action *url.URL
	Values url.Values
}

var (
	zitadelFormRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	zitadelInputRE = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	zitadelAttrRE  = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	zitadelHrefRE  = regexp.MustCompile(`location\.href\s*=\s*'([^']*)'`)
)

func zitadelAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range zitadelAttrRE.FindAllStringSubmatch(s, -1) {
		k := strings.ToLower(a[1])
		if _, dup := m[k]; !dup {
			m[k] = html.UnescapeString(a[2] + a[3])
		}
	}
	return m
}

// zitadelParseForm reads the first POST form of page, found at base: its
// action resolved against base (no action: base itself), and its named
// inputs with their values.
func zitadelParseForm(page string, base *url.URL) (*zitadelForm, error) {
	m := zitadelFormRE.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("no form on the page")
	}
	attrs := zitadelAttrs(m[1])
	if method := attrs["method"]; !strings.EqualFold(method, "post") {
		return nil, fmt.Errorf("the form's method is %q, not POST", method)
	}
	action, err := base.Parse(attrs["action"])
	if err != nil {
		return nil, fmt.Errorf("the form's action is not a URL: %w", err)
	}
	if action.Scheme != base.Scheme || action.Host != base.Host {
		return nil, errors.New("the form posts to another origin")
	}
	v := url.Values{}
	for _, in := range zitadelInputRE.FindAllStringSubmatch(m[2], -1) {
		a := zitadelAttrs(in[1])
		if a["name"] != "" {
			v.Set(a["name"], a["value"])
		}
	}
	return &zitadelForm{Action: action, Values: v}, nil
}

// zitadelConfirmLink finds the button of the OP's device confirmation page
// that goes to the given action ("allowed" or "denied").
func zitadelConfirmLink(page string, base *url.URL, action string) (*url.URL, error) {
	for _, m := range zitadelHrefRE.FindAllStringSubmatch(page, -1) {
		u, err := base.Parse(html.UnescapeString(m[1]))
		if err != nil {
			continue
		}
		if u.Query().Get("action") == action && u.Host == base.Host {
			return u, nil
		}
	}
	return nil, fmt.Errorf("no button for action %q", action)
}

// zitadelOpened records the URLs an OpenURL was given.
type zitadelOpened struct {
	mu   sync.Mutex
	urls []string
}

func (o *zitadelOpened) add(u string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.urls = append(o.urls, u)
}

func (o *zitadelOpened) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.urls...)
}

// zitadelClock is the SDK's clock: real time moved on by Advance.
type zitadelClock struct{ off atomic.Int64 }

func (c *zitadelClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *zitadelClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// Set moves the clock so that it reads t now.
func (c *zitadelClock) Set(t time.Time) { c.off.Store(int64(time.Until(t))) }

// zitadelNoSecrets fails when err's message holds any of the secrets.
func zitadelNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error message reveals a secret: %v", err)
		}
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
