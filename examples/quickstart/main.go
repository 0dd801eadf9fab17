// Command quickstart signs in to Anaplan with Basic and with a certificate,
// and prints who it is signed in as.
//
// With no ANAPLAN_CONNECTION in the environment it starts the fake Anaplan
// of package anaplantest in this process, so it runs anywhere:
//
//	go run ./examples/quickstart
//
// With ANAPLAN_CONNECTION set (a connection string such as
// "AuthScheme=Basic;User=…;Password=…;Region=EU1") it signs in to that tenant.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if cs := os.Getenv("ANAPLAN_CONNECTION"); cs != "" {
		return signIn(ctx, out, "your tenant", anaplan.FromConnectionString(cs))
	}

	fmt.Fprintln(out, "No ANAPLAN_CONNECTION set: starting the fake Anaplan (package anaplantest) on loopback.")
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddUser("ada@example.com", "correct horse battery staple")
	at := []anaplan.Option{anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client())}

	if err := signIn(ctx, out, "Basic", append(at, anaplan.WithBasic("ada@example.com", "correct horse battery staple"))...); err != nil {
		return err
	}
	// A certificate from the fake's own CA, registered for the user: with a
	// real tenant, load yours with anaplan.LoadPEM or anaplan.LoadPKCS12.
	cert, key, err := srv.IssueCertificate("ada@example.com")
	if err != nil {
		return err
	}
	return signIn(ctx, out, "Certificate", append(at, anaplan.WithCertificate(cert, key))...)
}

func signIn(ctx context.Context, out io.Writer, how string, opts ...anaplan.Option) (err error) {
	c, err := anaplan.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() { // logs the session out (Basic, Certificate) or saves OAuth tokens
		if cerr := c.Close(context.WithoutCancel(ctx)); err == nil {
			err = cerr
		}
	}()
	me, err := c.CurrentUser(ctx)
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-12s signed in as %s (%s); token valid until %s\n", how+":", me.Email, describe(me), tok.Expiry.Format(time.RFC3339))
	return nil
}

// describe is the user's name, when Anaplan has one, and ID.
func describe(u *anaplan.User) string {
	if name := strings.TrimSpace(u.FirstName + " " + u.LastName); name != "" {
		return name + ", id " + u.ID
	}
	return "id " + u.ID
}
