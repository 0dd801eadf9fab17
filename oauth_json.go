package anaplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// OAuthBodyEncoding chooses how the bodies of OAuth token and device-code
// requests are encoded (see WithOAuthBodyEncoding).
type OAuthBodyEncoding int

const (
	// OAuthBodyAuto, the default, sends JSON to Anaplan's OAuth hosts
	// (anaplan.com and its subdomains) and standard form encoding to any
	// other server.
	OAuthBodyAuto OAuthBodyEncoding = iota
	// OAuthBodyJSON always sends a JSON object of the same fields, with
	// Content-Type: application/json, as Anaplan's documentation, its
	// Postman collection and Anaplan Connect do.
	OAuthBodyJSON
	// OAuthBodyForm always sends application/x-www-form-urlencoded
	// (RFC 6749), as golang.org/x/oauth2 does.
	OAuthBodyForm
)

// String returns AUTO, JSON or FORM, the values of the OAuthBodyFormat
// connection-string property.
func (e OAuthBodyEncoding) String() string {
	switch e {
	case OAuthBodyAuto:
		return "AUTO"
	case OAuthBodyJSON:
		return "JSON"
	case OAuthBodyForm:
		return "FORM"
	}
	return fmt.Sprintf("OAuthBodyEncoding(%d)", int(e))
}

// WithOAuthBodyEncoding chooses the encoding of OAuth token and device-code
// request bodies: OAuthBodyAuto (the default: JSON to Anaplan, form
// elsewhere), OAuthBodyJSON or OAuthBodyForm. Choose JSON for an Anaplan
// OAuth service reached under another host name (a proxy, a private
// deployment given with OAuthURL); choose form for a standard OAuth server
// under an anaplan.com name. The connection-string property is
// OAuthBodyFormat=AUTO|JSON|FORM. Any other value makes New fail.
func WithOAuthBodyEncoding(e OAuthBodyEncoding) Option {
	return func(c *config) {
		switch e {
		case OAuthBodyAuto, OAuthBodyJSON, OAuthBodyForm:
			c.oauthBody = e
		default:
			c.fail(errorf("anaplan: WithOAuthBodyEncoding(%d): the encoding must be OAuthBodyAuto, OAuthBodyJSON or OAuthBodyForm", int(e)))
		}
	}
}

// oauthBodyFromProperty maps the OAuthBodyFormat property (already checked
// and canonical) to its encoding.
func oauthBodyFromProperty(v string) OAuthBodyEncoding {
	switch v {
	case "JSON":
		return OAuthBodyJSON
	case "FORM":
		return OAuthBodyForm
	}
	return OAuthBodyAuto
}

// oauthBodyClient returns hc with a transport that re-encodes the form
// bodies golang.org/x/oauth2 sends to the token and device-code endpoints
// of ep as JSON where enc asks for it. Every other request passes as it is.
func oauthBodyClient(hc *http.Client, enc OAuthBodyEncoding, ep oauth2.Endpoint) *http.Client {
	if enc == OAuthBodyForm {
		return hc
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *hc
	c.Transport = &oauthJSONTransport{next: next, enc: enc, endpoints: [2]string{ep.TokenURL, ep.DeviceAuthURL}}
	return &c
}

// maxOAuthForm bounds the form body re-encoded (oauth2's are well under 8 KiB).
const maxOAuthForm = 64 << 10

// oauthJSONTransport re-encodes form bodies as JSON (see oauthBodyClient).
type oauthJSONTransport struct {
	next      http.RoundTripper
	enc       OAuthBodyEncoding
	endpoints [2]string // token and device-code URLs
}

func (t *oauthJSONTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.reencode(req) {
		return t.next.RoundTrip(req)
	}
	body, err := formAsJSON(req.Body)
	if err != nil {
		return nil, errorf("anaplan: encoding the OAuth request to %s as JSON: %w", redactURL(req.URL.String()), err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Content-Type", "application/json")
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return t.next.RoundTrip(r)
}

// reencode reports whether req is a form POST to the token or device-code
// endpoint that enc wants as JSON.
func (t *oauthJSONTransport) reencode(req *http.Request) bool {
	if req.Method != http.MethodPost || req.Body == nil || req.Body == http.NoBody {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return false
	}
	if !sameEndpoint(req.URL, t.endpoints[0]) && !sameEndpoint(req.URL, t.endpoints[1]) {
		return false
	}
	return t.enc == OAuthBodyJSON || (t.enc == OAuthBodyAuto && anaplanHost(req.URL.Hostname()))
}

// sameEndpoint reports whether u is the endpoint URL ep (scheme, host and
// path; the query is ignored).
func sameEndpoint(u *url.URL, ep string) bool {
	if ep == "" {
		return false
	}
	e, err := url.Parse(ep)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, e.Scheme) && strings.EqualFold(u.Host, e.Host) && u.Path == e.Path
}

// anaplanHost reports whether host is anaplan.com or one of its subdomains.
func anaplanHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "anaplan.com" || strings.HasSuffix(host, ".anaplan.com")
}

// formAsJSON reads a form body (closing it) and returns a JSON object of the
// same fields: one string each, or an array for a repeated field.
func formAsJSON(body io.ReadCloser) ([]byte, error) {
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, maxOAuthForm+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxOAuthForm {
		return nil, errors.New("the form body is larger than 64 KiB")
	}
	vals, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, errors.New("the body is not valid form encoding") // the parse error would quote the body
	}
	obj := make(map[string]any, len(vals))
	for k, v := range vals {
		if len(v) == 1 {
			obj[k] = v[0]
		} else {
			obj[k] = v
		}
	}
	return json.Marshal(obj)
}
