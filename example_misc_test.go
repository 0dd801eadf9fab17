package anaplan_test

import (
	"context"
	"fmt"
	"log"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// A tenant that still expects the v1 certificate sign-in chooses it; v2 is
// the default. In a connection string: CertificateFormat=v1.
func ExampleWithCertificateFormat() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	cert, key, err := srv.IssueCertificate("ada@example.com")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithCertificate(cert, key), anaplan.WithCertificateFormat(anaplan.CertificateV1),
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(email(c))
	// Output: ada@example.com
}

// OAuth token requests go to Anaplan as JSON and to other servers as forms
// (OAuthBodyAuto). An Anaplan OAuth service reached under another name (here
// the fake, told to accept JSON only) is given JSON explicitly. In a
// connection string: OAuthBodyFormat=JSON.
func ExampleWithOAuthBodyEncoding() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.SetOAuthBodyFormats(anaplantest.OAuthBodyJSON)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "my-client", Secret: "my-secret", Rotating: true})
	_, refresh, _ := srv.IssueOAuthTokens("my-client", "ada@example.com")

	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithOAuth(anaplan.OAuthConfig{ClientID: "my-client", ClientSecret: "my-secret",
			Initiate: anaplan.InitiateRefresh, RefreshToken: refresh}),
		anaplan.WithSettingsStore(anaplan.NewMemoryStore()),
		anaplan.WithOAuthBodyEncoding(anaplan.OAuthBodyJSON),
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(email(c), srv.OAuthBodyFormatsSeen()[anaplantest.OAuthBodyJSON])
	// Output: ada@example.com 1
}
