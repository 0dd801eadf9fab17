package anaplan

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FromConnectionString applies the properties of a connection string in the
// form of Anaplan's commercial connectors, e.g.
//
//	AuthScheme=Basic;User=alice@example.com;Password='p;w';Region=EU1
//
// at its position among the options. Errors (a malformed string, a file that
// cannot be read, a wrong certificate password) surface from New and never
// contain a property value. See the README for every property.
func FromConnectionString(s string) Option {
	return func(c *config) {
		m, err := ParseConnectionString(s)
		if err != nil {
			c.fail(err)
			return
		}
		if err := applyProperties(c, m); err != nil {
			c.fail(err)
		}
	}
}

// propError names the property at fault without its value.
func propError(key string, err error) error {
	return errorf("anaplan: connection string property %s: %w", key, err)
}

func applyProperties(c *config, m map[string]string) error {
	if v, ok := m["Region"]; ok {
		WithRegion(Region(v))(c)
	}
	if v, ok := m["AuthURL"]; ok {
		c.endpoints.Auth = v
	}
	if v, ok := m["APIURL"]; ok {
		c.endpoints.API = v
	}
	if v, ok := m["OAuthURL"]; ok {
		o := OAuthEndpoint(v)
		c.endpoints.OAuth.AuthURL, c.endpoints.OAuth.TokenURL, c.endpoints.OAuth.DeviceAuthURL = o.AuthURL, o.TokenURL, o.DeviceAuthURL
	}
	if v, ok := m["CertificateFormat"]; ok {
		WithCertificateFormat(CertificateFormat(v))(c)
	}
	if v, ok := m["OAuthBodyFormat"]; ok {
		WithOAuthBodyEncoding(oauthBodyFromProperty(v))(c)
	}
	if v, ok := m["Timeout"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return propError("Timeout", errors.New("must be a whole number of seconds, 0 for none"))
		}
		WithTimeout(time.Duration(n) * time.Second)(c)
	}

	scheme := strings.ToLower(m["AuthScheme"])
	if scheme == "" { // infer it when the properties leave no doubt
		var err error
		if scheme, err = inferScheme(m); err != nil {
			return err
		}
	}
	switch scheme {
	case "":
		return nil // another option may choose the scheme
	case "basic":
		if m["User"] == "" {
			return propError("User", errors.New("is required with AuthScheme=Basic"))
		}
		if m["Password"] == "" {
			return propError("Password", errors.New("is required with AuthScheme=Basic"))
		}
		WithBasic(m["User"], m["Password"])(c)
	case "certificate":
		cert, key, err := certFromProperties(m)
		if err != nil {
			return err
		}
		WithCertificate(cert, key)(c)
	case "oauth":
		cfg, store, err := oauthFromProperties(m)
		if err != nil {
			return err
		}
		WithOAuth(cfg)(c)
		if store != nil {
			c.store = store
			if _, _, ok := settingsSchemeOf(m["OAuthSettingsLocation"]); ok {
				c.opened = append(c.opened, store)
			}
		}
	default:
		return propError("AuthScheme", errors.New("must be Basic, Certificate or OAuth"))
	}
	return nil
}

// schemeProperties are the properties that name a sign-in scheme when
// AuthScheme is absent, scheme by scheme.
var schemeProperties = []struct {
	scheme, name string
	props        []string
}{
	{"basic", "Basic", []string{"User", "Password"}},
	{"certificate", "Certificate", []string{"Certificate", "PrivateKey"}},
	{"oauth", "OAuth", []string{"OAuthClientId", "OAuthClientSecret", "OAuthAccessToken", "OAuthRefreshToken", "OAuthVerifier"}},
}

// inferScheme returns the one scheme whose properties are set ("" for none),
// or an error naming every scheme found (with the properties that named it)
// when there is more than one: guessing would sign in with credentials the
// user may not have meant.
func inferScheme(m map[string]string) (string, error) {
	var found []string
	scheme := ""
	for _, sp := range schemeProperties {
		var set []string
		for _, p := range sp.props {
			if m[p] != "" {
				set = append(set, p)
			}
		}
		if len(set) > 0 {
			scheme = sp.scheme
			found = append(found, sp.name+" ("+strings.Join(set, ", ")+")")
		}
	}
	if len(found) > 1 {
		return "", propError("AuthScheme", fmt.Errorf("is not set and the properties name more than one sign-in scheme: %s; set AuthScheme to Basic, Certificate or OAuth, or remove the properties of the others",
			strings.Join(found, ", ")))
	}
	return scheme, nil
}

// certFromProperties loads the certificate and key that Certificate,
// CertificateType, CertificatePassword, PrivateKey, PrivateKeyType and
// PrivateKeyPassword describe.
func certFromProperties(m map[string]string) (*x509.Certificate, crypto.Signer, error) {
	src := m["Certificate"]
	if src == "" {
		return nil, nil, propError("Certificate", errors.New("is required with AuthScheme=Certificate"))
	}
	typ := strings.ToUpper(m["CertificateType"])
	if typ == "" {
		typ = "PEMKEY_FILE"
	}
	pw := m["CertificatePassword"]
	rememberSecret(pw, m["PrivateKeyPassword"])
	var certPEM []byte
	var err error
	switch typ {
	case "PFXFILE", "PFXBLOB":
		var pfx []byte
		if typ == "PFXFILE" {
			pfx, err = readPropFile("Certificate", src, "PFXBLOB")
		} else {
			pfx, err = decodeBase64Prop("Certificate", src)
		}
		if err != nil {
			return nil, nil, err
		}
		cert, key, err := LoadPKCS12(pfx, pw)
		if err != nil {
			return nil, nil, propError("Certificate", err)
		}
		return cert, key, nil
	case "PEMKEY_FILE", "PUBLIC_KEY_FILE":
		certPEM, err = readPropFile("Certificate", src, strings.Replace(typ, "FILE", "BLOB", 1))
	case "PEMKEY_BLOB", "PUBLIC_KEY_BLOB":
		certPEM, err = pemBlob("Certificate", src)
	default:
		return nil, nil, propError("CertificateType", errors.New("must be PEMKEY_FILE, PEMKEY_BLOB, PFXFILE, PFXBLOB, PUBLIC_KEY_FILE or PUBLIC_KEY_BLOB"))
	}
	if err != nil {
		return nil, nil, err
	}

	var keyPEM []byte
	keyPW := pw
	if pk := m["PrivateKey"]; pk != "" {
		switch strings.ToUpper(m["PrivateKeyType"]) {
		case "", "PEMKEY_FILE":
			keyPEM, err = readPropFile("PrivateKey", pk, "PEMKEY_BLOB (PrivateKeyType)")
		case "PEMKEY_BLOB":
			keyPEM, err = pemBlob("PrivateKey", pk)
		default:
			return nil, nil, propError("PrivateKeyType", errors.New("must be PEMKEY_FILE or PEMKEY_BLOB"))
		}
		if err != nil {
			return nil, nil, err
		}
		if v, ok := m["PrivateKeyPassword"]; ok {
			keyPW = v
		}
	} else if strings.HasPrefix(typ, "PUBLIC_KEY") {
		return nil, nil, propError("PrivateKey", fmt.Errorf("is required with CertificateType=%s: the certificate holds no key", typ))
	}
	cert, key, err := LoadPEM(certPEM, keyPEM, keyPW)
	if err != nil {
		return nil, nil, propError("Certificate", err)
	}
	return cert, key, nil
}

// readPropFile reads the file a property names: a regular file of at most
// maxPropFileSize (see readRegularFile). The error names the property, not
// the path (property values never appear in errors).
func readPropFile(key, path, blobType string) ([]byte, error) {
	if strings.Contains(path, "-----BEGIN") {
		return nil, propError(key, fmt.Errorf("holds PEM text, but its type says it is a file path: set the type to %s", blobType))
	}
	b, err := readRegularFile(filepath.Clean(path), maxPropFileSize)
	if err != nil {
		return nil, propError(key, fmt.Errorf("the file it names cannot be read: %w", err))
	}
	return b, nil
}

// pemBlob accepts PEM text, or standard base64 of it.
func pemBlob(key, v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := decodeBase64Prop(key, v)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), "-----BEGIN") {
		return nil, propError(key, errors.New("is neither PEM text nor base64 of PEM text"))
	}
	return b, nil
}

func decodeBase64Prop(key, v string) ([]byte, error) {
	v = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, propError(key, errors.New("is not valid base64"))
}

// oauthFromProperties builds the OAuth configuration and its settings store.
func oauthFromProperties(m map[string]string) (OAuthConfig, SettingsStore, error) {
	cfg := OAuthConfig{
		ClientID:     m["OAuthClientId"],
		ClientSecret: m["OAuthClientSecret"],
		CallbackURL:  m["CallbackURL"],
		Initiate:     InitiateOAuth(strings.ToUpper(m["InitiateOAuth"])),
		AccessToken:  m["OAuthAccessToken"],
		RefreshToken: m["OAuthRefreshToken"],
		Verifier:     m["OAuthVerifier"],
	}
	if cfg.Initiate == "" {
		cfg.Initiate = InitiateOff
	}
	if s := strings.Fields(m["Scope"]); len(s) > 0 {
		cfg.Scopes = s
	}
	if v := m["OAuthExpiresIn"]; v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, nil, propError("OAuthExpiresIn", errors.New("must be a whole number of seconds"))
		}
		from := time.Now()
		if ts := m["OAuthTokenTimestamp"]; ts != "" {
			ms, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return cfg, nil, propError("OAuthTokenTimestamp", errors.New("must be Unix time in milliseconds"))
			}
			from = time.UnixMilli(ms)
		}
		cfg.Expiry = from.Add(time.Duration(secs) * time.Second)
	}
	var key []byte
	if v := m["OAuthSettingsKey"]; v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != 32 {
			return cfg, nil, propError("OAuthSettingsKey", errors.New("must be standard base64 of exactly 32 bytes"))
		}
		key = b
	}
	loc, ok := m["OAuthSettingsLocation"]
	if !ok && key == nil {
		// Nothing said about storage: an earlier WithSettingsStore stands,
		// else WithOAuth's default (none with OFF, the default file otherwise).
		return cfg, nil, nil
	}
	store, err := settingsStoreAt(loc, cfg, key)
	if err != nil {
		return cfg, nil, propError("OAuthSettingsLocation", err)
	}
	return cfg, store, nil
}

// settingsStoreAt maps OAuthSettingsLocation to a store: memory://NAME, a
// file path, or (empty) the default file under os.UserConfigDir.
func settingsStoreAt(loc string, cfg OAuthConfig, key []byte) (SettingsStore, error) {
	if len(loc) >= len("memory://") && strings.EqualFold(loc[:len("memory://")], "memory://") {
		return memoryStoreNamed(loc[len("memory://"):]), nil
	}
	if open, scheme, ok := settingsSchemeOf(loc); ok {
		if key == nil {
			key = SettingsKey(cfg.ClientID, cfg.ClientSecret)
		}
		st, err := open(loc, key)
		if err != nil {
			return nil, fmt.Errorf("opening the %s:// settings store: %w", scheme, err)
		}
		return st, nil
	}
	if loc == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("no default location (%w): set OAuthSettingsLocation", err)
		}
		loc = filepath.Join(dir, "anaplan", "oauth-settings")
	}
	if key == nil {
		key = SettingsKey(cfg.ClientID, cfg.ClientSecret)
	}
	return NewFileStore(loc, key), nil
}

// defaultSettingsStore is the store of WithOAuth without WithSettingsStore.
func defaultSettingsStore(cfg OAuthConfig) (SettingsStore, error) {
	s, err := settingsStoreAt("", cfg, nil)
	if err != nil {
		return nil, errorf("anaplan: OAuth settings: %w", err)
	}
	return s, nil
}
