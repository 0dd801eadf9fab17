package etcdstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/go-anaplan/anaplan/etcdstore"
	"github.com/google/go-cmp/cmp"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    etcdstore.Location
		wantErr string
	}{
		{in: "etcd://127.0.0.1:2379/anaplan/prod", want: etcdstore.Location{Hosts: []string{"127.0.0.1:2379"}, Key: "/anaplan/prod"}},
		{in: "ETCD://a.example:2379,b.example:2380,[::1]:2379/k", want: etcdstore.Location{Hosts: []string{"a.example:2379", "b.example:2380", "[::1]:2379"}, Key: "/k"}},
		{in: "file:///tmp/x", wantErr: "must start with etcd://"},
		{in: "etcd://127.0.0.1:2379", wantErr: "names no key"},
		{in: "etcd://127.0.0.1:2379/", wantErr: "names no key"},
		{in: "etcd://root:s3cret-pw@127.0.0.1:2379/k", wantErr: "must not hold credentials"},
		{in: "etcd://127.0.0.1:2379/k?password=s3cret-pw", wantErr: "no query"},
		{in: "etcd://127.0.0.1/k", wantErr: "member 1 of the location is not host:port"},
		{in: "etcd://127.0.0.1:2379,,/k", wantErr: "member 2"},
		{in: "etcd://127.0.0.1:99999/k", wantErr: "invalid port"},
		{in: "etcd://:2379/k", wantErr: "not host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := etcdstore.ParseLocation(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "127.0.0.1") {
					t.Fatalf("error %q repeats the location", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func writeCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test etcd CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFromEnv(t *testing.T) {
	for _, name := range []string{"ETCDSTORE_CACERT", "ETCDSTORE_CERT", "ETCDSTORE_KEY", "ETCDSTORE_USER", "ETCDSTORE_PASSWORD",
		"ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD"} {
		t.Setenv(name, "")
	}
	hosts := []string{"10.0.0.1:2379", "10.0.0.2:2379"}

	cfg, err := etcdstore.ConfigFromEnv(hosts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS != nil || cfg.Username != "" || cmp.Diff([]string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}, cfg.Endpoints) != "" {
		t.Fatalf("plain config: TLS %v user %q endpoints %v", cfg.TLS != nil, cfg.Username, cfg.Endpoints)
	}

	// etcdctl's names, with its user:password form.
	t.Setenv("ETCDCTL_USER", "fleet:s3cret-pw")
	t.Setenv("ETCDCTL_CACERT", writeCA(t))
	cfg, err = etcdstore.ConfigFromEnv(hosts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.RootCAs == nil || cfg.Username != "fleet" || cfg.Password != "s3cret-pw" || !strings.HasPrefix(cfg.Endpoints[0], "https://") {
		t.Fatalf("etcdctl config: TLS %v user %q endpoints %v", cfg.TLS != nil, cfg.Username, cfg.Endpoints)
	}
	// Ours take precedence.
	t.Setenv("ETCDSTORE_USER", "svc")
	t.Setenv("ETCDSTORE_PASSWORD", "other-s3cret")
	if cfg, err = etcdstore.ConfigFromEnv(hosts); err != nil || cfg.Username != "svc" || cfg.Password != "other-s3cret" {
		t.Fatalf("ETCDSTORE_ names: %q, %v", cfg.Username, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for name, env := range map[string]map[string]string{
		"CA not PEM":           {"ETCDSTORE_CACERT": bad},
		"CA missing":           {"ETCDSTORE_CACERT": filepath.Join(t.TempDir(), "none.pem")},
		"CA a directory":       {"ETCDSTORE_CACERT": t.TempDir()},
		"cert without key":     {"ETCDSTORE_CERT": bad},
		"cert and key not PEM": {"ETCDSTORE_CERT": bad, "ETCDSTORE_KEY": bad},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			_, err := etcdstore.ConfigFromEnv(hosts)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

// OAuthSettingsLocation=etcd://… opens the store once the package is
// imported: the client refreshes with the refresh token seeded in etcd and
// saves the rotated one there.
func TestConnectionStringLocation(t *testing.T) {
	for _, name := range []string{"ETCDSTORE_CACERT", "ETCDSTORE_CERT", "ETCDSTORE_KEY", "ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY"} {
		t.Setenv(name, "")
	}
	c := sharedCluster(t)
	ctx := ctxT(t)
	srv := anaplantest.New(t)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "cs-client", Secret: "cs-secret", Rotating: true})
	_, refresh, _ := srv.IssueOAuthTokens("cs-client", "cs.user@example.com")
	key := newKey(t)
	seed := newStore(t, c.client(t), key, anaplan.SettingsKey("cs-client", "cs-secret"))
	if err := seed.Save(ctx, &anaplan.Settings{RefreshToken: refresh, ClientID: "cs-client"}); err != nil {
		t.Fatal(err)
	}
	cs := "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=cs-client;OAuthClientSecret=cs-secret" +
		";AuthURL=" + srv.Endpoints().Auth + ";APIURL=" + srv.Endpoints().API + ";OAuthURL=" + srv.URL() +
		";OAuthSettingsLocation='etcd://" + c.hosts() + key + "'"
	cl, err := anaplan.New(ctx, anaplan.FromConnectionString(cs), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.HTTPClient().Get(cl.Endpoints().API + "/users/me")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /users/me: %s", resp.Status)
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := seed.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken == refresh || got.RefreshToken == "" || got.AccessToken == "" {
		t.Fatalf("the rotated tokens were not saved in etcd: %v", got)
	}
	if srv.GrantRevocations() != 0 {
		t.Fatal("grant revoked")
	}

	// A bad location fails New with an error that names neither the hosts
	// nor the credentials.
	_, err = anaplan.New(ctx, anaplan.FromConnectionString(strings.Replace(cs, "etcd://", "etcd://root:s3cret-pw@", 1)))
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), c.hosts()) {
		t.Fatalf("New with credentials in the location: %v", err)
	}
}
