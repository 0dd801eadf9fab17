package anaplantest

import (
	"context"
	"sync"

	"github.com/go-anaplan/anaplan"
)

// Tokens for tests that bring their own TokenSource (anaplan.WithTokenSource):
// no sign-in request, no OAuth detour.

// IssueToken returns a live authentication-service token for user (created,
// without a password, when absent), as a sign-in would have issued it: it
// expires after the token TTL (SetTokenTTL) by the server's clock, and
// RevokeToken, Advance and logout affect it as they affect any other.
func (s *Server) IssueToken(user string) *anaplan.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.newSessionLocked(s.userLocked(user))
	return &anaplan.Token{Value: sess.value, Type: "AnaplanAuthToken", Expiry: sess.expires}
}

// TokenSource returns a TokenSource for user: it hands out the token it
// issued last while the server still accepts it, and issues a new one (see
// IssueToken) once that one has expired by the server's clock or was
// revoked. Pass it to anaplan.WithTokenSource.
func (s *Server) TokenSource(user string) anaplan.TokenSource {
	var (
		mu  sync.Mutex
		tok *anaplan.Token
	)
	return anaplan.TokenSourceFunc(func(ctx context.Context) (*anaplan.Token, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if tok != nil {
			s.mu.Lock()
			live, _ := s.sessionLocked(tok.Value)
			s.mu.Unlock()
			if live != nil {
				t := *tok
				return &t, nil
			}
		}
		tok = s.IssueToken(user)
		t := *tok
		return &t, nil
	})
}
