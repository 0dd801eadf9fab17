// The fake command: a fake Anaplan with the demo's data, served on loopback
// until interrupted, for trying the commands or testing programs in any
// language against it.

package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan/anaplantest"
)

// demoOAuthClient is the fake's OAuth client: a device-grant client with
// rotating refresh tokens, as a tenant administrator would register one.
const demoOAuthClient = "anaplan-cli-demo"

// demoTenant is a fake Anaplan holding the demo's data.
type demoTenant struct {
	srv      *anaplantest.Server
	password string
}

// newDemoTenant starts a fake Anaplan with the demo's user, workspace,
// models, file, imports, export, process and action. (The fake command adds
// an OAuth client and a certificate; the demo uses neither.)
func newDemoTenant(opts ...anaplantest.Option) *demoTenant {
	srv := anaplantest.NewServer(opts...)
	password := randomWord()
	srv.AddUser(demoUser, password)
	srv.AddWorkspace(anaplantest.Workspace{ID: demoWorkspace, Name: "Demo"})
	srv.AddModel(demoWorkspace, anaplantest.Model{ID: demoModel, Name: "Sales Planning"})
	srv.AddModel(demoWorkspace, anaplantest.Model{ID: "E5B7D3B2A1C04F2D9C6F7A8B9C0D1E2F", Name: "Workforce", State: "ARCHIVED"})
	srv.AddFile(demoWorkspace, demoModel, anaplantest.File{ID: demoFile, Name: "sales.csv"})
	srv.AddImport(demoWorkspace, demoModel, anaplantest.Import{ID: "112000000001", Name: "Load sales", FileID: demoFile, Task: anaplantest.TaskBehaviour{Polls: 3}})
	srv.AddImport(demoWorkspace, demoModel, anaplantest.Import{ID: "112000000002", Name: "Load sales (strict)", FileID: demoFile,
		Task: anaplantest.TaskBehaviour{Polls: 1, Fail: true, Message: "2 rows rejected: Gadgets is not in the Products list",
			Dump: []byte("Region,Product,Month,Units,Revenue,_Line_,_Error_1_\nNorth,Gadgets,Jan 26,80,3200,3,Item not located in Products list: Gadgets\nSouth,Gadgets,Jan 26,60,2400,5,Item not located in Products list: Gadgets\n")}})
	srv.AddExport(demoWorkspace, demoModel, anaplantest.Export{ID: "116000000001", Name: "Revenue by region.csv", Content: []byte(demoRevenue), Task: anaplantest.TaskBehaviour{Polls: 2}})
	srv.AddProcess(demoWorkspace, demoModel, anaplantest.Process{ID: "118000000001", Name: "Nightly load", Actions: []string{"112000000001", "116000000001"}})
	srv.AddAction(demoWorkspace, demoModel, anaplantest.Action{ID: "117000000001", Name: "Clear last month"})
	return &demoTenant{srv: srv, password: password}
}

// certificate issues a client certificate for the demo user from the
// fake's CA, in PEM: the certificate, and its key in PKCS#8.
func (d *demoTenant) certificate() (certPEM, keyPEM []byte, err error) {
	cert, key, err := d.srv.IssueCertificate(demoUser)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// basic is the connection string that signs in with Basic.
func (d *demoTenant) basic() string {
	return fmt.Sprintf("AuthScheme=Basic;User=%s;Password=%s;AuthURL=%s;APIURL=%s", demoUser, d.password, d.srv.URL(), d.srv.Endpoints().API)
}

// oauth is the connection string that signs in with the OAuth device grant
// and keeps its settings at settings.
func (d *demoTenant) oauth(settings string) string {
	return fmt.Sprintf("AuthScheme=OAuth;OAuthClientId=%s;InitiateOAuth=REFRESH;OAuthSettingsLocation=%s;OAuthURL=%s;AuthURL=%s;APIURL=%s",
		demoOAuthClient, quoteValue(settings), d.srv.URL(), d.srv.URL(), d.srv.Endpoints().API)
}

// quoteValue quotes a connection-string value when it needs it.
func quoteValue(v string) string {
	if !strings.ContainsAny(v, ";=\"' ") {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
}

func demoFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.dir, "dir", "", "keep the demo's files (the upload, the export, the failure dump) in this directory (default: a temporary one, removed at the end)")
}

func fakeFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.dir, "dir", "", "write the CA certificate and the connection files into this directory, and keep them (default: a temporary one, removed at the end)")
	fs.BoolVar(&o.json, "json", false, "print what to connect with as one JSON object")
}

// fakeInfo is what the fake command prints with --json.
type fakeInfo struct {
	URL                 string `json:"url"`
	CACertificate       string `json:"caCertificate"`
	Connection          string `json:"connection"`
	ConnectionFile      string `json:"connectionFile"`
	OAuthConnection     string `json:"oauthConnection"`
	OAuthConnectionFile string `json:"oauthConnectionFile"`
	OAuthSettings       string `json:"oauthSettings"`

	CertificateConnection     string `json:"certificateConnection"`
	CertificateConnectionFile string `json:"certificateConnectionFile"`
	User                      string `json:"user"`
	Workspace                 string `json:"workspace"`
	Model                     string `json:"model"`
	Temporary                 bool   `json:"temporary"`
}

func cmdFake(ctx context.Context, a *app, _ []string) error {
	dir, temporary := a.o.dir, a.o.dir == ""
	if temporary {
		d, err := os.MkdirTemp("", "anaplan-fake-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	d := newDemoTenant(anaplantest.WithDeviceInterval(time.Second))
	defer d.srv.Close()
	d.srv.SetOAuthUser(demoUser)
	d.srv.AddOAuthClient(anaplantest.OAuthClient{ID: demoOAuthClient, Rotating: true})
	info := fakeInfo{
		URL:                 d.srv.URL(),
		CACertificate:       filepath.Join(dir, "ca.pem"),
		Connection:          d.basic(),
		ConnectionFile:      filepath.Join(dir, "connection"),
		OAuthSettings:       filepath.Join(dir, "oauth-settings"),
		OAuthConnectionFile: filepath.Join(dir, "oauth-connection"),
		User:                demoUser,
		Workspace:           "Demo",
		Model:               "Sales Planning",
		Temporary:           temporary,
	}
	info.OAuthConnection = d.oauth(info.OAuthSettings)
	certPEM, keyPEM, err := d.certificate()
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(dir, "user-cert.pem"), filepath.Join(dir, "user-key.pem")
	info.CertificateConnectionFile = filepath.Join(dir, "certificate-connection")
	info.CertificateConnection = fmt.Sprintf("AuthScheme=Certificate;Certificate=%s;PrivateKey=%s;AuthURL=%s;APIURL=%s",
		quoteValue(certFile), quoteValue(keyFile), d.srv.URL(), d.srv.Endpoints().API)
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{
		{info.CACertificate, string(d.srv.CertificatePEM()), 0o644},
		{certFile, string(certPEM), 0o644},
		{keyFile, string(keyPEM), 0o600},
		{info.CertificateConnectionFile, info.CertificateConnection + "\n", 0o600},
		{info.ConnectionFile, info.Connection + "\n", 0o600},
		{info.OAuthConnectionFile, info.OAuthConnection + "\n", 0o600},
	} {
		if err := os.WriteFile(f.path, []byte(f.text), f.mode); err != nil {
			return err
		}
	}
	if a.o.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(info); err != nil {
			return err
		}
	} else {
		w := a.stdout
		fmt.Fprintf(w, "A fake Anaplan (package anaplantest) is serving at %s with the demo's data.\n\n", info.URL)
		fmt.Fprintf(w, "CA certificate:   %s (trust it with SSL_CERT_FILE)\n", info.CACertificate)
		fmt.Fprintf(w, "Basic connection: %s\n                  (also in %s)\n", info.Connection, info.ConnectionFile)
		fmt.Fprintf(w, "OAuth connection: %s\n                  (also in %s; run 'anaplan login' with it and open the page it shows)\n", info.OAuthConnection, info.OAuthConnectionFile)
		fmt.Fprintf(w, "Certificate connection: %s\n                  (also in %s)\n\n", info.CertificateConnection, info.CertificateConnectionFile)
		fmt.Fprintf(w, "In another shell:\n")
		fmt.Fprintf(w, "    export SSL_CERT_FILE=%s\n", quoteArg(info.CACertificate))
		fmt.Fprintf(w, "    export ANAPLAN_CONNECTION_FILE=%s\n", quoteArg(info.ConnectionFile))
		fmt.Fprintf(w, "    export ANAPLAN_WORKSPACE=Demo ANAPLAN_MODEL='Sales Planning'\n")
		fmt.Fprintf(w, "    anaplan whoami; anaplan files; anaplan run import 'Load sales'\n\n")
		if temporary {
			fmt.Fprintf(w, "Press Ctrl-C to stop; these files are temporary and are removed then (keep them with --dir DIR).\n")
		} else {
			fmt.Fprintf(w, "Press Ctrl-C to stop; the files in %s are kept.\n", dir)
		}
	}
	<-ctx.Done()
	return nil
}
