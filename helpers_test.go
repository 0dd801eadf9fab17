package anaplan_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os/exec"

	"github.com/go-anaplan/anaplan/anaplantest"
	"golang.org/x/oauth2"
)

func runOpenSSL(args ...string) error {
	if _, err := exec.LookPath("openssl"); err != nil {
		return err
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// oauth2HTTPClient is golang.org/x/oauth2's context key for the HTTP client.
var oauth2HTTPClient = oauth2.HTTPClient

// codeFromRedirect plays the browser: it follows authURL to the callback and
// returns the code there.
func codeFromRedirect(srv *anaplantest.Server, authURL string) string {
	hc := *srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(authURL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(resp.Header.Get("Location"))
	return u.Query().Get("code")
}
