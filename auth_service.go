package anaplan

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
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
		body, err := certAuthBody(key, a.now(), rand.Reader, format)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", header)
		req.Header.Set("Content-Type", "application/json")
		setBody(req, body)
		return nil
	}
	return a
}

// setBody gives req a body that can be sent again on a retry.
func setBody(req *http.Request, body []byte) {
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Body, _ = req.GetBody()
}

func (a *authService) fetch(ctx context.Context, prev *Token) (*Token, error) {
	if prev != nil {
		tok, err := a.refresh(ctx, prev)
		if err == nil {
			return tok, nil
		}
		a.logger.LogAttrs(ctx, slog.LevelDebug, "anaplan: token refresh failed; signing in again", slog.String("error", err.Error()))
	}
	return a.authenticate(ctx)
}

func (a *authService) authenticate(ctx context.Context) (*Token, error) {
	req, err := http.NewRequestWithContext(withRetrySafe(ctx), http.MethodPost, a.base+"/token/authenticate", nil)
	if err != nil {
		return nil, fmt.Errorf("anaplan: bad authentication URL: %w", err)
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
		return nil, fmt.Errorf("anaplan: %s sign-in failed: %w", a.scheme, err)
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
		return fmt.Errorf("anaplan: logout: %w", scrubbed(err))
	}
	if err := CheckResponse(resp); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
			return nil // already dead: the goal of logging out is reached
		}
		return fmt.Errorf("anaplan: logout: %w", err)
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
		return nil, fmt.Errorf("anaplan: reading the authentication answer: %w", err)
	}
	return decodeAuthResponse(body, a.now())
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
// expiresAt is Unix epoch milliseconds.
func decodeAuthResponse(body []byte, now time.Time) (*Token, error) {
	var r authResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, errors.New("anaplan: the authentication service's answer is not JSON: " + err.Error())
	}
	if r.Status != "" && !strings.EqualFold(r.Status, "SUCCESS") {
		return nil, &APIError{StatusCode: http.StatusOK, Code: r.Status, Message: truncate(r.StatusMessage, 300)}
	}
	if r.TokenInfo == nil || r.TokenInfo.TokenValue == "" {
		return nil, errors.New("anaplan: the authentication service's answer has no tokenInfo.tokenValue")
	}
	tok := &Token{Value: r.TokenInfo.TokenValue, Type: TokenTypeAnaplan}
	if r.TokenInfo.ExpiresAt != "" {
		ms, err := r.TokenInfo.ExpiresAt.Float64()
		if err != nil || ms <= 0 || ms > 1e15 {
			return nil, errors.New("anaplan: the authentication service's answer has an invalid tokenInfo.expiresAt")
		}
		tok.Expiry = time.UnixMilli(int64(ms))
	} else {
		tok.Expiry = now.Add(anaplanTokenLifetime)
	}
	return tok, nil
}
