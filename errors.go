package anaplan

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnauthorized reports that Anaplan rejected the credentials or the token.
// Every *APIError with status 401 or 403 matches it under errors.Is.
var ErrUnauthorized = errors.New("anaplan: unauthorized")

// ErrForbidden reports that Anaplan accepted the credentials but refused the
// request: the user lacks the permission (a workspace administrator role, a
// model role, an integration role). Every *APIError with status 403 matches
// it, and ErrUnauthorized too. Signing in again does not help; a tenant
// administrator grants the permission.
var ErrForbidden = errors.New("anaplan: forbidden")

// ErrInteractionRequired reports that OAuth needs a person to sign in, but the
// configured InitiateOAuth mode forbids prompting.
var ErrInteractionRequired = errors.New("anaplan: interactive OAuth sign-in required")

// ErrNoSettings is returned by SettingsStore.Load when nothing is stored yet.
var ErrNoSettings = errors.New("anaplan: no OAuth settings stored")

// ErrClosed is returned by a Client's calls after Close.
var ErrClosed = errors.New("anaplan: client is closed")

// APIError is an error answer from an Anaplan service: the authentication
// service, the OAuth service or the Integration API.
//
// It never holds a credential: URL has its query removed, and Message is the
// service's own status message.
type APIError struct {
	StatusCode int
	Code       string // Anaplan's status ("FAILURE_BAD_CREDENTIAL") or OAuth error ("invalid_grant")
	Message    string
	Method     string
	URL        string // without query secrets

	// Hint, when set, says what the caller can do about the error.
	Hint string
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("anaplan: ")
	if e.Method != "" || e.URL != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
		b.WriteString(e.URL)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.StatusCode)
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteByte(')')
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403 answers, and
// for OAuth's invalid_grant / invalid_token / invalid_client errors, and
// errors.Is(err, ErrForbidden) true for 403 answers.
func (e *APIError) Is(target error) bool {
	if target == ErrForbidden {
		return e.StatusCode == 403
	}
	if target != ErrUnauthorized {
		return false
	}
	switch e.StatusCode {
	case 401, 403:
		return true
	}
	switch e.Code {
	case "invalid_grant", "invalid_token", "invalid_client", "unauthorized_client":
		return true
	}
	return false
}

// ConnectionStringError reports a malformed connection string or a property
// value that cannot be used. Its message never contains a property value.
type ConnectionStringError struct {
	Offset int    // byte offset in the connection string
	Key    string // property name, when known
	Reason string
}

// Error implements error.
func (e *ConnectionStringError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("anaplan: connection string: %s (property %s at offset %d)", e.Reason, e.Key, e.Offset)
	}
	return fmt.Sprintf("anaplan: connection string: %s (at offset %d)", e.Reason, e.Offset)
}

// errorf is fmt.Errorf for the SDK's own errors: the message starts with
// "anaplan: " once, however many of the errors it wraps start with it too
// ("anaplan: Basic sign-in failed: POST …", not "…failed: anaplan: POST …").
// The wrapped errors stay reachable with errors.Is and errors.As.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	msg := err.Error()
	if !strings.HasPrefix(msg, "anaplan: ") || !strings.Contains(msg[len("anaplan: "):], "anaplan: ") {
		return err
	}
	msg = "anaplan: " + strings.NewReplacer(": anaplan: ", ": ", "(anaplan: ", "(").Replace(msg[len("anaplan: "):])
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return &prefixedErrors{msg: msg, errs: u.Unwrap()}
	}
	return &prefixedError{msg: msg, err: errors.Unwrap(err)}
}

type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }

type prefixedErrors struct {
	msg  string
	errs []error
}

func (e *prefixedErrors) Error() string   { return e.msg }
func (e *prefixedErrors) Unwrap() []error { return e.errs }
