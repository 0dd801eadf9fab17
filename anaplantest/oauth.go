package anaplantest

import (
	"net/http"
	"time"
)

// oauthState is the OAuth service's state (phase 2).
type oauthState struct{}

func (o *oauthState) init()                    {}
func (o *oauthState) revokeToken(value string) {}
func (o *oauthState) accessUser(value string, now time.Time) (*user, string) {
	return nil, "token is not valid"
}

func (s *Server) registerOAuth(mux *http.ServeMux) {}
