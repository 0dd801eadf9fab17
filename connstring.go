package anaplan

import (
	"encoding/base64"
	"fmt"
	"github.com/go-anaplan/anaplan/internal/textdist"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reasons of syntax errors. None of them, nor any other Reason, holds a value.
const (
	reasonEmptyKey     = "property name missing before '='"
	reasonNoEquals     = "property has no '=': write Name=value, and quote a value that contains ';'"
	reasonUnterminated = "quoted value has no closing quote (inside a quoted value, write a quote twice)"
	reasonAfterQuote   = "text after the closing quote of a value (quote the whole value, and inside it write a quote twice)"
)

// propSpec describes one connection-string property.
type propSpec struct {
	name   string
	secret bool                                       // may hold a credential or key material
	check  func(v string) (canonical string, ok bool) // nil: any text
	rule   string                                     // the Reason when check fails; never holds the value
}

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// propSpecs lists every property, in the order the documentation gives them.
var propSpecs = []propSpec{
	enumProp("AuthScheme", "Basic", "Certificate", "OAuth"),
	{name: "User"},
	{name: "Password", secret: true},
	{name: "Region", check: checkRegion, rule: "Region must be one of " + regionNames()},
	{name: "Certificate", secret: true},
	enumProp("CertificateType", "PEMKEY_FILE", "PEMKEY_BLOB", "PFXFILE", "PFXBLOB", "PUBLIC_KEY_FILE", "PUBLIC_KEY_BLOB"),
	{name: "CertificatePassword", secret: true},
	{name: "PrivateKey", secret: true},
	enumProp("PrivateKeyType", "PEMKEY_FILE", "PEMKEY_BLOB"),
	{name: "PrivateKeyPassword", secret: true},
	enumProp("InitiateOAuth", "OFF", "REFRESH", "GETANDREFRESH"),
	{name: "OAuthClientId"},
	{name: "OAuthClientSecret", secret: true},
	{name: "CallbackURL"},
	{name: "Scope"},
	{name: "OAuthAccessToken", secret: true},
	{name: "OAuthRefreshToken", secret: true},
	{name: "OAuthExpiresIn", check: checkInt(true, maxSeconds), rule: "OAuthExpiresIn must be a whole number of seconds"},
	{name: "OAuthTokenTimestamp", check: checkInt(true, math.MaxInt64),
		rule: "OAuthTokenTimestamp must be a whole number of milliseconds since 1970-01-01 UTC"},
	{name: "OAuthVerifier", secret: true},
	{name: "OAuthSettingsLocation"},
	{name: "OAuthSettingsKey", secret: true, check: checkSettingsKey,
		rule: "OAuthSettingsKey must be standard base64 of exactly 32 bytes (for example the output of: openssl rand -base64 32)"},
	{name: "Timeout", check: checkInt(false, maxSeconds), rule: "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"},
	urlProp("AuthURL", "https://auth.anaplan.com"),
	urlProp("APIURL", "https://api.anaplan.com/2/0"),
	urlProp("OAuthURL", "https://us1a.app.anaplan.com"),
	enumProp("CertificateFormat", "v2", "v1"),
	enumProp("OAuthBodyFormat", "AUTO", "JSON", "FORM"),
}

// propByLower maps the ASCII-lower-case name of every property to its spec.
var propByLower = func() map[string]*propSpec {
	m := make(map[string]*propSpec, len(propSpecs))
	for i := range propSpecs {
		m[asciiLower(propSpecs[i].name)] = &propSpecs[i]
	}
	return m
}()

// propAliases are names other drivers use, suggested when typed.
var propAliases = map[string]string{"pwd": "Password", "uid": "User", "user id": "User"}

// lookupProp returns the spec of a property name typed in any case, or nil.
// Only ASCII letters fold: "K" (Kelvin sign) does not stand for "k".
func lookupProp(key string) *propSpec { return propByLower[asciiLower(key)] }

// isSecretProperty reports whether a property (any case) may hold a
// credential or key material, so that its value must never be shown.
func isSecretProperty(key string) bool {
	p := lookupProp(key)
	return p != nil && p.secret
}

// ParseConnectionString parses a CData-style connection string such as
// "AuthScheme=Basic;User=me@example.com;Password='p;w'" into its properties,
// keyed by their canonical spelling (AuthScheme, User, Password, Region, …).
//
// Pairs are separated by ';' and empty pairs are ignored. White space around
// names and values is trimmed. Names are case-insensitive; an unknown name, a
// repeated name, an empty name or a name without '=' is an error. A value may
// be quoted with ' or "; inside, the quote written twice stands for one, and
// after the closing quote only white space may come. An unquoted value runs to
// the next ';'. Values with a closed set or a type are checked and put in
// canonical form: AuthScheme (Basic, Certificate, OAuth), CertificateType,
// PrivateKeyType and InitiateOAuth (upper case), Region (upper case), Timeout,
// OAuthExpiresIn and OAuthTokenTimestamp (integers), OAuthSettingsKey (base64
// of 32 bytes), AuthURL, APIURL and OAuthURL (absolute http(s) URLs).
//
// Errors are *ConnectionStringError, with the byte offset of the name or the
// value at fault. They never contain a value.
func ParseConnectionString(s string) (map[string]string, error) {
	pairs, syntaxErr := splitConnectionString(s)
	m := make(map[string]string, len(pairs))
	firstAt := make(map[string]int, len(pairs))
	for _, p := range pairs {
		spec := lookupProp(p.key)
		if spec == nil {
			return nil, unknownPropError(p)
		}
		if at, dup := firstAt[spec.name]; dup {
			return nil, &ConnectionStringError{Offset: p.keyOff, Key: spec.name,
				Reason: fmt.Sprintf("property given more than once (first at offset %d)", at)}
		}
		firstAt[spec.name] = p.keyOff
		if p.broken {
			break // syntaxErr is about this value
		}
		v := p.value
		if spec.check != nil {
			c, ok := spec.check(v)
			if !ok {
				return nil, &ConnectionStringError{Offset: p.valOff, Key: spec.name, Reason: spec.rule}
			}
			v = c
		}
		m[spec.name] = v
	}
	if syntaxErr != nil {
		return nil, syntaxErr
	}
	return m, nil
}

// connPair is one name=value pair as written.
type connPair struct {
	key            string // trimmed, as typed
	keyOff         int
	value          string // trimmed and unquoted
	valOff, valEnd int    // the value as written, quotes included; for a broken value, to the end of s
	broken         bool   // the value has a syntax error
}

// States of the connection-string scanner.
const (
	stBeforeKey   = iota // white space or ';' before a name
	stKey                // in a name, up to '='
	stBeforeValue        // white space after '='
	stBare               // in an unquoted value, up to ';'
	stQuoted             // in a quoted value
	stAfterQuote         // after the closing quote: white space, then ';' or the end
)

// splitConnectionString scans s into pairs without checking names or values.
// On a syntax error it returns the pairs before it, then (for an error in a
// value) the broken pair, and the error.
func splitConnectionString(s string) ([]connPair, error) {
	var (
		pairs  []connPair
		cur    connPair
		buf    []byte // the unquoted text of a quoted value
		quote  byte
		keyEnd int
		state  = stBeforeKey
	)
	fail := func(off int, reason string, valueErr bool) ([]connPair, error) {
		e := &ConnectionStringError{Offset: off, Reason: reason}
		if state != stBeforeKey {
			if p := lookupProp(s[cur.keyOff:keyEnd]); p != nil {
				e.Key = p.name
			}
		}
		if valueErr {
			cur.valEnd, cur.broken = len(s), true
			pairs = append(pairs, cur)
		}
		return pairs, e
	}
	for i := 0; i <= len(s); i++ {
		c := byte(';') // the end of s ends the last pair as ';' does
		if i < len(s) {
			c = s[i]
		}
		switch state {
		case stBeforeKey:
			switch {
			case c == '=':
				return fail(i, reasonEmptyKey, false)
			case c != ';' && !isSpaceByte(c):
				cur, keyEnd, state = connPair{keyOff: i}, i+1, stKey
			}
		case stKey:
			switch {
			case c == '=':
				cur.key, state = s[cur.keyOff:keyEnd], stBeforeValue
			case c == ';':
				return fail(cur.keyOff, reasonNoEquals, false)
			case !isSpaceByte(c):
				keyEnd = i + 1
			}
		case stBeforeValue:
			switch {
			case c == '\'' || c == '"':
				quote, buf, cur.valOff, state = c, buf[:0], i, stQuoted
			case c == ';':
				cur.valOff, cur.valEnd = i, i
				pairs, state = append(pairs, cur), stBeforeKey
			case !isSpaceByte(c):
				cur.valOff, cur.valEnd, state = i, i+1, stBare
			}
		case stBare:
			switch {
			case c == ';':
				cur.value = s[cur.valOff:cur.valEnd]
				pairs, state = append(pairs, cur), stBeforeKey
			case !isSpaceByte(c):
				cur.valEnd = i + 1
			}
		case stQuoted:
			switch {
			case i == len(s):
				return fail(cur.valOff, reasonUnterminated, true)
			case c != quote:
				buf = append(buf, c)
			case i+1 < len(s) && s[i+1] == quote:
				buf = append(buf, c)
				i++
			default:
				cur.value, cur.valEnd, state = string(buf), i+1, stAfterQuote
			}
		case stAfterQuote:
			switch {
			case c == ';':
				pairs, state = append(pairs, cur), stBeforeKey
			case !isSpaceByte(c):
				return fail(cur.valOff, reasonAfterQuote, true)
			}
		}
	}
	return pairs, nil
}

// unknownPropError reports an unknown name with the nearest known one. The
// name as typed is echoed only when it is a near miss of a known name made of
// plain characters: text that is far from every name may be a stray value.
func unknownPropError(p connPair) *ConnectionStringError {
	e := &ConnectionStringError{Offset: p.keyOff}
	name, near := suggestProp(p.key)
	switch {
	case name == "":
		names := make([]string, len(propSpecs))
		for i, sp := range propSpecs {
			names[i] = sp.name
		}
		e.Reason = "unknown property; the properties are " + strings.Join(names, ", ")
	case near && isPlainName(p.key):
		e.Reason = fmt.Sprintf("unknown property %q; did you mean %s?", p.key, name)
	default:
		e.Reason = fmt.Sprintf("unknown property; did you mean %s?", name)
	}
	return e
}

// suggestProp returns the known name nearest to key, and whether it is within
// a few typing mistakes of key. A name that contains key, or that key
// contains, is suggested too (ClientId: OAuthClientId), when nothing is nearer.
func suggestProp(key string) (name string, near bool) {
	k := asciiLower(key)
	if a, ok := propAliases[k]; ok {
		return a, false
	}
	if len(k) > 64 {
		return "", false
	}
	best, bestD := "", math.MaxInt
	for _, sp := range propSpecs {
		n := asciiLower(sp.name)
		d := textdist.Distance(k, n)
		within := d <= maxTypos(len(n))
		contains := len(k) >= 4 && (strings.Contains(n, k) || strings.Contains(k, n))
		if (within || contains) && d < bestD {
			best, bestD = sp.name, d
		}
	}
	return best, best != "" && bestD <= maxTypos(len(best))
}

// maxTypos is how many edits a typed name may be from a known name of n bytes.
func maxTypos(n int) int { return min(3, 1+(n-1)/4) }

// isPlainName reports whether s is made only of ASCII letters, digits, space,
// '_', '-' and '.', so that echoing it cannot hide anything.
func isPlainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == ' ' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

// enumProp is a property whose value is one of allowed, in any ASCII case,
// given back in the spelling of allowed.
func enumProp(name string, allowed ...string) propSpec {
	rule := name + " must be " + allowed[0]
	if n := len(allowed); n > 1 {
		rule = name + " must be " + strings.Join(allowed[:n-1], ", ") + " or " + allowed[n-1]
	}
	return propSpec{name: name, rule: rule, check: func(v string) (string, bool) {
		for _, a := range allowed {
			if len(a) == len(v) && asciiLower(a) == asciiLower(v) {
				return a, true
			}
		}
		return "", false
	}}
}

// urlProp is a property holding an absolute http or https URL with a host and
// no user information.
func urlProp(name, example string) propSpec {
	return propSpec{name: name, check: checkURL,
		rule: name + " must be an absolute http or https URL with a host and no user name or password, such as " + example}
}

// checkURL accepts an absolute http or https URL with a host and no user information.
func checkURL(v string) (string, bool) {
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return "", false
	}
	if sc := asciiLower(u.Scheme); sc != "http" && sc != "https" {
		return "", false
	}
	return v, true
}

// checkInt accepts a decimal integer (with '-' when signed) of at most limit
// in magnitude, and gives it back without leading zeros.
func checkInt(signed bool, limit int64) func(string) (string, bool) {
	return func(v string) (string, bool) {
		digits := v
		if signed && strings.HasPrefix(digits, "-") {
			digits = digits[1:]
		}
		if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
			return "", false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > limit || n < -limit {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
}

// checkSettingsKey accepts standard base64 of 32 bytes, given back re-encoded.
func checkSettingsKey(v string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(b), true
}

// checkRegion accepts a region name in any ASCII case (ParseRegion alone would
// also fold some non-ASCII letters, such as "ſ" into "S").
func checkRegion(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return "", false
		}
	}
	r, err := ParseRegion(v)
	return string(r), err == nil
}

// regionNames lists the known regions for an error message.
func regionNames() string {
	names := make([]string, len(allRegions))
	for i, r := range allRegions {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// isSpaceByte reports whether c is ASCII white space, which is trimmed around names and values.
func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// asciiLower lower-cases the ASCII letters of s and leaves other bytes alone.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
