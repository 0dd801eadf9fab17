package anaplan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// signIn brings a person in (GETANDREFRESH): the device grant for a client
// without a secret, a loopback listener for a loopback CallbackURL, and
// otherwise the browser plus a pasted redirect URL.
func (f *oauthFetcher) signIn(ctx context.Context) error {
	// Find out before the person signs in whether their tokens can be kept.
	if _, err := f.prepare(ctx, "no sign-in was started"); err != nil {
		return err
	}
	var t *oauth2.Token
	var err error
	switch {
	case f.cfg.ClientSecret == "":
		t, err = f.deviceFlow(ctx)
	case f.cfg.CallbackURL == "":
		return errors.New("anaplan: an authorization-code OAuth client needs its registered CallbackURL to sign in")
	case isLoopbackURL(f.cfg.CallbackURL):
		t, err = f.loopbackFlow(ctx)
	default:
		t, err = f.pasteFlow(ctx)
	}
	if err != nil {
		return err
	}
	f.take(t)
	f.verifierSet = true
	return nil
}

func (f *oauthFetcher) deviceFlow(ctx context.Context) (*oauth2.Token, error) {
	da, err := f.oc.DeviceAuth(f.ctx(ctx))
	if err != nil {
		return nil, oauthError("starting the device sign-in", err)
	}
	rememberSecret(da.DeviceCode)
	show := f.cfg.ShowDeviceCode
	if show == nil {
		show = showDeviceCode
	}
	if err := show(ctx, da); err != nil {
		return nil, errorf("anaplan: showing the device code: %w", err)
	}
	t, err := f.oc.DeviceAccessToken(f.ctx(ctx), da)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, oauthError("waiting for the device sign-in", err)
	}
	return t, nil
}

func showDeviceCode(_ context.Context, d *oauth2.DeviceAuthResponse) error {
	u := d.VerificationURIComplete
	if u == "" {
		u = d.VerificationURI
	}
	_, err := fmt.Fprintf(os.Stderr, "To sign in to Anaplan, open %s and enter the code %s\n", u, d.UserCode)
	return err
}

// loopbackFlow serves the callback on exactly the CallbackURL's loopback
// host and port with an http.Server (a browser may open several connections),
// using PKCE (S256) and state.
func (f *oauthFetcher) loopbackFlow(ctx context.Context) (*oauth2.Token, error) {
	cb, _ := url.Parse(f.cfg.CallbackURL)
	ln, err := net.Listen("tcp", cb.Host)
	if err != nil {
		return nil, errorf("anaplan: listening for the OAuth callback on %s: %w", cb.Host, err)
	}
	state, verifier := randomString(24), oauth2.GenerateVerifier()
	rememberSecret(verifier)
	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	send := func(r result) {
		select {
		case done <- r:
		default:
		}
	}
	path := cb.Path
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("state") == "" && q.Get("code") == "" && q.Get("error") == "":
			http.NotFound(w, r) // not an OAuth redirect (a browser's probe): keep waiting
		case q.Get("state") != state:
			// A stale or forged redirect: refuse it, and keep waiting for the
			// real one, so that a stray request cannot end the sign-in.
			page(w, http.StatusBadRequest, "Sign-in failed", "The answer did not carry the expected state. Use the sign-in page that was just opened.")
			f.logger.LogAttrs(r.Context(), slog.LevelWarn, "anaplan: refused an OAuth callback with a wrong state parameter")
		case q.Get("error") != "":
			page(w, http.StatusOK, "Sign-in refused", "Anaplan refused the sign-in. You may close this tab.")
			send(result{err: errorf("anaplan: the sign-in was refused: %w", &APIError{Code: truncate(scrubServerText(q.Get("error")), 100), Message: truncate(scrubServerText(q.Get("error_description")), 300)})})
		case q.Get("code") == "":
			page(w, http.StatusBadRequest, "Sign-in failed", "The answer carried no code. Start the sign-in again.")
			send(result{err: errors.New("anaplan: the OAuth callback carried no code")})
		default:
			page(w, http.StatusOK, "Signed in to Anaplan", "You are signed in. You may close this tab.")
			send(result{code: q.Get("code")})
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()

	if err := f.open(ctx, f.oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); err != nil {
		return nil, err
	}
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, errorf("anaplan: waiting for the browser sign-in: %w", ctx.Err())
	}
	if r.err != nil {
		return nil, r.err
	}
	rememberSecret(r.code)
	xctx, cancel, err := f.beginSpend(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	t, err := f.oc.Exchange(xctx, r.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, oauthError("exchanging the authorization code", err)
	}
	return t, nil
}

// pasteFlow is for HTTPS callbacks (what Anaplan requires): the browser
// lands on the registered page, and the person pastes that URL or its code.
func (f *oauthFetcher) pasteFlow(ctx context.Context) (*oauth2.Token, error) {
	state, verifier := randomString(24), oauth2.GenerateVerifier()
	rememberSecret(verifier)
	if err := f.open(ctx, f.oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); err != nil {
		return nil, err
	}
	prompt := f.prompt
	if prompt == nil {
		prompt = promptTerminal
	}
	in, err := prompt(ctx, "After signing in, paste the URL your browser was sent to (or just its code): ")
	if err != nil {
		return nil, errorf("anaplan: reading the redirected URL: %w", err)
	}
	code, st, err := parseVerifier(in)
	if err != nil {
		return nil, err
	}
	rememberSecret(code, in)
	if st != "" && st != state {
		return nil, errors.New("anaplan: the pasted URL carries a wrong state parameter (from an older sign-in?): sign in again")
	}
	xctx, cancel, err := f.beginSpend(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	t, err := f.oc.Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, oauthError("exchanging the authorization code", err)
	}
	return t, nil
}

func (f *oauthFetcher) open(ctx context.Context, u string) error {
	open := f.cfg.OpenURL
	if open == nil {
		open = openBrowser
	}
	if err := open(ctx, u); err != nil {
		return errorf("anaplan: opening the sign-in page: %w", err)
	}
	return nil
}

// openBrowser opens u in the system browser, and prints it to stderr too in
// case no browser is at hand.
func openBrowser(ctx context.Context, u string) error {
	fmt.Fprintf(os.Stderr, "To sign in to Anaplan, open this page:\n%s\n", u)
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.CommandContext(ctx, "open", u)
	case "windows":
		cmd = exec.CommandContext(ctx, "rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.CommandContext(ctx, "xdg-open", u)
	}
	_ = cmd.Start() // the printed URL is the fallback
	if cmd.Process != nil {
		go func() { _ = cmd.Wait() }()
	}
	return nil
}

// promptTerminal reads one line from standard input. When ctx ends first it
// returns at once, but the read cannot be interrupted: it takes the next line
// typed, which the program then does not see.
func promptTerminal(ctx context.Context, msg string) (string, error) {
	fmt.Fprint(os.Stderr, msg)
	line := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && s == "" {
			errc <- err
			return
		}
		line <- s
	}()
	select {
	case s := <-line:
		return strings.TrimSpace(s), nil
	case err := <-errc:
		return "", err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>", html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && isLoopback(u.Hostname())
}
