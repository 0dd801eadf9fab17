package anaplan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"golang.org/x/oauth2"
)

// email asks the Integration API who the client is signed in as.
func email(c *anaplan.Client) string {
	resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
	if err != nil {
		log.Fatal(err)
	}
	if err := anaplan.CheckResponse(resp); err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		User struct{ Email string } `json:"user"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	return me.User.Email
}

// Sign in with a user name and password. Against a real tenant you would
// pass WithRegion instead of the fake's endpoints and client.
func ExampleNew_basic() {
	srv := anaplantest.NewServer() // a fake Anaplan; with a real tenant: anaplan.WithRegion(anaplan.EU1)
	defer srv.Close()
	srv.AddUser("ada@example.com", "s3cret")

	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithBasic("ada@example.com", "s3cret"),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx) // logs the session out
	fmt.Println(email(c))
	// Output: ada@example.com
}

// Sign in with a CA-issued certificate and its RSA key. LoadPEM and
// LoadPKCS12 read them from files; any crypto.Signer (HSM, KMS) works.
func ExampleNew_certificate() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	cert, key, err := srv.IssueCertificate("ada@example.com") // with a real tenant: anaplan.LoadPKCS12(pfx, password)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithCertificate(cert, key),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(email(c))
	// Output: ada@example.com
}

// Connect with a connection string, as Anaplan's commercial connectors take
// one. Values may be quoted; property names are case-insensitive.
func ExampleFromConnectionString() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddUser("ada@example.com", "p;w'd")

	cs := "AuthScheme=Basic;User=ada@example.com;Password='p;w''d';" +
		"AuthURL=" + srv.Endpoints().Auth + ";APIURL=" + srv.Endpoints().API // with a real tenant: Region=EU1
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.FromConnectionString(cs), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(email(c))
	// Output: ada@example.com
}

// In a unit test of your own code, a TokenSource stands in for sign-in.
func ExampleWithTokenSource() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "server saw: %s", r.Header.Get("Authorization"))
	}))
	defer api.Close()

	fake := anaplan.TokenSourceFunc(func(ctx context.Context) (*anaplan.Token, error) {
		return &anaplan.Token{Value: "test-token", Type: "AnaplanAuthToken", Expiry: time.Now().Add(time.Hour)}, nil
	})
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithTokenSource(fake),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: api.URL, API: api.URL + "/2/0"}))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.HTTPClient().Get(api.URL + "/2/0/workspaces")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var b [64]byte
	n, _ := resp.Body.Read(b[:])
	fmt.Println(string(b[:n]))
	// Output: server saw: AnaplanAuthToken test-token
}

// A web application runs the authorization-code flow in its own handlers
// (the connector's GetOAuthAuthorizationUrl and GetOAuthAccessToken), then
// hands the tokens to New with a store, where they are refreshed and
// persisted.
func ExampleOAuth2Config() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	const callback = "https://app.example.com/anaplan/callback"
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "web-app", Secret: "web-secret", RedirectURIs: []string{callback}, Rotating: true})

	cfg := anaplan.OAuthConfig{ClientID: "web-app", ClientSecret: "web-secret", CallbackURL: callback}
	oc := anaplan.OAuth2Config(cfg, srv.Endpoints()) // with a real tenant: anaplan.EU1.Endpoints()
	ctx := context.WithValue(context.Background(), oauth2HTTPClient, srv.Client())

	// Handler 1, GET /login: http.Redirect(w, r, oc.AuthCodeURL(state), http.StatusFound)
	authURL := oc.AuthCodeURL("state-from-session")
	// (the browser signs in and is sent to the callback with ?code=…&state=…)
	code := codeFromRedirect(srv, authURL)
	// Handler 2, GET /anaplan/callback: check state, then exchange the code.
	tok, err := oc.Exchange(ctx, code)
	if err != nil {
		log.Fatal(err)
	}

	// Then: a Client for this user, refreshing into the app's store.
	cfg.AccessToken, cfg.RefreshToken, cfg.Expiry = tok.AccessToken, tok.RefreshToken, tok.Expiry
	cfg.Initiate = anaplan.InitiateRefresh
	c, err := anaplan.New(context.Background(), anaplan.WithOAuth(cfg),
		anaplan.WithSettingsStore(anaplan.NewMemoryStore()), // or a Vault-backed SettingsStore
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	fmt.Println(email(c))
	// Output: oauth.user@example.com
}

// On a headless machine, OAuth settings come from a file made elsewhere
// (for example by `anaplan login` on a machine with a browser), used with
// InitiateOAuth=REFRESH: it refreshes and never prompts.
func ExampleNewFileStore() {
	dir, err := os.MkdirTemp("", "anaplan-example") // created 0700: a shared directory is refused
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "oauth-settings")
	store := anaplan.NewFileStore(path, anaplan.SettingsKey("my-client-id", "my-client-secret"))
	ctx := context.Background()
	if err := store.Save(ctx, &anaplan.Settings{RefreshToken: "…", ClientID: "my-client-id"}); err != nil {
		log.Fatal(err)
	}
	s, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.ClientID, s) // secrets print redacted
	// Output: my-client-id Settings{ClientID:my-client-id TokenType: AccessToken: RefreshToken:REDACTED Expiry:none}
}

// GETANDREFRESH with a device-grant client (no secret): the person is shown
// a code and a URL, signs in on any device, and the tokens persist in the
// store; later runs (InitiateOAuth=REFRESH) refresh them without asking.
func ExampleWithOAuth_deviceGrant() {
	srv := anaplantest.NewServer(anaplantest.WithDeviceInterval(time.Second))
	defer srv.Close()
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "cli-device-client", Rotating: true})

	store := anaplan.NewMemoryStore() // a real program: anaplan.NewFileStore(path, key)
	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithOAuth(anaplan.OAuthConfig{
			ClientID: "cli-device-client",
			Initiate: anaplan.InitiateGetAndRefresh,
			ShowDeviceCode: func(ctx context.Context, d *oauth2.DeviceAuthResponse) error {
				fmt.Println("Open the verification page and enter the code shown") // d.VerificationURI, d.UserCode
				return srv.ApproveDevice(d.UserCode)                               // the person approves (here: the fake)
			},
		}),
		anaplan.WithSettingsStore(store),
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	fmt.Println(email(c))
	s, _ := store.Load(ctx)
	fmt.Println("refresh token saved:", s.RefreshToken != "")
	// Output:
	// Open the verification page and enter the code shown
	// oauth.user@example.com
	// refresh token saved: true
}
