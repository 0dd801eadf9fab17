package anaplantest

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUsersMe(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("ada.lovelace@example.com", "p")
	tok := login(t, s, "ada.lovelace@example.com", "p")
	id, _ := s.UserID("ada.lovelace@example.com")
	want := map[string]any{
		"meta":   map[string]any{"schema": s.URL() + "/2/0/objects/user"},
		"status": map[string]any{"code": float64(200), "message": "Success"},
		"user": map[string]any{
			"id": id, "active": true, "email": "ada.lovelace@example.com",
			"firstName": "Ada", "lastName": "Lovelace",
		},
	}
	for _, scheme := range []string{"AnaplanAuthToken", "Bearer", "anaplanauthtoken"} {
		t.Run(scheme, func(t *testing.T) {
			r := call(t, s, "GET", "/2/0/users/me", map[string]string{"Authorization": scheme + " " + tok}, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if diff := cmp.Diff(want, r.Body); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestUsersMeUnauthorized(t *testing.T) {
	s := New(t, WithClock(epoch))
	s.AddUser("u", "p")
	expired := login(t, s, "u", "p")
	s.Advance(36 * time.Minute)
	revoked := login(t, s, "u", "p")
	s.RevokeToken(revoked)
	tests := []struct {
		name   string
		header map[string]string
	}{
		{"missing", nil},
		{"basic", basic("u", "p")},
		{"unknown", authToken("nope")},
		{"revoked", authToken(revoked)},
		{"expired", authToken(expired)},
		{"expired as bearer", map[string]string{"Authorization": "Bearer " + expired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, "GET", "/2/0/users/me", tt.header, nil)
			if r.Status != http.StatusUnauthorized || num(r.Body, "status", "code") != 401 || str(r.Body, "status", "message") == "" {
				t.Fatalf("got %d %s, want 401 with status.code and status.message", r.Status, r.Raw)
			}
			if str(r.Body, "path") != "/2/0/users/me" {
				t.Errorf("path missing: %s", r.Raw)
			}
		})
	}
}
