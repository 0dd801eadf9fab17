package anaplan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// authBodies records the bodies of certificate sign-ins on their way out.
type authBodies struct {
	mu     sync.Mutex
	next   http.RoundTripper
	bodies []map[string]any
}

func (a *authBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token/authenticate") && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		a.mu.Lock()
		a.bodies = append(a.bodies, m)
		a.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return a.next.RoundTrip(r)
}

// Issue 8 point 8: the user chooses v1 (an option or CertificateFormat=v1);
// v2 stays the default. Fails without WithCertificateFormat / the property.
func TestCertificateFormatChosenByUser(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	leaf := newLeaf(t, srv)
	blob := base64.StdEncoding.EncodeToString(append(append([]byte{}, leaf.CertPEM...), leaf.KeyPEM...))
	cs := "AuthScheme=Certificate;CertificateType=PEMKEY_BLOB;Certificate=" + blob
	for _, tc := range []struct {
		name   string
		opts   []anaplan.Option
		v1     bool
		format any // encodedDataFormat sent; nil: none
	}{
		{"default", []anaplan.Option{anaplan.WithCertificate(leaf.Cert, leaf.Key)}, false, "v2"},
		{"option v1", []anaplan.Option{anaplan.WithCertificate(leaf.Cert, leaf.Key), anaplan.WithCertificateFormat(anaplan.CertificateV1)}, true, nil},
		{"option v2", []anaplan.Option{anaplan.WithCertificateFormat(anaplan.CertificateV2), anaplan.WithCertificate(leaf.Cert, leaf.Key)}, false, "v2"},
		{"property v1", []anaplan.Option{anaplan.FromConnectionString(cs + ";CertificateFormat=V1")}, true, nil},
		{"property v2", []anaplan.Option{anaplan.FromConnectionString(cs + ";CertificateFormat=v2")}, false, "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &authBodies{next: srv.Client().Transport}
			opts := append(fakeOptions(srv, tc.opts...), anaplan.WithHTTPClient(&http.Client{Transport: rec}))
			c, err := anaplan.New(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if code, _ := whoami(t, c); code != 200 {
				t.Fatalf("users/me %d", code)
			}
			if len(rec.bodies) != 1 {
				t.Fatalf("%d sign-ins", len(rec.bodies))
			}
			b := rec.bodies[0]
			nonce, _ := base64.StdEncoding.DecodeString(b["encodedData"].(string))
			if got, sent := b["encodedDataFormat"]; (tc.format == nil && sent) || (tc.format != nil && got != tc.format) {
				t.Fatalf("encodedDataFormat %v (sent %v), want %v", got, sent, tc.format)
			}
			if len(nonce) < 100 || len(nonce) > 150 {
				t.Fatalf("nonce of %d bytes", len(nonce))
			}
			// A server that has phased v1 out refuses exactly the v1 sign-ins.
			strict := newFake(t, anaplantest.WithoutV1Signatures())
			strict.AddCertificate(leaf.Cert, basicUser)
			c2, err := anaplan.New(ctx, fakeOptions(strict, tc.opts...)...)
			if tc.v1 {
				if !errors.Is(err, anaplan.ErrUnauthorized) || !strings.Contains(err.Error(), "v1") {
					t.Fatalf("v1 sign-in to a v2-only server: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("v2 sign-in to a v2-only server: %v", err)
			}
			c2.Close(ctx)
		})
	}
	for _, tc := range []struct {
		name, want string
		opt        anaplan.Option
	}{
		{"bad option", "CertificateV2 or CertificateV1", anaplan.WithCertificateFormat("v3")},
		{"bad property", "CertificateFormat must be v2 or v1", anaplan.FromConnectionString(cs + ";CertificateFormat=v3")},
	} {
		if _, err := anaplan.New(ctx, fakeOptions(srv, anaplan.WithCertificate(leaf.Cert, leaf.Key), tc.opt)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
