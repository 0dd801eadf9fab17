package anaplan

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// canonicalNames is the property table of the brief, spelled as it must come back.
var canonicalNames = []string{
	"AuthScheme", "User", "Password", "Region", "Certificate", "CertificateType", "CertificatePassword",
	"PrivateKey", "PrivateKeyType", "PrivateKeyPassword", "InitiateOAuth", "OAuthClientId", "OAuthClientSecret",
	"CallbackURL", "Scope", "OAuthAccessToken", "OAuthRefreshToken", "OAuthExpiresIn", "OAuthTokenTimestamp",
	"OAuthVerifier", "OAuthSettingsLocation", "OAuthSettingsKey", "Timeout", "AuthURL", "APIURL", "OAuthURL",
	"CertificateFormat", "OAuthBodyFormat",
}

// settingsKey is a valid OAuthSettingsKey made in the test (not a real key).
var settingsKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"only separators", " ; ;;\t;", map[string]string{}},
		{"basic", "AuthScheme=Basic;User=bob@example.com;Password=pw;",
			map[string]string{"AuthScheme": "Basic", "User": "bob@example.com", "Password": "pw"}},
		{"spaces trimmed", "  user = bob  ;\tPASSWORD =  p w \r\n",
			map[string]string{"User": "bob", "Password": "p w"}},
		{"single quotes keep ;", "Password='a;b'", map[string]string{"Password": "a;b"}},
		{"double quotes keep ;", `Password="a;b"`, map[string]string{"Password": "a;b"}},
		{"doubled single quote", "Password='it''s'", map[string]string{"Password": "it's"}},
		{"doubled double quote", `Password="say ""hi"""`, map[string]string{"Password": `say "hi"`}},
		{"other quote is plain", `Password='say "hi"';User="o'neil"`,
			map[string]string{"Password": `say "hi"`, "User": "o'neil"}},
		{"only a quote", `Password='''';User=""""`, map[string]string{"Password": "'", "User": `"`}},
		{"quoted keeps inner space", "Password='  padded  '", map[string]string{"Password": "  padded  "}},
		{"space after closing quote", "Password = 'x'  ; User=u", map[string]string{"Password": "x", "User": "u"}},
		{"empty quoted", "Password=''", map[string]string{"Password": ""}},
		{"empty at end", "Password=", map[string]string{"Password": ""}},
		{"empty before ;", "Password= ;User=u", map[string]string{"Password": "", "User": "u"}},
		{"quote inside bare value", "Password=ab'c\"d", map[string]string{"Password": `ab'c"d`}},
		{"= inside bare value", "Password=a=b==", map[string]string{"Password": "a=b=="}},
		{"non-ASCII value", "User=Zoë ✓", map[string]string{"User": "Zoë ✓"}},
		{"key case", "OAUTHCLIENTID=abc;oauthclientsecret=s;callbackurl=https://x/cb;scope=openid email",
			map[string]string{"OAuthClientId": "abc", "OAuthClientSecret": "s", "CallbackURL": "https://x/cb", "Scope": "openid email"}},
		{"enums canonical", "authscheme=oauth;certificatetype=pfxblob;privatekeytype=Pemkey_Blob;initiateoauth=GetAndRefresh",
			map[string]string{"AuthScheme": "OAuth", "CertificateType": "PFXBLOB", "PrivateKeyType": "PEMKEY_BLOB", "InitiateOAuth": "GETANDREFRESH"}},
		{"every AuthScheme", "AuthScheme=CERTIFICATE", map[string]string{"AuthScheme": "Certificate"}},
		{"region", "Region=eu1", map[string]string{"Region": "EU1"}},
		{"integers", "Timeout=007;OAuthExpiresIn=-1;OAuthTokenTimestamp=1700000000000",
			map[string]string{"Timeout": "7", "OAuthExpiresIn": "-1", "OAuthTokenTimestamp": "1700000000000"}},
		{"timeout zero", "Timeout=0", map[string]string{"Timeout": "0"}},
		{"settings key", "OAuthSettingsKey=" + settingsKey, map[string]string{"OAuthSettingsKey": settingsKey}},
		{"urls", "AuthURL=https://auth.example.test;APIURL=http://127.0.0.1:8080/2/0;OAuthURL=HTTPS://x.test/",
			map[string]string{"AuthURL": "https://auth.example.test", "APIURL": "http://127.0.0.1:8080/2/0", "OAuthURL": "HTTPS://x.test/"}},
		{"free text", "OAuthSettingsLocation=memory://shared;Certificate=/etc/k.pem;PrivateKey='-----BEGIN X-----'",
			map[string]string{"OAuthSettingsLocation": "memory://shared", "Certificate": "/etc/k.pem", "PrivateKey": "-----BEGIN X-----"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConnectionString(tt.in)
			if err != nil {
				t.Fatalf("ParseConnectionString(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseConnectionString(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseConnectionStringEveryProperty(t *testing.T) {
	valid := map[string]string{"AuthScheme": "OAuth", "Region": "US1", "CertificateType": "PFXFILE",
		"PrivateKeyType": "PEMKEY_FILE", "InitiateOAuth": "OFF", "OAuthExpiresIn": "2100",
		"OAuthTokenTimestamp": "1", "OAuthSettingsKey": settingsKey, "Timeout": "30",
		"AuthURL": "https://a.test", "APIURL": "https://b.test/2/0", "OAuthURL": "https://c.test",
		"CertificateFormat": "v1", "OAuthBodyFormat": "JSON"}
	want := map[string]string{}
	var b strings.Builder
	for i, n := range canonicalNames {
		v, ok := valid[n]
		if !ok {
			v = "v" + n
		}
		want[n] = v
		fmt.Fprintf(&b, "%s=%s;", strings.ToLower(n), v)
		if lookupProp(strings.ToUpper(n)) == nil || lookupProp(n).name != n {
			t.Errorf("property %d %s: lookup does not give it back", i, n)
		}
	}
	got, err := ParseConnectionString(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if len(propSpecs) != len(canonicalNames) {
		t.Errorf("%d properties in the table, want %d", len(propSpecs), len(canonicalNames))
	}
}

const unknownList = "unknown property; the properties are AuthScheme, User, Password, Region, Certificate, " +
	"CertificateType, CertificatePassword, PrivateKey, PrivateKeyType, PrivateKeyPassword, InitiateOAuth, " +
	"OAuthClientId, OAuthClientSecret, CallbackURL, Scope, OAuthAccessToken, OAuthRefreshToken, OAuthExpiresIn, " +
	"OAuthTokenTimestamp, OAuthVerifier, OAuthSettingsLocation, OAuthSettingsKey, Timeout, AuthURL, APIURL, OAuthURL, " +
	"CertificateFormat, OAuthBodyFormat"

func TestParseConnectionStringErrors(t *testing.T) {
	const urlRule = " must be an absolute http or https URL with a host and no user name or password, such as "
	tests := []struct {
		name string
		in   string
		want ConnectionStringError
	}{
		{"no =", "User", ConnectionStringError{0, "User", reasonNoEquals}},
		{"no = unknown", "User=a; mystery ;", ConnectionStringError{8, "", reasonNoEquals}},
		{"; in bare value", "Password=a;bcd;e", ConnectionStringError{11, "", reasonNoEquals}},
		{"empty key", "User=a;  = x", ConnectionStringError{9, "", reasonEmptyKey}},
		{"empty key first", "=x", ConnectionStringError{0, "", reasonEmptyKey}},
		{"unterminated single", "User=u; Password = 'abc", ConnectionStringError{19, "Password", reasonUnterminated}},
		{"unterminated double", `Password="abc'`, ConnectionStringError{9, "Password", reasonUnterminated}},
		{"unterminated by doubling", "Password='ab''", ConnectionStringError{9, "Password", reasonUnterminated}},
		{"text after quote", "Password='ab'c;User=u", ConnectionStringError{9, "Password", reasonAfterQuote}},
		{"quote after quote", `Password='ab'"c"`, ConnectionStringError{9, "Password", reasonAfterQuote}},
		{"unknown broken value", "Mystery='abc", ConnectionStringError{0, "", unknownList}},
		{"repeated", "User=a;user=b", ConnectionStringError{7, "User", "property given more than once (first at offset 0)"}},
		{"repeated before broken", "User=a; USER='b", ConnectionStringError{8, "User", "property given more than once (first at offset 0)"}},
		{"typo", "User=a;Pasword=x", ConnectionStringError{7, "", `unknown property "Pasword"; did you mean Password?`}},
		{"swap", "Regoin=US1", ConnectionStringError{0, "", `unknown property "Regoin"; did you mean Region?`}},
		{"contained", "ClientId=x", ConnectionStringError{0, "", "unknown property; did you mean OAuthClientId?"}},
		{"contains", "Username=x", ConnectionStringError{0, "", "unknown property; did you mean User?"}},
		{"alias", "pwd=x", ConnectionStringError{0, "", "unknown property; did you mean Password?"}},
		{"no suggestion", "Foo=bar", ConnectionStringError{0, "", unknownList}},
		{"kelvin sign is not k", "OAuthAccessTo\u212Aen=x", ConnectionStringError{0, "", "unknown property; did you mean OAuthAccessToken?"}},
		{"long s is not s", "Pa\u017Fsword=x", ConnectionStringError{0, "", "unknown property; did you mean Password?"}},
		{"key error before later syntax error", "Pasword=x;Password='abc", ConnectionStringError{0, "", `unknown property "Pasword"; did you mean Password?`}},
		{"value error before later syntax error", "Timeout=x;User", ConnectionStringError{8, "Timeout", "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"}},
		{"auth scheme", "AuthScheme = NTLM", ConnectionStringError{13, "AuthScheme", "AuthScheme must be Basic, Certificate or OAuth"}},
		{"auth scheme empty", "AuthScheme=", ConnectionStringError{11, "AuthScheme", "AuthScheme must be Basic, Certificate or OAuth"}},
		{"auth scheme quoted", "AuthScheme=' Basic'", ConnectionStringError{11, "AuthScheme", "AuthScheme must be Basic, Certificate or OAuth"}},
		{"certificate type", "CertificateType=PEM", ConnectionStringError{16, "CertificateType", "CertificateType must be PEMKEY_FILE, PEMKEY_BLOB, PFXFILE, PFXBLOB, PUBLIC_KEY_FILE or PUBLIC_KEY_BLOB"}},
		{"private key type", "PrivateKeyType=PFXFILE", ConnectionStringError{15, "PrivateKeyType", "PrivateKeyType must be PEMKEY_FILE or PEMKEY_BLOB"}},
		{"initiate", "InitiateOAuth=ON", ConnectionStringError{14, "InitiateOAuth", "InitiateOAuth must be OFF, REFRESH or GETANDREFRESH"}},
		{"region", "Region=US3", ConnectionStringError{7, "Region", "Region must be one of " + regionNames()}},
		{"region non-ASCII fold", "Region=u\u017F1", ConnectionStringError{7, "Region", "Region must be one of " + regionNames()}},
		{"timeout negative", "Timeout=-1", ConnectionStringError{8, "Timeout", "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"}},
		{"timeout plus", "Timeout=+3", ConnectionStringError{8, "Timeout", "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"}},
		{"timeout fraction", "Timeout=1.5", ConnectionStringError{8, "Timeout", "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"}},
		{"timeout too big", "Timeout=9223372037", ConnectionStringError{8, "Timeout", "Timeout must be a whole number of seconds, 0 or more (0: no timeout)"}},
		{"expires in", "OAuthExpiresIn=1h", ConnectionStringError{15, "OAuthExpiresIn", "OAuthExpiresIn must be a whole number of seconds"}},
		{"expires in lone minus", "OAuthExpiresIn=-", ConnectionStringError{15, "OAuthExpiresIn", "OAuthExpiresIn must be a whole number of seconds"}},
		{"timestamp overflow", "OAuthTokenTimestamp=99999999999999999999", ConnectionStringError{20, "OAuthTokenTimestamp", "OAuthTokenTimestamp must be a whole number of milliseconds since 1970-01-01 UTC"}},
		{"settings key short", "OAuthSettingsKey=c2hvcnQ=", ConnectionStringError{17, "OAuthSettingsKey", "OAuthSettingsKey must be standard base64 of exactly 32 bytes (for example the output of: openssl rand -base64 32)"}},
		{"settings key url base64", "OAuthSettingsKey=" + base64.URLEncoding.EncodeToString([]byte("\xff\xfe0123456789abcdef0123456789abcd")), ConnectionStringError{17, "OAuthSettingsKey", "OAuthSettingsKey must be standard base64 of exactly 32 bytes (for example the output of: openssl rand -base64 32)"}},
		{"url scheme", "AuthURL=ftp://x.test", ConnectionStringError{8, "AuthURL", "AuthURL" + urlRule + "https://auth.anaplan.com"}},
		{"url relative", "APIURL=/2/0", ConnectionStringError{7, "APIURL", "APIURL" + urlRule + "https://api.anaplan.com/2/0"}},
		{"url no host", "OAuthURL=https://:443", ConnectionStringError{9, "OAuthURL", "OAuthURL" + urlRule + "https://us1a.app.anaplan.com"}},
		{"url user info", "AuthURL=https://u:p@x.test", ConnectionStringError{8, "AuthURL", "AuthURL" + urlRule + "https://auth.anaplan.com"}},
		{"url opaque", "AuthURL=https:x.test", ConnectionStringError{8, "AuthURL", "AuthURL" + urlRule + "https://auth.anaplan.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseConnectionString(tt.in)
			var ce *ConnectionStringError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConnectionString(%q) = %v, %v; want a *ConnectionStringError", tt.in, m, err)
			}
			if m != nil {
				t.Errorf("map %v returned with an error", m)
			}
			if diff := cmp.Diff(tt.want, *ce); diff != "" {
				t.Errorf("ParseConnectionString(%q) error mismatch (-want +got):\n%s", tt.in, diff)
			}
			checkErrorHoldsNoValue(t, tt.in, err)
		})
	}
}

// TestParseConnectionStringSecretNeverInError puts a secret wherever a value
// goes wrong and looks for it, or any 4 bytes of it, in every rendering of the error.
func TestParseConnectionStringSecretNeverInError(t *testing.T) {
	const secret = "Zq7#Xk9!Wp"
	inputs := []string{
		"Password='" + secret,
		"Password=\"" + secret + "\"x",
		"Password=" + secret + ";" + secret,
		"Password=" + secret + ";" + secret + "=1",
		"Timeout=" + secret,
		"AuthScheme=" + secret,
		"Region='" + secret + "'",
		"OAuthSettingsKey=" + secret,
		"AuthURL=https://u:" + secret + "@x.test",
		"AuthURL=" + secret,
		"User=a;Password=" + secret + ";User=b",
		"Password=" + secret + ";Pasword=x",
		"Password=" + secret + "; =",
		"OAuthClientSecret=" + secret + ";Mystery",
	}
	for _, in := range inputs {
		_, err := ParseConnectionString(in)
		if err == nil {
			t.Errorf("ParseConnectionString(%q) succeeded; want an error", in)
			continue
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%v|%+v|%#v|%s", err, err, err, err.(*ConnectionStringError).Reason)} {
			for i := 0; i+4 <= len(secret); i++ {
				if strings.Contains(text, secret[i:i+4]) {
					t.Errorf("ParseConnectionString(%q): error %q shows %q of the secret", in, text, secret[i:i+4])
				}
			}
		}
	}
}

func TestIsSecretProperty(t *testing.T) {
	secret := []string{"Password", "CertificatePassword", "PrivateKeyPassword", "OAuthClientSecret",
		"OAuthAccessToken", "OAuthRefreshToken", "OAuthVerifier", "OAuthSettingsKey", "Certificate", "PrivateKey"}
	for _, n := range canonicalNames {
		want := slices.Contains(secret, n)
		for _, k := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
			if got := isSecretProperty(k); got != want {
				t.Errorf("isSecretProperty(%q) = %v, want %v", k, got, want)
			}
		}
	}
	for _, k := range []string{"", "Passw0rd", "Token", "Secret"} {
		if isSecretProperty(k) {
			t.Errorf("isSecretProperty(%q) = true for an unknown name", k)
		}
	}
}

// reasonPatterns are the only shapes a Reason may take. Their only parts
// taken from the input are the echoed name of an unknown property and offsets.
var reasonPatterns = func() []*regexp.Regexp {
	names := strings.Join(canonicalNames, "|")
	pats := []string{
		regexp.QuoteMeta(reasonEmptyKey), regexp.QuoteMeta(reasonNoEquals),
		regexp.QuoteMeta(reasonUnterminated), regexp.QuoteMeta(reasonAfterQuote),
		regexp.QuoteMeta(unknownList),
		`property given more than once \(first at offset [0-9]+\)`,
		`unknown property; did you mean (` + names + `)\?`,
		`unknown property "[A-Za-z0-9 _.-]+"; did you mean (` + names + `)\?`,
	}
	for _, sp := range propSpecs {
		if sp.check != nil {
			pats = append(pats, regexp.QuoteMeta(sp.rule))
		}
	}
	out := make([]*regexp.Regexp, len(pats))
	for i, p := range pats {
		out[i] = regexp.MustCompile("^(?:" + p + ")$")
	}
	return out
}()

var echoedName = regexp.MustCompile(`^unknown property "(.*)"; did you mean`)

// checkErrorHoldsNoValue checks that err is a *ConnectionStringError whose
// Reason has one of the fixed shapes, whose Key is a canonical name or empty,
// and whose only text from the input, an echoed name, sits in a name position
// and not inside any value.
func checkErrorHoldsNoValue(t *testing.T, s string, err error) {
	t.Helper()
	var ce *ConnectionStringError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *ConnectionStringError", err)
	}
	if ce.Offset < 0 || ce.Offset > len(s) {
		t.Errorf("offset %d outside the input of %d bytes", ce.Offset, len(s))
	}
	if ce.Key != "" && !slices.Contains(canonicalNames, ce.Key) {
		t.Errorf("Key %q is not a canonical property name", ce.Key)
	}
	if !slices.ContainsFunc(reasonPatterns, func(re *regexp.Regexp) bool { return re.MatchString(ce.Reason) }) {
		t.Errorf("Reason %q has none of the allowed shapes", ce.Reason)
	}
	if m := echoedName.FindStringSubmatch(ce.Reason); m != nil {
		if !strings.HasPrefix(s[ce.Offset:], m[1]) {
			t.Errorf("echoed name %q is not the text at offset %d", m[1], ce.Offset)
		}
		pairs, _ := splitConnectionString(s)
		for _, p := range pairs {
			if p.valOff <= ce.Offset && ce.Offset < p.valEnd {
				t.Errorf("echoed name at offset %d lies in the value at %d..%d", ce.Offset, p.valOff, p.valEnd)
			}
		}
	}
}

// encodeConnectionString writes m so that ParseConnectionString gives it back,
// quoting only where needed and varying the case of names and the quote used.
func encodeConnectionString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		v := m[k]
		if i%2 == 1 {
			k = strings.ToUpper(k)
		}
		needQuote := strings.ContainsRune(v, ';') || v != "" && (isSpaceByte(v[0]) || isSpaceByte(v[len(v)-1]) || v[0] == '\'' || v[0] == '"')
		if needQuote {
			q := "'"
			if strings.Contains(v, "'") && !strings.Contains(v, `"`) {
				q = `"`
			}
			v = q + strings.ReplaceAll(v, q, q+q) + q
		}
		fmt.Fprintf(&b, " %s = %s ;", k, v)
	}
	return b.String()
}

func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{
		"", ";;", "AuthScheme=Basic;User=bob;Password=pw;", "Password='a;b'", `Password="say ""hi"""`,
		"Password='it''s'  ;", "User", "=x", "Password='abc", "Password='ab'c", "User=a;user=b",
		"Pasword=x", "ClientId=x", "Foo=bar", "Timeout=-1", "Region=eu1;Timeout=007",
		"OAuthSettingsKey=" + settingsKey, "AuthURL=https://u:p@x.test", "InitiateOAuth=getandrefresh",
		"CertificateType=pfxblob;PrivateKeyType=pemkey_blob", "OAuthExpiresIn=-5;OAuthTokenTimestamp=0",
		"OAuthAccessTo\u212Aen=x", "Password=a;bcd;e", " user = ' x ' ; password = \"\" ",
	} {
		f.Add(s)
	}
	const marker = "Zq7#Xk9!Wp"
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseConnectionString(s)
		if err != nil {
			checkErrorHoldsNoValue(t, s, err)
		} else {
			for k := range m {
				if !slices.Contains(canonicalNames, k) {
					t.Errorf("key %q is not canonical", k)
				}
			}
			enc := encodeConnectionString(m)
			m2, err := ParseConnectionString(enc)
			if err != nil {
				t.Fatalf("re-encoded %q does not parse: %v", enc, err)
			}
			if diff := cmp.Diff(m, m2); diff != "" {
				t.Fatalf("re-encoded %q parses differently (-first +second):\n%s", enc, diff)
			}
		}

		// A secret put in a value position around the fuzzed text never shows in an error.
		for i := 0; i+4 <= len(marker); i++ {
			if strings.Contains(strings.ToLower(s), strings.ToLower(marker[i:i+4])) {
				return // the fuzzed text itself could be echoed as a name
			}
		}
		for _, q := range []string{"", "'", `"`} {
			for _, at := range []int{0, len(s) / 2, len(s)} {
				in := s[:at] + "Password=" + q + marker + q + ";" + s[at:]
				_, err := ParseConnectionString(in)
				if err == nil {
					continue
				}
				checkErrorHoldsNoValue(t, in, err)
				for i := 0; i+4 <= len(marker); i++ {
					if strings.Contains(err.Error(), marker[i:i+4]) {
						t.Fatalf("ParseConnectionString(%q): error %q shows part of the secret", in, err)
					}
				}
			}
		}
	})
}
