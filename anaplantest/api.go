package anaplantest

import (
	"context"
	"net/http"
	"strings"
)

// This file holds what every Integration API route shares: the token check
// and the JSON envelope. The routes themselves live in integration.go.

type userKey struct{}

// userFrom returns the user an authenticated handler runs for.
func userFrom(ctx context.Context) *user {
	u, _ := ctx.Value(userKey{}).(*user)
	return u
}

func (s *Server) registerAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /2/0/users/me", s.authenticated(s.handleUsersMe))
}

// authenticated wraps an Integration API handler: it accepts
// "AnaplanAuthToken <v>" or "Bearer <v>" carrying a live authentication-service
// token or OAuth access token, puts the user in the request context (see
// userFrom) and answers 401 otherwise.
func (s *Server) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, param, ok := authParam(r.Header.Get("Authorization"))
		if !ok {
			writeAPIError(w, r, http.StatusUnauthorized, "Authorization header missing: send AnaplanAuthToken <token>")
			return
		}
		if !strings.EqualFold(scheme, "AnaplanAuthToken") && !strings.EqualFold(scheme, "Bearer") {
			writeAPIError(w, r, http.StatusUnauthorized, "unsupported Authorization scheme: send AnaplanAuthToken <token>")
			return
		}
		s.mu.Lock()
		var u *user
		sess, why := s.sessionLocked(param)
		if sess != nil {
			u = sess.user
		} else if s.sessions[param] == nil {
			// Not an authentication-service token: maybe an OAuth one.
			u, why = s.oauth.accessUser(param, s.now)
		}
		s.mu.Unlock()
		if u == nil {
			writeAPIError(w, r, http.StatusUnauthorized, why)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}
}

// writeAPI writes an Integration API answer: body plus
// "status":{"code":code,"message":…}. Callers add "meta" and the payload.
func writeAPI(w http.ResponseWriter, code int, body map[string]any) {
	if body == nil {
		body = map[string]any{}
	}
	message := "Success"
	if code >= 300 {
		message = http.StatusText(code)
	}
	body["status"] = map[string]any{"code": code, "message": message}
	writeJSON(w, code, body)
}

// writeAPIError writes an Integration API error:
// {"status":{"code":code,"message":message},"path":…}.
func writeAPIError(w http.ResponseWriter, r *http.Request, code int, message string) {
	writeJSON(w, code, map[string]any{
		"status": map[string]any{"code": code, "message": message},
		"path":   r.URL.Path,
	})
}

// schema is the meta.schema URL Anaplan puts in single-object answers.
func (s *Server) schema(object string) string {
	return s.srv.URL + "/2/0/objects/" + object
}

// objectBody is the start of an answer about one object: its meta.schema.
// Callers add the payload; writeAPI adds the status.
func (s *Server) objectBody(object string) map[string]any {
	return map[string]any{"meta": map[string]any{"schema": s.schema(object)}}
}

// writeObject answers 200 with v under key and the meta.schema of object.
func (s *Server) writeObject(w http.ResponseWriter, object, key string, v any) {
	body := s.objectBody(object)
	body[key] = v
	writeAPI(w, http.StatusOK, body)
}

func (s *Server) handleUsersMe(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	first, last := splitName(u.name)
	s.writeObject(w, "user", "user", map[string]any{
		"id":        u.id,
		"active":    true,
		"email":     u.name,
		"firstName": first,
		"lastName":  last,
	})
}

// splitName makes a first and last name from a login such as
// "ada.lovelace@example.com".
func splitName(login string) (first, last string) {
	local, _, _ := strings.Cut(login, "@")
	first, last, _ = strings.Cut(local, ".")
	return title(first), title(last)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
