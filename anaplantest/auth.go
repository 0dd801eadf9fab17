package anaplantest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-anaplan/anaplan/internal/testpki"
)

// Anaplan authentication-service statuses.
const (
	StatusBadCredential = "FAILURE_BAD_CREDENTIAL"
	StatusBadHeader     = "FAILURE_BAD_HEADER"
	StatusBadRequest    = "FAILURE_BAD_REQUEST" // a malformed certificate sign-in body
)

type user struct {
	name     string // the login, usually an e-mail address
	password string // "" = no password sign-in
	id       string // 32 hex digits, like Anaplan's user GUIDs
}

type registeredCert struct {
	cert *x509.Certificate
	user *user
}

type session struct {
	user      *user
	id        string
	value     string
	refreshID string
	expires   time.Time
	dead      bool
}

// userLocked returns the user called name, creating it without a password.
func (s *Server) userLocked(name string) *user {
	u := s.users[name]
	if u == nil {
		u = &user{name: name, id: randomHex(16)}
		s.users[name] = u
	}
	return u
}

// AddUser adds a user who signs in with Basic authentication, or changes the
// password of an existing one. An empty password allows no Basic sign-in
// (certificate and OAuth users).
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(name).password = password
}

// UserID returns the GUID the server gave user name, and whether the user
// exists. It is what GET /2/0/users/me answers as user.id.
func (s *Server) UserID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		return u.id, true
	}
	return "", false
}

// AddCertificate registers a CA-issued certificate for user (created if
// needed), as a tenant administrator does in Anaplan. Certificate sign-in
// accepts only registered certificates, within their validity by the server's
// clock.
func (s *Server) AddCertificate(cert *x509.Certificate, user string) {
	if cert == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[string(cert.Raw)] = &registeredCert{cert: cert, user: s.userLocked(user)}
}

var (
	caOnce sync.Once
	ca     *testpki.CA
	caErr  error
)

// IssueCertificate issues an RSA-2048 client certificate for user from the
// server's own CA, valid from an hour before the server's clock for a year,
// and registers it. The key is the caller's to sign with.
func (s *Server) IssueCertificate(user string) (*x509.Certificate, crypto.Signer, error) {
	caOnce.Do(func() { ca, caErr = testpki.NewCA("anaplantest CA") })
	if caErr != nil {
		return nil, nil, fmt.Errorf("anaplantest: create the CA: %w", caErr)
	}
	now := s.Now()
	leaf, err := ca.Issue(user, &testpki.LeafOptions{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		return nil, nil, fmt.Errorf("anaplantest: issue a certificate: %w", err)
	}
	s.AddCertificate(leaf.Cert, user)
	return leaf.Cert, leaf.Key, nil
}

// RevokeToken makes a token invalid at once: an authentication-service
// token, an OAuth access token or an OAuth refresh token. Unknown values are
// ignored.
func (s *Server) RevokeToken(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[value]; sess != nil {
		sess.dead = true
	}
	s.oauth.revokeToken(value)
}

func (s *Server) registerAuth(mux *http.ServeMux) {
	mux.HandleFunc("POST /token/authenticate", s.handleAuthenticate)
	mux.HandleFunc("POST /token/refresh", s.handleRefresh)
	mux.HandleFunc("GET /token/validate", s.handleValidate)
	mux.HandleFunc("POST /token/logout", s.handleLogout)
}

func authFailure(w http.ResponseWriter, code int, status, message string) {
	writeJSON(w, code, map[string]string{"status": status, "statusMessage": message})
}

func (s *Server) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	scheme, param, ok := authParam(r.Header.Get("Authorization"))
	switch {
	case !ok:
		authFailure(w, http.StatusUnauthorized, StatusBadHeader,
			"Authorization header missing or malformed: send Basic or CACertificate")
	case strings.EqualFold(scheme, "Basic"):
		s.authenticateBasic(w, param)
	case strings.EqualFold(scheme, "CACertificate"):
		s.authenticateCertificate(w, r, param)
	case strings.EqualFold(scheme, "Bearer"):
		authFailure(w, http.StatusUnauthorized, StatusBadHeader,
			"Bearer is not accepted by the authentication service: send Basic or CACertificate")
	default:
		authFailure(w, http.StatusUnauthorized, StatusBadHeader,
			"unsupported Authorization scheme: send Basic or CACertificate")
	}
}

func (s *Server) authenticateBasic(w http.ResponseWriter, param string) {
	raw, err := base64.StdEncoding.DecodeString(param)
	if err != nil {
		authFailure(w, http.StatusUnauthorized, StatusBadHeader, "Basic credentials are not valid base64")
		return
	}
	name, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		authFailure(w, http.StatusUnauthorized, StatusBadHeader, "Basic credentials must be user:password")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	if u == nil || u.password == "" || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		authFailure(w, http.StatusUnauthorized, StatusBadCredential, "user name or password is wrong")
		return
	}
	s.writeSessionLocked(w, s.cfg.authStatus, s.newSessionLocked(u), "Login successful")
}

// certificateBody is the JSON body of a CA-certificate sign-in.
type certificateBody struct {
	EncodedData       string `json:"encodedData"`
	EncodedSignedData string `json:"encodedSignedData"`
	EncodedDataFormat string `json:"encodedDataFormat"`
}

// parseCertificateHeader reads the CACertificate parameter: standard base64
// of the certificate's PEM text, or of its bare DER.
func parseCertificateHeader(param string) (*x509.Certificate, error) {
	raw, err := base64.StdEncoding.DecodeString(param)
	if err != nil {
		return nil, fmt.Errorf("CACertificate value is not standard padded base64")
	}
	der := raw
	if i := bytes.Index(raw, []byte("-----BEGIN")); i >= 0 {
		block, _ := pem.Decode(raw[i:])
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("CACertificate value holds no CERTIFICATE PEM block")
		}
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("CACertificate value is not an X.509 certificate (PEM or DER)")
	}
	return cert, nil
}

func (s *Server) authenticateCertificate(w http.ResponseWriter, r *http.Request, param string) {
	cert, err := parseCertificateHeader(param)
	if err != nil {
		authFailure(w, http.StatusUnauthorized, StatusBadHeader, err.Error())
		return
	}
	var body certificateBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		authFailure(w, http.StatusBadRequest, StatusBadRequest,
			"body must be JSON {encodedData, encodedSignedData, encodedDataFormat}")
		return
	}
	nonce, err1 := strictBase64(body.EncodedData)
	sig, err2 := strictBase64(body.EncodedSignedData)
	if err1 != nil || err2 != nil || len(nonce) == 0 || len(sig) == 0 {
		authFailure(w, http.StatusBadRequest, StatusBadRequest,
			"encodedData and encodedSignedData must be standard padded base64")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now
	reg := s.certs[string(cert.Raw)]
	fail := func(msg string) { authFailure(w, http.StatusUnauthorized, StatusBadCredential, msg) }
	switch {
	case reg == nil:
		fail("certificate is not registered with the tenant")
		return
	case now.Before(cert.NotBefore):
		fail("certificate is not yet valid")
		return
	case now.After(cert.NotAfter):
		fail("certificate has expired")
		return
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		fail("certificate key is not RSA: Anaplan needs an RSA certificate")
		return
	}
	switch format := strings.ToLower(body.EncodedDataFormat); format {
	case "v2":
		if len(nonce) != 100 {
			fail("v2 encodedData must be 100 bytes: 8-byte Unix time and 92 random bytes")
			return
		}
	case "", "v1":
		if s.cfg.refuseV1 {
			fail("v1 encodedData is no longer accepted: send encodedDataFormat v2")
			return
		}
		if len(nonce) < 100 || len(nonce) > 150 {
			fail("v1 encodedData must be 100 to 150 random bytes")
			return
		}
	default:
		fail("unknown encodedDataFormat: use v2")
		return
	}
	digest := sha512.Sum512(nonce)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA512, digest[:], sig) != nil {
		fail("signature does not verify: sign encodedData with SHA512withRSA and the certificate's key")
		return
	}
	if strings.EqualFold(body.EncodedDataFormat, "v2") {
		ts := time.Unix(int64(binary.BigEndian.Uint64(nonce[:8])), 0)
		if d := now.Sub(ts); d > NonceTolerance || d < -NonceTolerance {
			fail("encodedData timestamp is more than 5 minutes from the server's time: stale nonce or clock skew")
			return
		}
	}
	if s.nonces[string(nonce)] {
		fail("encodedData was already used: sign a fresh nonce for every sign-in")
		return
	}
	s.nonces[string(nonce)] = true
	s.writeSessionLocked(w, s.cfg.authStatus, s.newSessionLocked(reg.user), "Login successful")
}

func (s *Server) newSessionLocked(u *user) *session {
	sess := &session{
		user:      u,
		id:        randomUUID(),
		value:     randomToken(),
		refreshID: randomUUID(),
		expires:   s.now.Add(s.tokenTTL),
	}
	s.sessions[sess.value] = sess
	return sess
}

func (s *Server) writeSessionLocked(w http.ResponseWriter, code int, sess *session, message string) {
	writeJSON(w, code, map[string]any{
		"meta":          map[string]any{"validationUrl": s.srv.URL + "/token/validate"},
		"status":        "SUCCESS",
		"statusMessage": message,
		"tokenInfo": map[string]any{
			"tokenId":        sess.id,
			"tokenValue":     sess.value,
			"expiresAt":      sess.expires.UnixMilli(),
			"refreshTokenId": sess.refreshID,
		},
	})
}

// sessionLocked finds a live authentication-service token, or says why not.
func (s *Server) sessionLocked(value string) (*session, string) {
	sess := s.sessions[value]
	switch {
	case sess == nil:
		return nil, "token is not valid"
	case sess.dead:
		return nil, "token has been revoked or logged out"
	case !s.now.Before(sess.expires):
		return nil, "token has expired"
	}
	return sess, ""
}

// tokenSession checks the AnaplanAuthToken header of a refresh, validate or
// logout call; it answers the failure itself and returns nil then.
func (s *Server) tokenSessionLocked(w http.ResponseWriter, r *http.Request) *session {
	scheme, param, ok := authParam(r.Header.Get("Authorization"))
	switch {
	case !ok:
		authFailure(w, http.StatusUnauthorized, StatusBadHeader,
			"Authorization header missing or malformed: send AnaplanAuthToken <tokenValue>")
		return nil
	case !strings.EqualFold(scheme, "AnaplanAuthToken"):
		authFailure(w, http.StatusUnauthorized, StatusBadHeader,
			"the authentication service accepts only AnaplanAuthToken <tokenValue>")
		return nil
	}
	sess, why := s.sessionLocked(param)
	if sess == nil {
		authFailure(w, http.StatusUnauthorized, StatusBadCredential, why)
	}
	return sess
}

// withSession runs f, with s.mu held, on the session of a refresh, validate
// or logout call once tokenSessionLocked has accepted its token.
func (s *Server) withSession(w http.ResponseWriter, r *http.Request, f func(sess *session)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.tokenSessionLocked(w, r); sess != nil {
		f(sess)
	}
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	s.withSession(w, r, func(sess *session) {
		if s.cfg.refreshKeepsToken {
			sess.expires = s.now.Add(s.tokenTTL)
		} else {
			sess.dead = true
			sess = s.newSessionLocked(sess.user)
		}
		s.writeSessionLocked(w, s.cfg.authStatus, sess, "Token refreshed")
	})
}

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	s.withSession(w, r, func(sess *session) {
		writeJSON(w, http.StatusOK, map[string]any{
			"meta":          map[string]any{"validationUrl": s.srv.URL + "/token/validate"},
			"status":        "SUCCESS",
			"statusMessage": "Token validated",
			"tokenInfo": map[string]any{
				"expiresAt":      sess.expires.UnixMilli(),
				"tokenId":        sess.id,
				"refreshTokenId": sess.refreshID,
			},
			"userInfo": map[string]any{
				"userGuid":     sess.user.id,
				"userId":       sess.user.name,
				"customerGuid": s.customerID,
			},
		})
	})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.withSession(w, r, func(sess *session) {
		sess.dead = true
		w.WriteHeader(http.StatusNoContent)
	})
}

// strictBase64 decodes standard, padded base64 with no line breaks (the
// decoder alone skips CR and LF).
func strictBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line breaks in base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}
