package anaplantest

import (
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// OAuthBodyFormat is an encoding of the body of an OAuth token or
// device-code request.
type OAuthBodyFormat string

const (
	// OAuthBodyForm is application/x-www-form-urlencoded (RFC 6749).
	OAuthBodyForm OAuthBodyFormat = "application/x-www-form-urlencoded"
	// OAuthBodyJSON is application/json, a JSON object of strings, as
	// Anaplan's documentation, its Postman collection and Anaplan Connect
	// send.
	OAuthBodyJSON OAuthBodyFormat = "application/json"
)

// oauthBodies are the body formats the token and device-code endpoints
// accept, and how many requests came in each. Its own lock: readParams runs
// before the server's.
type oauthBodies struct {
	mu     sync.Mutex
	accept map[OAuthBodyFormat]bool // nil: both
	seen   map[OAuthBodyFormat]int
}

// SetOAuthBodyFormats makes POST /oauth/token and /oauth/device/code accept
// only the given body formats; any other is answered 415 with an
// invalid_request error. With no formats both are accepted again (the
// default).
func (s *Server) SetOAuthBodyFormats(formats ...OAuthBodyFormat) {
	s.bodies.mu.Lock()
	defer s.bodies.mu.Unlock()
	s.bodies.accept = nil
	if len(formats) > 0 {
		s.bodies.accept = map[OAuthBodyFormat]bool{}
		for _, f := range formats {
			s.bodies.accept[f] = true
		}
	}
}

// OAuthBodyFormatsSeen returns how many token and device-code requests came
// in each body format (accepted or not).
func (s *Server) OAuthBodyFormatsSeen() map[OAuthBodyFormat]int {
	s.bodies.mu.Lock()
	defer s.bodies.mu.Unlock()
	out := make(map[OAuthBodyFormat]int, len(s.bodies.seen))
	for k, v := range s.bodies.seen {
		out[k] = v
	}
	return out
}

// checkBodyFormat counts the request's body format and refuses one that
// SetOAuthBodyFormats excluded.
func (s *Server) checkBodyFormat(r *http.Request) *oauthError {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	f := OAuthBodyFormat(mt)
	s.bodies.mu.Lock()
	defer s.bodies.mu.Unlock()
	if s.bodies.seen == nil {
		s.bodies.seen = map[OAuthBodyFormat]int{}
	}
	s.bodies.seen[f]++
	if s.bodies.accept != nil && !s.bodies.accept[f] {
		var want []string
		for a := range s.bodies.accept {
			want = append(want, string(a))
		}
		sort.Strings(want)
		return &oauthError{http.StatusUnsupportedMediaType, "invalid_request", "this server accepts only " + strings.Join(want, " or ") + " request bodies"}
	}
	return nil
}
