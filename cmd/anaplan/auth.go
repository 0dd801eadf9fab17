// The sign-in commands: login, logout and token.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
)

func cmdToken(ctx context.Context, a *app, _ []string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	// Closing a Basic or Certificate client logs its session out, which
	// would kill the token printed: it is left open. Any other client (OAuth,
	// explicit or inferred) is closed, which saves what it holds (a rotated
	// refresh token): a save that fails makes the command fail.
	var cerr error
	if endsSession(c) {
		untrack(c)
	} else {
		cerr = closeClient(ctx, c)
	}
	if err != nil {
		return errors.Join(err, cerr)
	}
	if cerr != nil {
		return cerr
	}
	if a.o.json {
		out := map[string]any{"token": tok.Value, "type": tok.Type}
		if !tok.Expiry.IsZero() {
			out["expiry"] = tok.Expiry.UTC().Format(time.RFC3339)
		}
		return a.printJSON(out)
	}
	fmt.Fprintln(a.stdout, tok.Value)
	return nil
}

// settingsLocation is where FromConnectionString keeps OAuth settings.
func settingsLocation(m map[string]string) (string, error) {
	if loc := m["OAuthSettingsLocation"]; loc != "" {
		return loc, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no default place for the OAuth settings (%w): set OAuthSettingsLocation in the connection string", err)
	}
	return filepath.Join(dir, "anaplan", "oauth-settings"), nil
}

func cmdLogin(ctx context.Context, a *app, _ []string) error {
	cs, err := a.connection(ctx)
	if err != nil {
		return err
	}
	m, _ := anaplan.ParseConnectionString(cs)
	if !strings.EqualFold(m["AuthScheme"], "OAuth") {
		return usagef("login is for AuthScheme=OAuth (Basic and Certificate sign in on every run and save nothing)")
	}
	if m["OAuthClientId"] == "" {
		return usagef("login needs OAuthClientId in the connection string (a device-grant client, or one with OAuthClientSecret and CallbackURL)")
	}
	loc, err := settingsLocation(m)
	if err != nil {
		return err
	}
	m["InitiateOAuth"] = string(anaplan.InitiateGetAndRefresh)
	m["OAuthSettingsLocation"] = loc
	if !strings.HasPrefix(loc, "memory://") {
		if err := os.MkdirAll(filepath.Dir(loc), 0o700); err != nil {
			return err
		}
	}
	c, err := a.newClient(ctx, joinConnectionString(m))
	if err != nil {
		return err
	}
	u, uerr := c.CurrentUser(ctx)
	if err := closeClient(ctx, c); err != nil {
		return err
	}
	who := "the user"
	if uerr == nil {
		who = u.Email
	}
	if a.o.json {
		return a.printJSON(map[string]any{"user": who, "settings": loc})
	}
	fmt.Fprintf(a.stdout, "Signed in as %s. Settings saved to %s.\n", clean(who), loc)
	a.note("To use them on another machine, copy that file there and connect with the same OAuthClientId, InitiateOAuth=REFRESH and OAuthSettingsLocation set to the copy.")
	return nil
}

// joinConnectionString writes properties back as a connection string,
// quoting every value.
func joinConnectionString(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s=\"%s\";", k, strings.ReplaceAll(v, `"`, `""`))
	}
	return b.String()
}

func cmdLogout(ctx context.Context, a *app, _ []string) error {
	cs, err := a.connection(ctx)
	if err != nil {
		return err
	}
	m, _ := anaplan.ParseConnectionString(cs)
	if !strings.EqualFold(m["AuthScheme"], "OAuth") {
		a.note("Nothing to do: AuthScheme=%s saves no sign-in.", m["AuthScheme"])
		return nil
	}
	loc, err := settingsLocation(m)
	if err != nil {
		return err
	}
	if strings.HasPrefix(loc, "memory://") {
		a.note("Nothing to do: %s lives only as long as a process.", loc)
		return nil
	}
	switch err := os.Remove(loc); {
	case errors.Is(err, os.ErrNotExist):
		a.note("No saved sign-in at %s.", loc)
		return nil
	case err != nil:
		return err
	}
	_ = os.Remove(loc + ".lock")
	a.note("Deleted the saved sign-in at %s.", loc)
	return nil
}
