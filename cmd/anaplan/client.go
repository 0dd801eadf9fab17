// The connection, the client, and the name-or-ID resolution of workspaces
// and models; errors for people.

package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
)

// connection returns the connection string, or a usage error.
func (a *app) connection() (string, error) {
	cs := a.o.connection
	if cs == "" {
		cs = a.getenv("ANAPLAN_CONNECTION")
	}
	if strings.TrimSpace(cs) == "" {
		return "", usagef(`no connection: pass --connection "AuthScheme=Basic;User=…;Password=…" or set ANAPLAN_CONNECTION (run 'anaplan demo' to try without one)`)
	}
	if _, err := anaplan.ParseConnectionString(cs); err != nil {
		return "", &usageError{msg: errorText(err)}
	}
	return cs, nil
}

// client signs in with the connection string.
func (a *app) client(ctx context.Context, extra ...anaplan.Option) (*anaplan.Client, error) {
	cs, err := a.connection()
	if err != nil {
		return nil, err
	}
	opts := []anaplan.Option{anaplan.FromConnectionString(cs), anaplan.WithUserAgent("anaplan-cli/" + anaplan.Version)}
	opts = append(opts, a.extra...)
	return anaplan.New(ctx, append(opts, extra...)...)
}

// closeTimeout bounds the logout (Basic, Certificate) or the save of the
// settings (OAuth) when a command ends, interrupted or not: a server that
// does not answer must not keep the command running.
var closeTimeout = 5 * time.Second

// closeClient closes c even when ctx was cancelled (Ctrl-C), within
// closeTimeout.
func closeClient(ctx context.Context, c *anaplan.Client) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return c.Close(cctx)
}

// withClient signs in, runs f, and closes the client.
func (a *app) withClient(ctx context.Context, f func(c *anaplan.Client) error) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	cerr := closeClient(ctx, c)
	if err != nil {
		return err
	}
	return cerr
}

// model resolves --workspace and --model (names or IDs) to a handle.
func (a *app) model(ctx context.Context, c *anaplan.Client) (*anaplan.ModelHandle, anaplan.Model, error) {
	var matches []anaplan.Model
	for m, err := range c.Models(ctx) {
		if err != nil {
			return nil, anaplan.Model{}, err
		}
		if a.o.workspace != "" && m.WorkspaceID != a.o.workspace && !strings.EqualFold(m.WorkspaceName, a.o.workspace) {
			continue
		}
		if m.ID == a.o.model {
			matches = []anaplan.Model{m}
			break
		}
		if strings.EqualFold(m.Name, a.o.model) {
			matches = append(matches, m)
		}
	}
	switch {
	case len(matches) == 1:
		return c.Model(matches[0].WorkspaceID, matches[0].ID), matches[0], nil
	case len(matches) > 1:
		var ws []string
		for _, m := range matches {
			ws = append(ws, fmt.Sprintf("%s (%s)", m.WorkspaceName, m.WorkspaceID))
		}
		return nil, anaplan.Model{}, fmt.Errorf("several models are called %q, in workspaces %s: choose one with --workspace", a.o.model, strings.Join(ws, ", "))
	case a.o.workspace != "":
		// Not listed: let the server say what it thinks of these IDs.
		m := c.Model(a.o.workspace, a.o.model)
		info, err := m.Info(ctx)
		if err != nil {
			return nil, anaplan.Model{}, fmt.Errorf("model %q of workspace %q: %w", a.o.model, a.o.workspace, err)
		}
		return m, *info, nil
	}
	return nil, anaplan.Model{}, fmt.Errorf("no model called or with ID %q among the models the user can see: run 'anaplan models' to list them", a.o.model)
}

// find picks the item whose ID is key, or else whose name is key (exactly,
// then ignoring case).
func find[T any](seq iter.Seq2[T, error], key, what, plural string, id, name func(T) string) (T, error) {
	var zero T
	var exact, folded []T
	for v, err := range seq {
		if err != nil {
			return zero, err
		}
		switch {
		case id(v) == key:
			return v, nil
		case name(v) == key:
			exact = append(exact, v)
		case strings.EqualFold(name(v), key):
			folded = append(folded, v)
		}
	}
	for _, set := range [][]T{exact, folded} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		}
		return zero, fmt.Errorf("several %s are called %q: use the ID", plural, key)
	}
	return zero, fmt.Errorf("no %s called or with ID %q in the model: run 'anaplan %s' to list them", what, key, plural)
}

// errorText is an error for a person: what went wrong and what to do.
func errorText(err error) string {
	msg := clean(strings.TrimPrefix(err.Error(), "anaplan: "))
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted: " + msg
	case errors.As(err, &ua), errors.As(err, &ci),
		// Some sign-in errors keep only the text of their cause.
		strings.Contains(msg, "x509: certificate signed by unknown authority"), strings.Contains(msg, "tls: failed to verify certificate"):
		return msg + "\n(the server's TLS certificate is not trusted: when it is signed by a private CA, point SSL_CERT_FILE at that CA's PEM file)"
	case errors.As(err, &hn):
		return msg + "\n(the server's TLS certificate is for another host: check AuthURL and APIURL in the connection string)"
	case errors.Is(err, anaplan.ErrInteractionRequired):
		return msg + "\n(run 'anaplan login' to sign in and save the settings)"
	case errors.Is(err, anaplan.ErrUnauthorized):
		return msg + "\n(check the credentials in the connection string)"
	}
	return msg
}
