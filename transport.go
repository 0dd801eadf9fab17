package anaplan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// retryPolicy bounds the transport's retries.
type retryPolicy struct {
	maxAttempts int           // including the first
	initial     time.Duration // first backoff interval
	max         time.Duration // cap on one backoff interval
	maxWait     time.Duration // longest Retry-After honoured; longer answers are returned as they are
}

// maxRetryAfter is the longest wait retryAfter reports: a larger
// Retry-After (in seconds or as a far HTTP date) is taken as this much, so
// that it never overflows time.Duration into a negative wait. It is longer
// than any policy's maxWait, so such an answer is returned to the caller.
const maxRetryAfter = 24 * time.Hour

var defaultRetryPolicy = retryPolicy{maxAttempts: 4, initial: 250 * time.Millisecond, max: 8 * time.Second, maxWait: 2 * time.Minute}

// transport sends requests to Anaplan with retries, a User-Agent and debug
// logging. It adds no credentials: authTransport does that above it, and the
// sign-in calls set their own Authorization header.
type transport struct {
	base    http.RoundTripper
	total   time.Duration // default bound of a call without a deadline (0: none); not for transfers
	idle    time.Duration // longest wait for the next bytes of an answer, or for the connection to take the next bytes of a transfer's request (0: none)
	header  time.Duration // longest wait for an answer's headers once the request is sent (0: none)
	logger  *slog.Logger
	policy  retryPolicy
	ua      string
	uaValue []string // {ua}, shared by every request that sets no User-Agent
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
}

type ctxKey int

const (
	retrySafeKey ctxKey = iota
	sendByKey
)

// withSendBy sets the last moment a request may be sent (a store's spend
// deadline): an attempt that would start later is not made.
func withSendBy(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, sendByKey, t)
}

// errSendByPassed: the spend deadline passed before the request was sent.
var errSendByPassed = errors.New("anaplan: the settings store's deadline for this spend passed before the request could be sent, so nothing was spent: try again")

// withRetrySafe marks a request as safe to repeat whatever its method (the
// sign-in calls: authenticating twice only makes a second token).
func withRetrySafe(ctx context.Context) context.Context {
	return context.WithValue(ctx, retrySafeKey, true)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var ua []string
	if _, ok := req.Header["User-Agent"]; !ok {
		ua = t.uaValue
	}
	return t.send(req, ua, nil)
}

// send sends req with the User-Agent and Authorization values given (nil:
// leave the request's), under the transport's bounds. It makes the one copy
// of req it needs (a RoundTripper must not modify the caller's request):
// with the headers added, and the context the bounds cancel.
func (t *transport) send(req *http.Request, ua, auth []string) (*http.Response, error) {
	c := t.newCall(req)
	r := req
	switch {
	case c != nil:
		r = req.WithContext(c.ctx)
	case ua != nil || auth != nil:
		r = new(http.Request)
		*r = *req
	}
	if ua != nil || auth != nil {
		r.Header = withHeaders(req.Header, ua, auth)
	}
	if c == nil {
		return t.roundTrip(r, nil)
	}
	watch.add(c)
	resp, err := t.roundTrip(r, c)
	if err != nil {
		watch.remove(c)
		cause := context.Cause(c.ctx)
		c.cancel(nil)
		var be *boundError
		if errors.As(cause, &be) {
			return nil, be
		}
		return nil, err
	}
	if resp.Body == http.NoBody || resp.Body == nil {
		// Nothing to read (a 204, a HEAD): the call is over now, whether
		// or not the caller closes the body.
		c.end()
		return resp, nil
	}
	c.set(notWaiting)
	c.body, resp.Body = resp.Body, c
	return resp, nil
}

// newCall returns the bounds of req, or nil when none applies. A call
// without a deadline is bounded in total, except transfers, whose wait for
// headers is bounded instead; every call is bounded by the idle limit.
func (t *transport) newCall(req *http.Request) *call {
	transfer := isTransfer(req)
	total, header := t.total, t.header
	switch _, has := req.Context().Deadline(); {
	case has:
		total, header = 0, 0 // the caller's deadline governs (http.Client's Timeout sets one too)
	case transfer:
		total = 0
	case total > 0 && total <= header:
		header = 0 // the total bound comes first
	}
	if total <= 0 && header <= 0 && t.idle <= 0 {
		return nil
	}
	c := &call{total: total, header: header, idle: t.idle, tick: tickFor(total, header, t.idle), transfer: transfer}
	c.ctx, c.cancel = context.WithCancelCause(req.Context())
	return c
}

// isTransfer: chunks of files and dumps, pages of large reads and cell data
// may take long in total; they are bounded by lack of progress instead.
func isTransfer(req *http.Request) bool {
	p := req.URL.Path
	return strings.Contains(p, "/chunks") || strings.Contains(p, "/pages/") || strings.Contains(p, "/dump") ||
		strings.HasSuffix(p, "/data") || (req.Method == http.MethodPut && strings.Contains(p, "/files/")) ||
		(req.Method == http.MethodGet && strings.HasSuffix(p, "/items")) // up to 1,000,000 list items
}

// boundError is a request ended by one of the transport's default bounds.
// It matches context.DeadlineExceeded and reports Timeout() like a net.Error.
type boundError struct{ what string }

func (e *boundError) Error() string        { return "anaplan: " + e.what }
func (e *boundError) Timeout() bool        { return true }
func (e *boundError) Is(target error) bool { return target == context.DeadlineExceeded }

// roundTrip sends req, its own copy, with retries; c (nil: none) is the
// call's bounds.
func (t *transport) roundTrip(req *http.Request, c *call) (*http.Response, error) {
	ctx := req.Context()
	var b *backoff.ExponentialBackOff
	logging := t.logger.Enabled(ctx, slog.LevelDebug)
	for attempt := 1; ; attempt++ {
		var start time.Time
		if logging {
			start = time.Now()
		}
		if by, ok := req.Context().Value(sendByKey).(time.Time); ok && time.Now().After(by) {
			return nil, errSendByPassed
		}
		if c != nil {
			c.attempt(req)
		}
		resp, err := t.base.RoundTrip(req)
		if logging {
			t.log(ctx, req, resp, err, attempt, time.Since(start))
		}
		if attempt >= t.policy.maxAttempts || !t.retryable(req, resp, err) {
			return resp, err
		}
		if b == nil {
			b = backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(t.policy.initial),
				backoff.WithMaxInterval(t.policy.max),
				backoff.WithMaxElapsedTime(0),
			)
		}
		wait := b.NextBackOff()
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				if ra > t.policy.maxWait {
					return resp, nil // the server asks for longer than we wait: let the caller see it
				}
				wait = ra
			}
			drain(resp.Body)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		next, err := rewind(req)
		if err != nil {
			return nil, err
		}
		req = next
	}
}

// retryable: network errors and 502/503/504 for requests that are safe to
// repeat; 429 for any request whose body can be sent again (the server did
// not act on it).
func (t *transport) retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if !canResend(req) {
		return false
	}
	if err != nil {
		return idempotent(req) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !certificateError(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent(req)
	}
	return false
}

// certificateError reports whether err is a TLS certificate failure, which
// no second attempt can pass: the server's certificate failed verification
// (unknown authority, wrong host name, expired, …) or the server refused
// ours.
func certificateError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		sr  x509.SystemRootsError
		uap *x509.UnknownAuthorityError // the pointer forms, which some wrappers use
		hep *x509.HostnameError
		cip *x509.CertificateInvalidError
		srp *x509.SystemRootsError
		ae  tls.AlertError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci), errors.As(err, &sr),
		errors.As(err, &uap), errors.As(err, &hep), errors.As(err, &cip), errors.As(err, &srp):
		return true
	case errors.As(err, &ae):
		switch ae {
		case 42, 43, 44, 45, 46, 48, 116: // bad, unsupported, revoked, expired, unknown certificate; unknown CA; certificate required
			return true
		}
	}
	return false
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if safe, _ := req.Context().Value(retrySafeKey).(bool); safe {
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	return ok
}

func (t *transport) log(ctx context.Context, req *http.Request, resp *http.Response, err error, attempt int, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", req.URL.Path),
		slog.Int("attempt", attempt),
		slog.Duration("duration", d),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", scrubURLError(err)))
	}
	t.logger.LogAttrs(ctx, slog.LevelDebug, "anaplan: http request", attrs...)
}

// scrubURLError renders a transport error without the request URL's query.
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redactURL(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

// retryAfter parses Retry-After as seconds or an HTTP date: never
// negative (a date in the past is 0), never more than maxRetryAfter.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if s < 0 {
			return 0, false
		}
		if s > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// canResend reports whether req's body, if any, can be sent again.
func canResend(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns a copy of req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

// withHeaders returns a copy of h with User-Agent (when ua is non-nil) and
// Authorization (when auth is non-nil) set. The value slices are shared and
// never modified: a later Add on the copy appends to a full slice, which
// reallocates.
func withHeaders(h http.Header, ua, auth []string) http.Header {
	n := make(http.Header, len(h)+2)
	for k, v := range h {
		n[k] = v
	}
	if ua != nil {
		n["User-Agent"] = ua
	}
	if auth != nil {
		n["Authorization"] = auth
	}
	return n
}

// drain reads what is left of an answer (at most 64 KiB, so that the
// connection can be reused) and closes it.
func drain(rc io.ReadCloser) {
	bp := drainBufs.Get().(*[4096]byte)
	for left := 64 << 10; left > 0; {
		n, err := rc.Read(bp[:min(left, len(bp))])
		left -= n
		if err != nil {
			break
		}
	}
	drainBufs.Put(bp)
	_ = rc.Close()
}

var drainBufs = sync.Pool{New: func() any { return new([4096]byte) }}

// authTransport adds the token to requests for the client's own hosts, and
// retries once with a new token when the server rejects the one it sent.
type authTransport struct {
	next    *transport
	uaValue []string
	cache   *tokenCache
	hosts   [2]origin // Auth and API
}

// origin is a scheme and host, with the host held with and without its
// default port so that matching needs no allocation.
type origin struct {
	scheme, host, hostPort string
}

func newOrigin(raw string) origin {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return origin{}
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), hostPort: strings.ToLower(u.Host)}
	def := map[string]string{"https": "443", "http": "80"}[o.scheme]
	if u.Port() == "" {
		o.hostPort = o.host + ":" + def
	} else if u.Port() == def {
		o.host = strings.ToLower(u.Hostname())
		if strings.Contains(o.host, ":") {
			o.host = "[" + o.host + "]"
		}
	}
	return o
}

func (o origin) match(u *url.URL) bool {
	return o.scheme != "" && strings.EqualFold(u.Scheme, o.scheme) &&
		(strings.EqualFold(u.Host, o.host) || strings.EqualFold(u.Host, o.hostPort))
}

func (t *authTransport) own(u *url.URL) bool {
	return t.hosts[0].match(u) || t.hosts[1].match(u)
}

// send sends req with the token and, in the same copy, the User-Agent.
func (t *authTransport) send(req *http.Request, e *entry) (*http.Response, error) {
	var ua []string
	if _, ok := req.Header["User-Agent"]; !ok {
		ua = t.uaValue
	}
	return t.next.send(req, ua, e.authValue)
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.own(req.URL) || req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req)
	}
	e, err := t.cache.entry(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.send(req, e)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// The server rejected the token: drop it (once, however many requests
	// saw it) and try once more with a new one, if the body can be resent.
	t.cache.invalidate(e.tok)
	if !canResend(req) {
		return resp, nil
	}
	ne, err := t.cache.entry(req.Context())
	if err != nil || ne.tok == e.tok {
		return resp, nil
	}
	drain(resp.Body)
	r, err := rewind(req)
	if err != nil {
		return nil, err
	}
	return t.send(r, ne)
}

// CheckResponse returns nil for a 2xx response. Otherwise it reads the body
// (at most 64 KiB), closes it, and returns an *APIError decoded from any of
// Anaplan's error shapes: the authentication service's
// {"status":"FAILURE_…","statusMessage":…}, the Integration API's
// {"status":{"code":…,"message":…}} and OAuth's {"error","error_description"}.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return decodeError(resp, body)
}

func decodeError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = redactURL(resp.Request.URL.String())
	}
	var v struct {
		Status        json.RawMessage `json:"status"`
		StatusMessage string          `json:"statusMessage"`
		Error         string          `json:"error"`
		Description   string          `json:"error_description"`
		Message       string          `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		switch {
		case v.Error != "":
			e.Code, e.Message = v.Error, v.Description
		case json.Unmarshal(v.Status, &s) == nil:
			e.Code, e.Message = s, v.StatusMessage
		case json.Unmarshal(v.Status, &st) == nil:
			e.Message = st.Message
		}
		if e.Message == "" {
			e.Message = v.Message
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if e.StatusCode == http.StatusForbidden {
		e.Hint = "the credentials were accepted, but this user lacks the permission for this call; a tenant or workspace administrator can grant it (signing in again does not help)"
	}
	e.Message = truncate(scrubServerText(strings.TrimSpace(e.Message)), 300)
	e.Code = truncate(scrubServerText(e.Code), 100)
	return e
}

// redactURL drops the query, fragment and user information of a URL: they
// may carry codes, tokens or passwords.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
