package anaplan

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Server text (statusMessage, error_description, message, …) reaches errors
// and log lines only through scrubServerText. A server or proxy that echoes
// the request would otherwise put the request's credentials there: the
// Basic header (user:password in base64), client_secret, refresh tokens,
// codes. Two layers:
//
//   - every secret this process's clients know (passwords and their Basic
//     form, client secrets, access and refresh tokens, codes, verifiers,
//     PKCE verifiers, device codes, key passwords) is replaced by REDACTED
//     wherever it appears, also URL-, JSON- or base64-encoded;
//   - whatever follows a credential's name (Authorization:, client_secret=,
//     "refresh_token":, password=, …) is replaced too, so that secrets the
//     process never knew (another client's, an old token) do not pass.
//
// The set of known secrets is process-wide (a message may come from any
// client's request) and bounded: the oldest are forgotten first.
var knownSecrets secretSet

// minSecretLen: shorter values are not searched for (they would wreck
// ordinary words); the credential-name patterns still catch them.
const minSecretLen = 4

// maxKnownSecrets bounds the set (each refresh adds two tokens).
const maxKnownSecrets = 512

type secretSet struct {
	mu      sync.RWMutex
	entries [][]string // per secret, its encoded forms; oldest first
	seen    map[string]struct{}
}

// rememberSecret adds values to the process's known secrets.
func rememberSecret(values ...string) {
	knownSecrets.add(values...)
}

func (s *secretSet) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		if _, ok := s.seen[v]; ok {
			continue
		}
		s.seen[v] = struct{}{}
		s.entries = append(s.entries, secretForms(v))
	}
	if over := len(s.entries) - maxKnownSecrets; over > 0 {
		for _, e := range s.entries[:over] {
			delete(s.seen, e[0])
		}
		s.entries = append([][]string(nil), s.entries[over:]...)
	}
}

// secretForms: the value as it is and as it travels in URLs, forms, JSON
// and base64.
func secretForms(v string) []string {
	forms := []string{v}
	add := func(f string) {
		if f != "" && len(f) >= minSecretLen {
			for _, g := range forms {
				if g == f {
					return
				}
			}
			forms = append(forms, f)
		}
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	if b, err := json.Marshal(v); err == nil {
		add(strings.Trim(string(b), `"`))
	}
	add(base64.StdEncoding.EncodeToString([]byte(v)))
	return forms
}

// credentialPatterns find a credential's name followed by its value, in the
// shapes of headers, query strings and forms, and JSON. Group 1 is kept,
// group 2 (the value) replaced.
var credentialPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization\s*[:=]\s*(?:(?:basic|bearer|anaplanauthtoken|cacertificate)\s+)?)([^\s"'&,;}<>]+)`),
	regexp.MustCompile(`(?i)(\b(?:client_secret|refresh_token|access_token|id_token|device_code|user_code|code_verifier|password|passwd|code|token|tokenvalue|verifier|secret)=)([^\s"'&,;}<>]+)`),
	regexp.MustCompile(`(?i)("(?:client_secret|refresh_token|access_token|id_token|device_code|code_verifier|password|code|token|tokenvalue|verifier|secret|encodedsigneddata|authorization)"\s*:\s*")([^"]*)`),
}

// scrubServerText returns s with every known secret and every credential
// value replaced by REDACTED.
func scrubServerText(s string) string {
	if s == "" {
		return s
	}
	s = knownSecrets.scrub(s)
	for _, p := range credentialPatterns {
		s = p.ReplaceAllString(s, "${1}"+Redacted)
	}
	return s
}

func (s *secretSet) scrub(msg string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(s.entries) - 1; i >= 0; i-- {
		for _, f := range s.entries[i] {
			if strings.Contains(msg, f) {
				msg = strings.ReplaceAll(msg, f, Redacted)
			}
		}
	}
	return msg
}
