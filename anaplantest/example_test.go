package anaplantest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan/anaplantest"
)

// A test starts the fake with anaplantest.New(t), which closes it when the
// test ends; outside a test, NewServer and Close do the same.
func Example() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddUser("ada@example.com", "secret")

	// Sign in with Basic authentication, as the SDK does.
	req, _ := http.NewRequest("POST", srv.Endpoints().Auth+"/token/authenticate", nil)
	req.SetBasicAuth("ada@example.com", "secret")
	resp, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	var answer struct {
		TokenInfo struct{ TokenValue string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	fmt.Println("authenticate:", resp.StatusCode)

	whoami := func() int {
		req, _ := http.NewRequest("GET", srv.Endpoints().API+"/users/me", nil)
		req.Header.Set("Authorization", "AnaplanAuthToken "+answer.TokenInfo.TokenValue)
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("users/me:", whoami())

	// Faults come before anything else.
	srv.FailNext(1, anaplantest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	fmt.Println("users/me:", whoami())

	// Tokens live 35 minutes by the server's clock.
	srv.Advance(36 * time.Minute)
	fmt.Println("users/me:", whoami())
	fmt.Println("calls:", srv.Calls("GET /2/0/users/me"))
	// Output:
	// authenticate: 201
	// users/me: 200
	// users/me: 429
	// users/me: 401
	// calls: 3
}

// IssueCertificate gives a certificate and key that certificate sign-in
// accepts, from the fake's own CA.
func ExampleServer_IssueCertificate() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	cert, key, err := srv.IssueCertificate("robot@example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(cert.Subject.CommonName, key.Public() != nil)
	// Output: robot@example.com true
}

// A grant seeded without a browser, refreshed with a rotating client; a
// replay of the spent refresh token revokes the whole grant.
func ExampleServer_IssueOAuthTokens() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "app", Secret: "app-secret", Rotating: true})
	_, refresh, _ := srv.IssueOAuthTokens("app", "ada@example.com")

	refreshWith := func(rt string) int {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {"app"}, "client_secret": {"app-secret"}}
		resp, err := srv.Client().Post(srv.Endpoints().OAuth.TokenURL,
			"application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("refresh:", refreshWith(refresh))
	fmt.Println("replay:", refreshWith(refresh))
	fmt.Println("grants revoked:", srv.GrantRevocations())
	fmt.Println("uses:", srv.RefreshTokenUses()[refresh])
	// Output:
	// refresh: 200
	// replay: 400
	// grants revoked: 1
	// uses: 2
}
