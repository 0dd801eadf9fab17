package anaplan_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// Issue 7 point 6: every verb, flag and shape of Token, OAuthConfig and
// Settings. Before format.go, %d, %x, %t, %o, … printed the fields and with
// them the secrets (for example %d of a Token: {%!d(string=At-…SECRET) …}),
// json.Marshal(Token) showed the value, and slog's JSON handler showed raw
// tokens for []Token and struct{T Token}.

const (
	fmtAccess  = "fmtAccess-SECRET-a1"
	fmtRefresh = "fmtRefresh-SECRET-b2"
	fmtClient  = "fmtClient-SECRET-c3"
	fmtVerify  = "fmtVerifier-SECRET-d4"
)

var fmtSecrets = []string{fmtAccess, fmtRefresh, fmtClient, fmtVerify}

// leaks returns the secret that s shows, raw or in the hex forms %x, %X and
// % x give, or "".
func leaks(s string) string {
	for _, sec := range fmtSecrets {
		h := hex.EncodeToString([]byte(sec))
		spaced := strings.TrimSpace(fmt.Sprintf("% x", sec))
		for _, form := range []string{sec, h, strings.ToUpper(h), spaced, strings.ToUpper(spaced)} {
			if strings.Contains(s, form) || strings.Contains(s, form[:len(form)-2]) {
				return sec
			}
		}
	}
	return ""
}

// redactedShown reports whether s shows the redaction, as text or in hex.
func redactedShown(s string) bool {
	h := hex.EncodeToString([]byte(anaplan.Redacted))
	spaced := strings.TrimSpace(fmt.Sprintf("% x", anaplan.Redacted))
	for _, form := range []string{anaplan.Redacted, h, strings.ToUpper(h), spaced, strings.ToUpper(spaced)} {
		if strings.Contains(s, form) {
			return true
		}
	}
	return false
}

func fmtValues() (anaplan.Token, anaplan.OAuthConfig, anaplan.Settings) {
	exp := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tok := anaplan.Token{Value: fmtAccess, Type: anaplan.TokenTypeAnaplan, Expiry: exp}
	cfg := anaplan.OAuthConfig{ClientID: "cid", ClientSecret: fmtClient, CallbackURL: "https://localhost/cb",
		Scopes: []string{"openid"}, Initiate: anaplan.InitiateRefresh, AccessToken: fmtAccess,
		RefreshToken: fmtRefresh, Expiry: exp, Verifier: fmtVerify}
	set := anaplan.Settings{AccessToken: fmtAccess, RefreshToken: fmtRefresh, TokenType: anaplan.TokenTypeAnaplan, Expiry: exp, ClientID: "cid"}
	return tok, cfg, set
}

// fmtShapes puts each value in every shape fmt reaches through reflection.
func fmtShapes() map[string]any {
	tok, cfg, set := fmtValues()
	shapes := map[string]any{}
	for name, v := range map[string]any{"Token": tok, "OAuthConfig": cfg, "Settings": set} {
		add := func(shape string, x any) { shapes[name+" "+shape] = x }
		switch v := v.(type) {
		case anaplan.Token:
			add("value", v)
			add("pointer", &v)
			add("slice", []anaplan.Token{v, v})
			add("slice of pointers", []*anaplan.Token{&v})
			add("array", [1]anaplan.Token{v})
			add("map value", map[string]anaplan.Token{"k": v})
			add("map key", map[anaplan.Token]int{v: 1})
			add("struct field", struct{ T anaplan.Token }{v})
			add("struct pointer field", struct{ T *anaplan.Token }{&v})
			add("pointer to struct", &struct{ T anaplan.Token }{v})
			add("nested", struct {
				S []struct{ M map[string]*anaplan.Token }
			}{[]struct{ M map[string]*anaplan.Token }{{map[string]*anaplan.Token{"k": &v}}}})
			add("interface slice", []any{v, &v})
			add("embedded", struct{ anaplan.Token }{v})
		case anaplan.OAuthConfig:
			add("value", v)
			add("pointer", &v)
			add("slice", []anaplan.OAuthConfig{v})
			add("map value", map[string]*anaplan.OAuthConfig{"k": &v})
			add("struct field", struct{ C anaplan.OAuthConfig }{v})
			add("interface slice", []any{v})
		case anaplan.Settings:
			add("value", v)
			add("pointer", &v)
			add("slice", []anaplan.Settings{v})
			add("slice of pointers", []*anaplan.Settings{&v})
			add("map value", map[string]anaplan.Settings{"k": v})
			add("map key", map[anaplan.Settings]bool{v: true})
			add("struct field", struct{ S anaplan.Settings }{v})
			add("interface slice", []any{v})
		}
	}
	return shapes
}

func TestFormatRedactsEveryVerb(t *testing.T) {
	verbs := []string{"v", "+v", "#v", "s", "q", "#q", "x", "X", "% x", "% X", "#x", "d", "+d", "t", "o", "O", "b",
		"c", "U", "e", "E", "f", "F", "g", "G", "10v", "-30s", "+q", "08d", ".3s", "010.4x"}
	n := 0
	for name, v := range fmtShapes() {
		for _, verb := range verbs {
			n++
			got := fmt.Sprintf("%"+verb, v)
			if sec := leaks(got); sec != "" {
				t.Errorf("%%%s of %s shows %s: %s", verb, name, sec, got)
				continue
			}
			if !strings.Contains(verb, ".") && !redactedShown(got) {
				t.Errorf("%%%s of %s shows no redaction (so the check proves nothing): %s", verb, name, got)
			}
		}
		for fn, f := range map[string]func(...any) string{"Sprint": fmt.Sprint, "Sprintln": fmt.Sprintln} {
			if got := f(v); leaks(got) != "" || !redactedShown(got) {
				t.Errorf("%s of %s: %s", fn, name, got)
			}
		}
		if got := fmt.Errorf("wrapped: %v", v).Error(); leaks(got) != "" {
			t.Errorf("Errorf of %s: %s", name, got)
		}
	}
	if n < 500 {
		t.Fatalf("only %d cases", n)
	}
}

// The values keep their documented text for %v, %s and %#v.
func TestFormatKeepsStringAndGoString(t *testing.T) {
	tok, cfg, set := fmtValues()
	for _, v := range []interface {
		String() string
		GoString() string
	}{tok, cfg, set} {
		if got := fmt.Sprintf("%v|%s|%#v|%+v", v, v, v, v); got != v.String()+"|"+v.String()+"|"+v.GoString()+"|"+v.String() {
			t.Errorf("got %s", got)
		}
		if got, want := fmt.Sprintf("%q", v), fmt.Sprintf("%q", v.String()); got != want {
			t.Errorf("%%q: got %s want %s", got, want)
		}
		if got, want := fmt.Sprintf("%-200s|", v), fmt.Sprintf("%-200s|", v.String()); got != want {
			t.Errorf("width lost: %s", got)
		}
	}
	var nilTok *anaplan.Token
	if got := fmt.Sprintf("%v %d", nilTok, nilTok); got != "<nil> <nil>" {
		t.Errorf("nil *Token: %s", got)
	}
}

// What fmt cannot be made to redact is documented in format.go: %p of a
// pointer prints only the address (checked); %p of a value and unexported
// fields are only logged here, as they show the raw fields.
func TestFormatKnownLimits(t *testing.T) {
	tok, _, _ := fmtValues()
	if got := fmt.Sprintf("%p", &tok); leaks(got) != "" {
		t.Errorf("%%p of *Token shows a secret: %s", got)
	}
	type private struct{ t anaplan.Token }
	t.Logf("%%p of a Token value (fmt calls no method): %s", fmt.Sprintf("%p", tok)[:12]+"…")
	t.Logf("%%v of an unexported field (fmt calls no method): leaks=%v", leaks(fmt.Sprintf("%v", private{tok})) != "")
}

func TestJSONRedactsTokenAndOAuthConfig(t *testing.T) {
	tok, cfg, set := fmtValues()
	for name, v := range map[string]any{
		"Token": tok, "*Token": &tok, "[]Token": []anaplan.Token{tok}, "struct{T Token}": struct{ T anaplan.Token }{tok},
		"map[string]*Token": map[string]*anaplan.Token{"k": &tok},
		"OAuthConfig":       cfg, "*OAuthConfig": &cfg, "[]OAuthConfig": []anaplan.OAuthConfig{cfg}, "struct{C OAuthConfig}": struct{ C anaplan.OAuthConfig }{cfg},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sec := leaks(string(b)); sec != "" || !redactedShown(string(b)) {
			t.Errorf("json of %s: %s", name, b)
		}
	}
	b, _ := json.Marshal(tok)
	var back struct {
		Value, Type string
		Expiry      time.Time
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Type != tok.Type || !back.Expiry.Equal(tok.Expiry) || back.Value != anaplan.Redacted {
		t.Errorf("Token JSON %s lost its non-secret fields: %+v %v", b, back, err)
	}
	b, _ = json.Marshal(cfg)
	if !strings.Contains(string(b), `"ClientID":"cid"`) || !strings.Contains(string(b), `"Scopes":["openid"]`) {
		t.Errorf("OAuthConfig JSON lost its non-secret fields: %s", b)
	}
	// Settings keeps its tokens in JSON: stores need them (API.md).
	b, _ = json.Marshal(set)
	var s anaplan.Settings
	if err := json.Unmarshal(b, &s); err != nil || s != set {
		t.Errorf("Settings JSON no longer round-trips: %s", b)
	}
}

func TestSlogRedacts(t *testing.T) {
	tok, cfg, set := fmtValues()
	shapes := map[string]any{
		"Token": tok, "*Token": &tok, "[]Token": []anaplan.Token{tok}, "[]*Token": []*anaplan.Token{&tok},
		"struct{T Token}": struct{ T anaplan.Token }{tok}, "map[string]Token": map[string]anaplan.Token{"k": tok},
		"OAuthConfig": cfg, "*OAuthConfig": &cfg, "[]OAuthConfig": []anaplan.OAuthConfig{cfg}, "struct{C OAuthConfig}": struct{ C anaplan.OAuthConfig }{cfg},
		"Settings": set, "*Settings": &set,
	}
	textOnly := map[string]any{ // Settings keeps its JSON: redacted by the text handler only
		"[]Settings": []anaplan.Settings{set}, "struct{S Settings}": struct{ S anaplan.Settings }{set},
	}
	for hname, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		all := map[string]any{}
		for k, v := range shapes {
			all[k] = v
		}
		if hname == "text" {
			for k, v := range textOnly {
				all[k] = v
			}
		}
		for name, v := range all {
			var buf bytes.Buffer
			l := slog.New(mk(&buf))
			l.Info("m", "v", v)
			l.Info("m", slog.Any("v", v))
			l.With("v", v).Info("m")
			l.WithGroup("g").Info("m", "v", v)
			out := buf.String()
			if sec := leaks(out); sec != "" || !redactedShown(out) {
				t.Errorf("%s handler, %s: %s", hname, name, out)
			}
		}
	}
}
