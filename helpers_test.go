package anaplan_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"

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

// skipWithoutOpenSSL skips a test that needs the openssl command, except
// where the test command requires it (ANAPLAN_REQUIRE_OPENSSL, set by
// scripts/test.sh, or CI): there a missing openssl fails the test loudly.
func skipWithoutOpenSSL(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("ANAPLAN_REQUIRE_OPENSSL") != "" || os.Getenv("CI") != "" {
		t.Fatalf("openssl is needed (%s) and the test command requires it: install openssl (Debian: apt-get install openssl)", why)
	}
	t.Skipf("openssl: %s", why)
}
