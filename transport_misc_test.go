package anaplan

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Issue 7 point 12: a Retry-After too large for time.Duration once wrapped
// into a negative wait (4 requests in 2 ms). Failed before the clamp.
func TestRetryAfterHugeIsClamped(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []string{"9223372037", "9223372036854775807", "99999999999999999999", "4294967296"} {
		got, ok := retryAfter(in, now)
		if !ok || got != maxRetryAfter {
			t.Errorf("retryAfter(%q) = %v,%v want %v,true", in, got, ok, maxRetryAfter)
		}
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{now.Add(-100 * 365 * 24 * time.Hour).Format(http.TimeFormat), 0},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
	} {
		got, ok := retryAfter(tc.in, now)
		if !ok || got != tc.want {
			t.Errorf("retryAfter(%q) = %v,%v want %v,true", tc.in, got, ok, tc.want)
		}
	}
}

func TestTransportHugeRetryAfterIsReturned(t *testing.T) {
	for _, ra := range []string{"9223372037", "9223372036854775807", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(ra, func(t *testing.T) {
			s := &scripted{answers: []func(http.ResponseWriter){status(429, "Retry-After", ra), status(429, "Retry-After", ra), status(429, "Retry-After", ra), status(429, "Retry-After", ra)}}
			srv := httptest.NewTLSServer(s)
			defer srv.Close()
			w := &waits{}
			hc := &http.Client{Transport: newTestTransport(srv.Client().Transport, w, nil)}
			resp, err := hc.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 429 || s.n.Load() != 1 || len(w.d) != 0 {
				t.Fatalf("status %d after %d calls and waits %v; want the 429 returned after one call, no wait", resp.StatusCode, s.n.Load(), w.d)
			}
		})
	}
}

// Issue 11 point 6: a certificate the client does not trust cannot pass on a
// second attempt; it was tried 4 times (~1.2 s). Failed before the fix.
func TestTransportTLSVerificationNotRetried(t *testing.T) {
	s := &scripted{}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)

	wrongPool := x509.NewCertPool()
	wrongPool.AddCert(selfSignedForTest(t)) // another authority
	rightPool := x509.NewCertPool()
	rightPool.AddCert(srv.Certificate())
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		url  string
		is   func(error) bool
	}{
		{"unknown authority", &tls.Config{RootCAs: wrongPool}, srv.URL, func(err error) bool {
			var ua x509.UnknownAuthorityError
			return errors.As(err, &ua)
		}},
		{"system roots", &tls.Config{}, srv.URL, func(err error) bool {
			var ua x509.UnknownAuthorityError
			return errors.As(err, &ua)
		}},
		{"wrong host name", &tls.Config{RootCAs: rightPool, ServerName: "not-the-host.example"}, srv.URL, func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n0 := s.n.Load()
			base := &http.Transport{TLSClientConfig: tc.cfg}
			defer base.CloseIdleConnections()
			counted := &countingRT{next: base}
			w := &waits{}
			hc := &http.Client{Transport: newTestTransport(counted, w, nil)}
			_, err := hc.Get(tc.url + "/x")
			if err == nil || !tc.is(err) {
				t.Fatalf("err %v, want a certificate verification error", err)
			}
			if got := counted.n; got != 1 || len(w.d) != 0 {
				t.Fatalf("%d attempts and waits %v for a certificate the client does not trust; want one attempt", got, w.d)
			}
			if s.n.Load() != n0 {
				t.Fatalf("the server was reached")
			}
		})
	}
	// A network error that is not about the certificate is still retried.
	f := &flaky{next: srv.Client().Transport}
	f.fails.Store(1)
	hc := &http.Client{Transport: newTestTransport(f, &waits{}, nil)}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatalf("a reset connection was not retried: %v", err)
	}
	resp.Body.Close()
}

func selfSignedForTest(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type countingRT struct {
	n    int
	next http.RoundTripper
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.next.RoundTrip(r)
}
