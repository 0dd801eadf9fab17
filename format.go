package anaplan

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Redaction under every formatting verb and in JSON.
//
// String, GoString and LogValue (token.go, auth_oauth.go, settings_store.go)
// cover %v, %s and %#v, but fmt prints a struct field by field for any other
// verb (%d, %x of the fields, %t, %o, …) and json.Marshal ignores Stringer.
// The Format methods below send every verb through the redacted String (or
// GoString for %#v), so that no verb, flag, width or precision can reach a
// secret, whether the value is printed as itself, through a pointer, or
// inside a slice, a map or an exported struct field.
//
// What cannot be helped, because fmt never asks the value:
//   - %p of a non-pointer Token, OAuthConfig or Settings, and %w of one (it
//     is no error; go vet reports the call): fmt reports the bad verb as
//     %!p(anaplan.Token={…}) with the raw fields, calling no method (%p of a
//     pointer prints only the address);
//   - an unexported struct field of a caller's own type: fmt does not call
//     methods on a field it cannot reach through reflection, so it prints
//     the raw fields. Keep tokens in exported fields, or print them alone;
//   - Settings keeps its default JSON (stores need the tokens), so a Settings
//     inside a slice, map or struct given to slog's JSON handler shows them:
//     log a Settings on its own (slog then uses LogValue), never inside
//     another value.

// Format implements fmt.Formatter: every verb shows the redacted String,
// %#v the redacted GoString.
func (t Token) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String, t.GoString) }

// Format implements fmt.Formatter: every verb shows the redacted String,
// %#v the redacted GoString.
func (c OAuthConfig) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String, c.GoString) }

// Format implements fmt.Formatter: every verb shows the redacted String,
// %#v the redacted GoString.
func (s Settings) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String, s.GoString) }

// formatRedacted prints the redacted text under the verb, flags, width and
// precision that were asked for, as fmt would print a string: %x is the hex
// of the redacted text and a verb that does not fit a string reads
// %!d(string=…redacted…).
func formatRedacted(f fmt.State, verb rune, str, goStr func() string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, goStr())
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), str())
}

// redactedToken is the JSON shape of a Token: its fields, the value
// redacted.
type redactedToken struct {
	Value  string
	Type   string
	Expiry time.Time
}

// MarshalJSON encodes the token with Value redacted, so that a Token inside
// any JSON (slog's JSON handler included) never shows the credential. The
// field names are those of the default encoding.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(redactedToken{Value: redact(t.Value), Type: t.Type, Expiry: t.Expiry})
}

// redactedOAuthConfig is the JSON shape of an OAuthConfig: its data fields,
// the secrets redacted (the function fields, which JSON cannot encode, are
// left out).
type redactedOAuthConfig struct {
	ClientID     string
	ClientSecret string
	CallbackURL  string
	Scopes       []string
	Initiate     InitiateOAuth
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
	Verifier     string
}

// MarshalJSON encodes the configuration with ClientSecret, AccessToken,
// RefreshToken and Verifier redacted; OpenURL and ShowDeviceCode are left
// out.
func (c OAuthConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(redactedOAuthConfig{
		ClientID: c.ClientID, ClientSecret: redact(c.ClientSecret), CallbackURL: c.CallbackURL,
		Scopes: c.Scopes, Initiate: c.Initiate, AccessToken: redact(c.AccessToken),
		RefreshToken: redact(c.RefreshToken), Expiry: c.Expiry, Verifier: redact(c.Verifier),
	})
}
