package anaplan

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// anaplanTokenLifetime is assumed when an answer carries no expiresAt.
const anaplanTokenLifetime = 35 * time.Minute

// authService signs in to Anaplan's authentication service (Basic or
// Certificate), refreshes and logs out. It is the fetcher behind the cache for
// both schemes; only the authenticate request differs.
type authService struct {
	hc     *http.Client // the retrying transport; adds no token
	base   string       // Endpoints.Auth
	now    func() time.Time
	logger *slog.Logger
	scheme string // "Basic" or "Certificate", for messages
	hint   string // what to check when the credentials are rejected
	// authorize sets the Authorization header and body of an authenticate request.
	authorize func(req *http.Request) error
}

func newBasicService(user, password string) *authService {
	return &authService{
		scheme: "Basic",
		hint:   "check the user name and password; a single sign-on (SSO) user must be made an Exception User to sign in with a password",
		authorize: func(req *http.Request) error {
			req.SetBasicAuth(user, password)
			return nil
		},
	}
}

func newCertificateService(cert *x509.Certificate, key crypto.Signer, format string) *authService {
	header := certAuthHeader(cert)
	a := &authService{
		scheme: "Certificate",
		hint:   "check that the certificate is CA-issued, registered with the Anaplan tenant for this user and in date, and that the private key belongs to it",
	}
	a.authorize = func(req *http.Request) error {
		// Every attempt, retries included, signs a fresh nonce: a nonce is
		// single-use, and the first attempt may have reached the server.
		sign := func() ([]byte, error) { return certAuthBody(key, a.now(), rand.Reader, format) }
		body, err := sign()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", header)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := sign()
			if err != nil {
				return nil, err
			}
			if len(b) != len(body) { // the length is fixed by the key size
				return nil, errors.New("anaplan: the signed sign-in request changed length between attempts")
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		}
		return nil
	}
	return a
}

func (a *authService) fetch(ctx context.Context, prev *Token) (*Token, error) {
	if prev != nil {
		tok, err := a.refresh(ctx, prev)
		if err == nil {
			return tok, nil
		}
		a.logger.LogAttrs(ctx, slog.LevelDebug, "anaplan: token refresh failed; signing in again", slog.String("error", err.Error()))
		tok, err = a.authenticate(ctx)
		if err == nil {
			_ = a.close(ctx, prev) // best effort: leave no second session behind
		}
		return tok, err
	}
	return a.authenticate(ctx)
}

func (a *authService) authenticate(ctx context.Context) (*Token, error) {
	req, err := http.NewRequestWithContext(withRetrySafe(ctx), http.MethodPost, a.base+"/token/authenticate", nil)
	if err != nil {
		return nil, errorf("anaplan: bad authentication URL: %w", err)
	}
	if err := a.authorize(req); err != nil {
		return nil, err
	}
	tok, err := a.call(req)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && errors.Is(ae, ErrUnauthorized) && ae.Hint == "" {
			ae.Hint = a.hint
		}
		return nil, errorf("anaplan: %s sign-in failed: %w", a.scheme, err)
	}
	return tok, nil
}

func (a *authService) refresh(ctx context.Context, prev *Token) (*Token, error) {
	req, err := http.NewRequestWithContext(withRetrySafe(ctx), http.MethodPost, a.base+"/token/refresh", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", TokenTypeAnaplan+" "+prev.Value)
	return a.call(req)
}

func (a *authService) close(ctx context.Context, cur *Token) error {
	if cur == nil {
		return nil
	}
	req, err := http.NewRequestWithContext(withRetrySafe(ctx), http.MethodPost, a.base+"/token/logout", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", TokenTypeAnaplan+" "+cur.Value)
	resp, err := a.hc.Do(req)
	if err != nil {
		return errorf("anaplan: logout: %w", scrubbed(err))
	}
	if err := CheckResponse(resp); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
			return nil // already dead: the goal of logging out is reached
		}
		return errorf("anaplan: logout: %w", err)
	}
	drain(resp.Body)
	return nil
}

func (a *authService) call(req *http.Request) (*Token, error) {
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, scrubbed(err)
	}
	if err := CheckResponse(resp); err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, errorf("anaplan: reading the authentication answer: %w", err)
	}
	var serverNow time.Time
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		serverNow = d
	}
	return decodeAuthResponse(body, a.now(), serverNow)
}

// authResponse is the authentication service's success envelope.
type authResponse struct {
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
	TokenInfo     *struct {
		TokenID        string      `json:"tokenId"`
		TokenValue     string      `json:"tokenValue"`
		ExpiresAt      json.Number `json:"expiresAt"`
		RefreshTokenID string      `json:"refreshTokenId"`
	} `json:"tokenInfo"`
}

// decodeAuthResponse reads the envelope of authenticate and refresh answers.
// expiresAt is Unix epoch milliseconds on the server's clock; the token's
// Expiry is placed on ours (now), using the answer's Date (serverNow, zero
// when absent) to measure what is left, so that a local clock that runs
// ahead or behind does not make every token look expired or immortal.
func decodeAuthResponse(body []byte, now, serverNow time.Time) (*Token, error) {
	var r authResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, errors.New("anaplan: the authentication service's answer is not JSON: " + err.Error())
	}
	if r.Status != "" && !strings.EqualFold(r.Status, "SUCCESS") {
		return nil, &APIError{StatusCode: http.StatusOK, Code: truncate(scrubServerText(r.Status), 100), Message: truncate(scrubServerText(r.StatusMessage), 300)}
	}
	if r.TokenInfo == nil || r.TokenInfo.TokenValue == "" {
		return nil, errors.New("anaplan: the authentication service's answer has no tokenInfo.tokenValue")
	}
	rememberSecret(r.TokenInfo.TokenValue)
	tok := &Token{Value: r.TokenInfo.TokenValue, Type: TokenTypeAnaplan}
	if r.TokenInfo.ExpiresAt != "" {
		ms, err := r.TokenInfo.ExpiresAt.Float64()
		if err != nil || ms <= 0 || ms > 1e15 {
			return nil, errors.New("anaplan: the authentication service's answer has an invalid tokenInfo.expiresAt")
		}
		tok.Expiry = localExpiry(time.UnixMilli(int64(ms)), now, serverNow)
	} else {
		tok.Expiry = now.Add(anaplanTokenLifetime)
	}
	return tok, nil
}

// localExpiry places a server-clock expiry on the local clock.
func localExpiry(expiresAt, now, serverNow time.Time) time.Time {
	if !serverNow.IsZero() {
		// Date has whole seconds: what is left is known to within one.
		left := expiresAt.Sub(serverNow) - time.Second
		return now.Add(min(max(left, 0), 24*time.Hour))
	}
	// No Date: trust expiresAt unless the clocks plainly disagree.
	if left := expiresAt.Sub(now); left <= 0 || left > 24*time.Hour {
		return now.Add(anaplanTokenLifetime)
	}
	return expiresAt
}
