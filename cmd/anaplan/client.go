// The connection, the client, and the name-or-ID resolution of workspaces
// and models; errors for people.

package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-anaplan/anaplan"
)

// maxConnectionFile bounds a connection file: a connection string is a few
// hundred bytes, and /dev/zero must not fill the memory.
const maxConnectionFile = 1 << 20

// connection returns the connection string, or a usage error. It comes from
// --connection-file, --connection, $ANAPLAN_CONNECTION_FILE or
// $ANAPLAN_CONNECTION, the first that is set.
func (a *app) connection(ctx context.Context) (string, error) {
	if a.csRead {
		return a.cs, a.csErr
	}
	a.csRead = true
	a.cs, a.csErr = a.readConnection(ctx)
	return a.cs, a.csErr
}

func (a *app) readConnection(ctx context.Context) (string, error) {
	if a.o.connection != "" && a.o.connectionFile != "" {
		return "", usagef("--connection and --connection-file both give the connection: keep one")
	}
	cs, file := a.o.connection, a.o.connectionFile
	if cs == "" && file == "" {
		if file = a.getenv("ANAPLAN_CONNECTION_FILE"); file == "" {
			cs = a.getenv("ANAPLAN_CONNECTION")
		}
	}
	if file != "" {
		var err error
		if cs, err = a.readConnectionFile(ctx, file); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(cs) == "" {
		return "", usagef(`no connection: pass --connection-file FILE (- for standard input) or --connection "AuthScheme=Basic;User=…;Password=…", or set ANAPLAN_CONNECTION (run 'anaplan demo' to try without one)`)
	}
	if _, err := anaplan.ParseConnectionString(cs); err != nil {
		return "", &usageError{msg: errorText(err)}
	}
	return cs, nil
}

// readConnectionFile reads a connection string from a regular file or, for
// "-", standard input; surrounding white space (a final newline) is dropped.
func (a *app) readConnectionFile(ctx context.Context, name string) (string, error) {
	var r io.Reader
	what := "the connection file"
	if name == "-" {
		if a.stdinTaken {
			return "", usagef("standard input cannot hold both the connection (--connection-file -) and the data (-)")
		}
		a.stdinTaken = true
		r, what = &interruptibleReader{ctx: ctx, r: a.stdin}, "standard input"
	} else {
		// The path is not shown: a value given to a flag may be a secret
		// typed in the wrong place. A FIFO or a device is refused before it
		// is opened (opening a FIFO blocks until a writer comes).
		if st, err := os.Stat(name); err == nil && !st.Mode().IsRegular() {
			return "", usagef("the connection file (--connection-file or $ANAPLAN_CONNECTION_FILE) is not a regular file")
		}
		f, err := os.Open(name)
		if err != nil {
			return "", usagef("the connection file (--connection-file or $ANAPLAN_CONNECTION_FILE) cannot be opened: %v", pathErr(err))
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return "", usagef("the connection file (--connection-file or $ANAPLAN_CONNECTION_FILE): %v", pathErr(err))
		}
		if !st.Mode().IsRegular() {
			return "", usagef("the connection file (--connection-file or $ANAPLAN_CONNECTION_FILE) is not a regular file")
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxConnectionFile+1))
	if err != nil {
		return "", fmt.Errorf("reading the connection from %s: %w", what, pathErr(err))
	}
	if len(b) > maxConnectionFile {
		return "", usagef("the connection in %s is longer than 1 MiB: is it the right file?", what)
	}
	return strings.TrimSpace(string(b)), nil
}

// pathErr is err without the path it names.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// client signs in with the connection string. A connection string that
// cannot be used (a property missing or wrong: no request could succeed) is
// a usage error, exit status 2; a refusal by the server is a failure.
func (a *app) client(ctx context.Context) (*anaplan.Client, error) {
	cs, err := a.connection(ctx)
	if err != nil {
		return nil, err
	}
	return a.newClient(ctx, cs)
}

// newClient is anaplan.New with the command's options. A failure of New
// before any request was sent is a configuration that cannot work (a
// property missing or wrong): a usage error, exit status 2.
func (a *app) newClient(ctx context.Context, cs string) (*anaplan.Client, error) {
	st := &sentTransport{base: a.transport}
	if st.base == nil {
		st.base = cliTransport
	}
	opts := []anaplan.Option{anaplan.FromConnectionString(cs), anaplan.WithUserAgent("anaplan-cli/" + anaplan.Version),
		anaplan.WithHTTPClient(&http.Client{Transport: st})}
	var c *anaplan.Client
	err := func() error {
		if mayPersist(cs) {
			defer startSignIn()()
		}
		var err error
		c, err = anaplan.New(ctx, opts...)
		if err == nil {
			track(c)
		}
		return err
	}()
	if err != nil && !st.sent.Load() && isConfigError(err) {
		return nil, &usageError{msg: errorText(err)}
	}
	return c, err
}

// isConfigError: err, from a New that sent nothing, is about the
// configuration, not an interruption or a missing sign-in (for which
// 'anaplan login' is the fix).
func isConfigError(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, anaplan.ErrInteractionRequired) && !errors.Is(err, anaplan.ErrNoSettings)
}

// mayPersist: the connection string makes a client that keeps tokens (an
// OAuth one, the scheme given or inferred), whose sign-in may save them.
func mayPersist(cs string) bool {
	m, err := anaplan.ParseConnectionString(cs)
	if err != nil {
		return false
	}
	switch strings.ToLower(m["AuthScheme"]) {
	case "oauth":
		return true
	case "":
		return m["OAuthClientId"] != "" || m["OAuthAccessToken"] != "" || m["OAuthRefreshToken"] != ""
	}
	return false
}

// sentTransport records whether a request was sent.
type sentTransport struct {
	base http.RoundTripper
	sent atomic.Bool
}

// RoundTrip implements http.RoundTripper.
func (t *sentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.sent.Store(true)
	return t.base.RoundTrip(r)
}

// cliTransport is http.DefaultTransport (proxies from the environment
// included) with more idle connections per host, as the library's own
// default: chunked transfers keep several requests to one host in flight.
var cliTransport = func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()

// closeTimeout bounds the logout (Basic, Certificate) or the save of the
// settings (OAuth) when a command ends, interrupted or not: a server that
// does not answer must not keep the command running.
var closeTimeout = 5 * time.Second

// closeClient closes c even when ctx was cancelled (Ctrl-C), within
// closeTimeout. Its error (a save of rotated tokens that failed) makes the
// command fail.
func closeClient(ctx context.Context, c *anaplan.Client) error {
	defer untrack(c)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return c.Close(cctx)
}

// endsSession: closing c logs out a session (Basic, Certificate), which
// would end a token handed out; any other client (OAuth, whatever chose
// it) persists what it holds when closed.
func endsSession(c *anaplan.Client) bool {
	s := c.AuthScheme()
	return s == "Basic" || s == "Certificate"
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
		if cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	return cerr
}

// model resolves --workspace and --model (names or IDs) to a handle.
func (a *app) model(ctx context.Context, c *anaplan.Client) (*anaplan.ModelHandle, anaplan.Model, error) {
	m, err := c.FindModel(ctx, a.o.workspace, a.o.model)
	if err == nil {
		return c.Model(m.WorkspaceID, m.ID), *m, nil
	}
	if errors.Is(err, anaplan.ErrNotFound) && a.o.workspace != "" {
		// Not listed: let the server say what it thinks of these IDs.
		h := c.Model(a.o.workspace, a.o.model)
		info, ierr := h.Info(ctx)
		if ierr != nil {
			return nil, anaplan.Model{}, fmt.Errorf("model %q of workspace %q: %w", a.o.model, a.o.workspace, ierr)
		}
		return h, *info, nil
	}
	return nil, anaplan.Model{}, err
}

// errorText is an error for a person: what went wrong and what to do.
func errorText(err error) string {
	msg := clean(strings.TrimPrefix(err.Error(), "anaplan: "))
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	var le *anaplan.LookupError
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
	case errors.As(err, &le) && le.Count == 0:
		return msg + fmt.Sprintf(": run 'anaplan %s' to list them", lookupPlural(le.Kind))
	case errors.As(err, &le) && le.Kind == "model":
		return msg + "; or choose the workspace with --workspace"
	case errors.Is(err, anaplan.ErrUnauthorized):
		return msg + "\n(check the credentials in the connection string)"
	}
	return msg
}

// lookupPlural is the listing command for a kind of object.
func lookupPlural(kind string) string {
	if kind == "process" {
		return "processes"
	}
	return kind + "s"
}
