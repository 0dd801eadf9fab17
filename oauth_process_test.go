package anaplan_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// The tests below start copies of this test binary as other processes (other
// machines, as far as the settings file is concerned). A child runs
// TestOAuthChildProcess with its orders in the environment.
const childEnv = "ANAPLAN_TEST_CHILD"

// TestOAuthChildProcess is the child's side; it does nothing in a normal run.
func TestOAuthChildProcess(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as a child process of the multi-process tests")
	}
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.FromConnectionString(os.Getenv("ANAPLAN_CHILD_CS")))
	if err != nil {
		fmt.Printf("RESULT connect-error %v\n", err)
		t.Fatal(err)
	}
	defer c.Close(ctx)
	get := func() error {
		resp, err := c.HTTPClient().Get(c.Endpoints().API + "/users/me")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := anaplan.CheckResponse(resp); err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		if mode == "whoami" {
			fmt.Printf("RESULT whoami %s\n", b)
		}
		return nil
	}
	switch mode {
	case "whoami":
		if err := get(); err != nil {
			t.Fatal(err)
		}
	case "soak":
		d, _ := time.ParseDuration(os.Getenv("ANAPLAN_CHILD_DURATION"))
		var ok, bad int
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(3 * time.Millisecond) {
			if err := get(); err != nil {
				bad++
				fmt.Printf("ERROR %v\n", err)
			} else {
				ok++
			}
		}
		fmt.Printf("RESULT soak ok=%d errors=%d\n", ok, bad)
		if bad > 0 {
			t.Fail()
		}
	}
}

// child starts one child process.
func child(t *testing.T, mode, cs string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOAuthChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode, "ANAPLAN_CHILD_CS=" + cs}, env...)...)
	return cmd
}

// trustFile writes the fake's certificate where a child's SSL_CERT_FILE
// points, as a user points it at a private CA.
func trustFile(t *testing.T, srv *anaplantest.Server) string {
	p := filepath.Join(t.TempDir(), "fake-ca.pem")
	if err := os.WriteFile(p, srv.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return "SSL_CERT_FILE=" + p
}

func hostsOf(srv *anaplantest.Server) string {
	return ";AuthURL=" + srv.Endpoints().Auth + ";APIURL=" + srv.Endpoints().API + ";OAuthURL=" + srv.URL()
}

// A settings file made by signing in on a machine with a browser works when
// copied to a headless machine (another process, another directory).
func TestOAuthSettingsFileMovesToHeadlessMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	f := newOAuthFake(t)
	ctx := context.Background()
	machineA := filepath.Join(t.TempDir(), "settings")
	base := "AuthScheme=OAuth;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret + hostsOf(f.Server)

	// Machine A: a person signs in in the browser.
	c, err := anaplan.New(ctx, append(f.options(), anaplan.FromConnectionString(base+";InitiateOAuth=GETANDREFRESH;CallbackURL="+f.callback+";OAuthSettingsLocation='"+machineA+"'"),
		anaplan.WithOAuthOpenURLForTest(f.browser(t, nil)))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	// Copied to machine B, used there with REFRESH: no browser, no prompt.
	data, err := os.ReadFile(machineA)
	if err != nil {
		t.Fatal(err)
	}
	machineB := filepath.Join(t.TempDir(), "copied", "settings")
	os.MkdirAll(filepath.Dir(machineB), 0o700)
	if err := os.WriteFile(machineB, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f.Advance(40 * time.Minute) // the access token has expired: machine B must refresh
	out, err := child(t, "whoami", base+";InitiateOAuth=REFRESH;OAuthSettingsLocation='"+machineB+"'", trustFile(t, f.Server)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RESULT whoami") || !strings.Contains(string(out), oauthUser) {
		t.Fatalf("headless machine: %v\n%s", err, out)
	}
	if f.GrantRevocations() != 0 {
		t.Fatal("grant revoked")
	}
	if before, _ := os.ReadFile(machineB); bytes.Equal(before, data) {
		t.Fatal("machine B did not persist its rotated refresh token")
	}
}

// Several processes share one settings file and keep refreshing against a
// server that rotates refresh tokens and revokes the grant on reuse.
func TestOAuthMultiProcessRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	procs, d := 4, 3*time.Second
	if os.Getenv("ANAPLAN_SOAK") != "" {
		procs, d = 8, 60*time.Second
	}
	const ttl = 2 * time.Second
	f := newOAuthFake(t)
	f.SetAccessTokenTTL(ttl)
	followRealTime(t, f.Server) // the children use real time

	_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
	settings := filepath.Join(t.TempDir(), "shared-settings")
	ctx := context.Background()
	seed := anaplan.NewFileStore(settings, anaplan.SettingsKey(codeClientID, codeSecret))
	if err := seed.Save(ctx, &anaplan.Settings{RefreshToken: refresh, ClientID: codeClientID}); err != nil {
		t.Fatal(err)
	}
	cs := "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret +
		hostsOf(f.Server) + ";OAuthSettingsLocation='" + settings + "'"
	trust := trustFile(t, f.Server)
	outs := make([]bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range procs {
		cmds[i] = child(t, "soak", cs, trust, "ANAPLAN_CHILD_DURATION="+d.String())
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil || !strings.Contains(outs[i].String(), "errors=0") {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	uses := f.RefreshTokenUses()
	for rt, n := range uses {
		if n != 1 {
			t.Errorf("refresh token %.6s… presented %d times", rt, n)
		}
	}
	if r := f.GrantRevocations(); r != 0 {
		t.Errorf("%d grants revoked", r)
	}
	// One refresh per expiry across all processes, not one per process: a
	// token is refreshed once more than 1 s of its 2 s have passed.
	if max := int(d/time.Second) + 2; len(uses) > max {
		t.Errorf("%d refreshes in %v by %d processes; one per expiry allows at most %d", len(uses), d, procs, max)
	}
	if len(uses) < 2 {
		t.Errorf("only %d refreshes in %v: the test did not exercise rotation", len(uses), d)
	}
	t.Logf("%d processes, %v: %d refreshes, each refresh token used once", procs, d, len(uses))
}

// followRealTime keeps srv's clock on real time until the test ends, for
// tests whose child processes use the real clock.
func followRealTime(t *testing.T, srv *anaplantest.Server) {
	stop := make(chan struct{})
	var ticking sync.WaitGroup
	ticking.Add(1)
	go func() {
		defer ticking.Done()
		for {
			srv.SetNow(time.Now())
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); ticking.Wait() })
}
