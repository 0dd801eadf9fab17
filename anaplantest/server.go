package anaplantest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// Default lifetimes, as Anaplan has them.
const (
	DefaultTokenTTL       = 35 * time.Minute // authentication-service tokens
	DefaultAccessTokenTTL = 2100 * time.Second
	DefaultDeviceInterval = 5 * time.Second // device grant polling interval
	DefaultDeviceCodeTTL  = 10 * time.Minute
	AuthorizationCodeTTL  = 5 * time.Minute // life of an authorization code
	NonceTolerance        = 5 * time.Minute // how far a v2 nonce timestamp may be from the clock
)

// Option configures a Server at creation.
type Option func(*config)

type config struct {
	authStatus        int
	refuseV1          bool
	refreshKeepsToken bool
	deviceInterval    time.Duration
	deviceCodeTTL     time.Duration
	tokenTTL          time.Duration
	accessTTL         time.Duration
	start             time.Time
}

// WithAuthenticateStatus makes authenticate and refresh answer with code
// (200 or 201) instead of the default 201 Created. Anaplan has been seen
// answering both.
func WithAuthenticateStatus(code int) Option {
	return func(c *config) {
		if code == http.StatusOK || code == http.StatusCreated {
			c.authStatus = code
		}
	}
}

// WithoutV1Signatures makes certificate sign-in refuse the v1 nonce format
// (no encodedDataFormat), as Anaplan does once v1 is phased out.
func WithoutV1Signatures() Option {
	return func(c *config) { c.refuseV1 = true }
}

// WithRefreshKeepsToken makes POST /token/refresh keep the token value and
// only move its expiry. By default a refresh returns a new value and the old
// one stops working.
func WithRefreshKeepsToken() Option {
	return func(c *config) { c.refreshKeepsToken = true }
}

// WithDeviceInterval sets the polling interval the device grant announces
// (whole seconds, at least one; default 5 s). Tests that poll for real use 1 s.
func WithDeviceInterval(d time.Duration) Option {
	return func(c *config) {
		c.deviceInterval = max(d.Truncate(time.Second), time.Second)
	}
}

// WithDeviceCodeTTL sets how long a device code stays usable (default 10 minutes).
func WithDeviceCodeTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.deviceCodeTTL = d
		}
	}
}

// WithTokenTTL sets the life of authentication-service tokens (default 35
// minutes); SetTokenTTL changes it later.
func WithTokenTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.tokenTTL = d
		}
	}
}

// WithAccessTokenTTL sets the life of OAuth access tokens (default 2100 s);
// SetAccessTokenTTL changes it later.
func WithAccessTokenTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.accessTTL = d
		}
	}
}

// WithClock starts the server's clock at t instead of the real time.
func WithClock(t time.Time) Option {
	return func(c *config) { c.start = t }
}

// Fault is an answer the server gives instead of serving a request, before
// any routing or authentication. See FailNext.
type Fault struct {
	// Status is the HTTP status to answer; 0 serves the request normally
	// after Latency (a pure delay).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header: seconds
	// ("2") or an HTTP date.
	RetryAfter string
	// Body is the answer body; empty means an Integration-API style JSON
	// error {"status":{"code":…,"message":…}}.
	Body string
	// Latency delays the answer (or the normal service) by this much real
	// time; the wait ends early when the client gives up.
	Latency time.Duration
	// Path selects the requests the fault applies to: a path prefix such
	// as "/token/" or "/2/0/workspaces", optionally preceded by a method
	// and a space ("POST /token/refresh"). Empty matches every request.
	Path string
}

func (f Fault) matches(r *http.Request) bool {
	p := f.Path
	if method, rest, ok := strings.Cut(p, " "); ok {
		if !strings.EqualFold(method, r.Method) {
			return false
		}
		p = strings.TrimSpace(rest)
	}
	return strings.HasPrefix(r.URL.Path, p)
}

type pendingFault struct {
	f    Fault
	left int
}

// Server is a fake Anaplan on a loopback TLS listener. Create it with New or
// NewServer; its zero value is not usable.
type Server struct {
	srv       *httptest.Server
	mux       *http.ServeMux
	cfg       config
	closeOnce sync.Once

	mu         sync.Mutex
	now        time.Time
	tokenTTL   time.Duration
	accessTTL  time.Duration
	latency    time.Duration
	faults     []*pendingFault
	calls      map[string]int
	total      int
	customerID string
	users      map[string]*user
	certs      map[string]*registeredCert // by string(cert.Raw)
	sessions   map[string]*session        // by token value
	nonces     map[string]bool            // used certificate nonces
	oauth      oauthState
	bodies     oauthBodies // token and device-code body formats (oauth_body.go)

	integration *integration // the Integration API's state (integration.go)
	reads       readsState   // large-volume reads (reads.go)
	modelData   *modelData   // models' lists, modules and cells (model.go)
	mdOnce      sync.Once
}

// NewServer starts a fake Anaplan on https://127.0.0.1:<port>. Call Close
// when done; New does that for you in tests.
func NewServer(opts ...Option) *Server {
	cfg := config{
		authStatus:     http.StatusCreated,
		deviceInterval: DefaultDeviceInterval,
		deviceCodeTTL:  DefaultDeviceCodeTTL,
		tokenTTL:       DefaultTokenTTL,
		accessTTL:      DefaultAccessTokenTTL,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	now := cfg.start
	if now.IsZero() {
		now = time.Now()
	}
	s := &Server{
		cfg:        cfg,
		mux:        http.NewServeMux(),
		now:        now.Round(0).Truncate(time.Millisecond),
		tokenTTL:   cfg.tokenTTL,
		accessTTL:  cfg.accessTTL,
		calls:      map[string]int{},
		customerID: randomHex(16),
		users:      map[string]*user{},
		certs:      map[string]*registeredCert{},
		sessions:   map[string]*session{},
		nonces:     map[string]bool{},
	}
	s.oauth.init()
	s.registerAuth(s.mux)
	s.registerAPI(s.mux)
	s.registerOAuth(s.mux)
	s.registerIntegration(s.mux)
	s.registerReads(s.mux)
	s.registerModelData(s.mux)

	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshake failures (an untrusting client) are the test's business,
	// not noise on stderr.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	if t, ok := s.srv.Client().Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = 16 // chunked transfers keep several requests in flight
	}
	return s
}

// New starts a fake Anaplan for a test and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down and waits for requests in flight. It may be
// called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(s.srv.Close)
}

// URL is the server's base URL, https://127.0.0.1:<port>, without a trailing
// slash. The authentication and OAuth services live at its root.
func (s *Server) URL() string { return s.srv.URL }

// Endpoints are the SDK endpoints of this server: Auth is URL, API is
// URL+"/2/0", and OAuth is anaplan.OAuthEndpoint(URL).
func (s *Server) Endpoints() anaplan.Endpoints {
	return anaplan.Endpoints{
		Auth:  s.srv.URL,
		API:   s.srv.URL + "/2/0",
		OAuth: anaplan.OAuthEndpoint(s.srv.URL),
	}
}

// Client returns an HTTP client that trusts the server's certificate. Its
// idle connections are closed by Close.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertificatePEM returns the server's TLS certificate in PEM form, for tests
// that configure trust through a file (SSL_CERT_FILE and the like).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// String describes the server without any of its secrets.
func (s *Server) String() string {
	if s == nil || s.srv == nil {
		return "anaplantest.Server(<nil>)"
	}
	return "anaplantest.Server(" + s.srv.URL + ")"
}

// GoString is String, so that %#v shows no secrets either.
func (s *Server) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s *Server) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ---- clock

// Now returns the server's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// SetNow sets the server's clock.
func (s *Server) SetNow(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t.Round(0)
}

// Advance moves the server's clock forward by d (backward when d < 0).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// SetTokenTTL sets the life of authentication-service tokens issued from now
// on (default 35 minutes).
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// ---- faults and counters

// FailNext makes the next n requests that match f.Path get f instead of
// their normal answer. Calls queue up: a request takes the oldest pending
// fault that matches it.
func (s *Server) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &pendingFault{f: f, left: n})
}

// SetLatency delays every request by d of real time (0 removes the delay).
// The wait ends early when the client gives up.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls counts the requests received for route, including those answered by
// a Fault. route is a method and a path as received ("POST
// /token/authenticate", "GET /2/0/users/me"), or the pattern of a route with
// wildcards ("GET /2/0/workspaces/{workspaceID}/models"); "" counts every
// request.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if route == "" {
		return s.total
	}
	return s.calls[route]
}

// ResetCalls sets every counter to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.total = 0
}

// serve is the outermost handler: count, delay, inject faults, then route.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	exact := r.Method + " " + r.URL.Path

	s.mu.Lock()
	// Date comes from the fake's clock, as a real server's comes from its
	// own: clients that place expiresAt on their clock read it.
	w.Header().Set("Date", s.now.UTC().Format(http.TimeFormat))
	s.total++
	s.calls[exact]++
	if pattern != "" && pattern != exact {
		s.calls[pattern]++
	}
	delay := s.latency
	var fault *Fault
	for i, pf := range s.faults {
		if pf.f.matches(r) {
			f := pf.f
			fault = &f
			if pf.left--; pf.left == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()

	if fault != nil {
		delay += fault.Latency
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			// The client has gone: abort rather than let net/http answer
			// an empty 200 that a racing client could still read.
			panic(http.ErrAbortHandler)
		case <-t.C:
		}
	}
	if fault != nil && fault.Status != 0 {
		writeFault(w, fault)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func writeFault(w http.ResponseWriter, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	if body == "" {
		b, _ := json.Marshal(map[string]any{"status": map[string]any{"code": f.Status, "message": http.StatusText(f.Status)}})
		body = string(b)
	}
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, body)
}

// ---- small helpers shared by the services

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "anaplantest: cannot encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

func randomUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// authParam splits an Authorization header into its scheme and parameter.
func authParam(h string) (scheme, param string, ok bool) {
	scheme, param, ok = strings.Cut(strings.TrimSpace(h), " ")
	param = strings.TrimSpace(param)
	return scheme, param, ok && scheme != "" && param != ""
}
