package anaplan

import (
	"os"
	"testing"
)

// skipWithoutOpenSSL: see the external test package's twin.
func skipWithoutOpenSSL(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("ANAPLAN_REQUIRE_OPENSSL") != "" || os.Getenv("CI") != "" {
		t.Fatalf("openssl is needed (%s) and the test command requires it: install openssl (Debian: apt-get install openssl)", why)
	}
	t.Skipf("openssl: %s", why)
}
