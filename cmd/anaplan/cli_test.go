package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// inProcess runs a command line in this process, with no environment.
func inProcess(args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(string) string { return "" },
	})
	return result{out.String(), errb.String(), code}
}

// helpFlags are the flag names a command's help lists.
func helpFlags(help string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^    (--?[a-z][a-z-]*)`).FindAllStringSubmatch(help, -1) {
		names = append(names, strings.TrimLeft(m[1], "-"))
	}
	slices.Sort(names)
	return names
}

// TestEachCommandTakesExactlyItsFlags: a command's help lists its flags and
// no other, the command accepts each of them and refuses any other flag
// (whoami --model X, workspaces --workspace X and files --json with a
// workspace were once accepted and ignored, or listed but refused).
func TestEachCommandTakesExactlyItsFlags(t *testing.T) {
	all := map[string]bool{}
	for _, c := range commands {
		var o opts
		newFlagSet(c, &o).VisitAll(func(f *flag.Flag) { all[f.Name] = true })
	}
	want := map[string][]string{
		"login":      {"connection", "connection-file", "json"},
		"logout":     {"connection", "connection-file"},
		"token":      {"connection", "connection-file", "json"},
		"whoami":     {"connection", "connection-file", "json"},
		"workspaces": {"connection", "connection-file", "json"},
		"models":     {"connection", "connection-file", "json", "workspace"},
		"files":      {"connection", "connection-file", "json", "model", "workspace"},
		"imports":    {"connection", "connection-file", "json", "model", "workspace"},
		"exports":    {"connection", "connection-file", "json", "model", "workspace"},
		"processes":  {"connection", "connection-file", "json", "model", "workspace"},
		"actions":    {"connection", "connection-file", "json", "model", "workspace"},
		"upload":     {"chunk-size", "concurrency", "connection", "connection-file", "file", "gzip", "json", "model", "workspace"},
		"download":   {"concurrency", "connection", "connection-file", "force", "json", "model", "o", "workspace"},
		"run":        {"connection", "connection-file", "dump-dir", "file", "force", "json", "locale", "model", "poll-interval", "workspace"},
		"demo":       {"dir"},
		"fake":       {"dir", "json"},
		"version":    nil,
		"help":       nil,
	}
	for name, flags := range dataCommandFlags { // data_test.go
		want[name] = flags
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			r := inProcess(c.name, "--help")
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: anaplan "+c.name) {
				t.Fatalf("%s --help: exit %d\n%s%s", c.name, r.code, r.stdout, r.stderr)
			}
			if h := inProcess("help", c.name); h != r {
				t.Errorf("'anaplan help %s' differs from '%s --help':\n%s\n---\n%s", c.name, c.name, h.stdout, r.stdout)
			}
			got := helpFlags(strings.SplitN(r.stdout, "\nThe connection comes", 2)[0])
			if d := cmp.Diff(want[c.name], got); d != "" {
				t.Errorf("flags in the help (-want +got):\n%s", d)
			}
			for name := range all {
				if slices.Contains(want[c.name], name) {
					continue
				}
				r := inProcess(c.name, "--"+name+"=x")
				if r.code != exitUsage || !strings.Contains(r.stderr, dashed(name)+" is not a flag of "+c.name) {
					t.Errorf("%s --%s=x: exit %d, %q; want exit 2 saying it is not a flag of %s", c.name, name, r.code, r.stderr, c.name)
				}
			}
		})
	}
	// The general help points at the commands' help instead of listing
	// flags as if every command took them.
	r := inProcess("help")
	if strings.Contains(r.stdout, "Flags of every command") || !strings.Contains(r.stdout, "anaplan help COMMAND") {
		t.Errorf("help:\n%s", r.stdout)
	}
	if r := inProcess("help", "nope"); r.code != exitUsage {
		t.Errorf("help nope: exit %d", r.code)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		r := inProcess(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "anaplan "+anaplan.Version+" (go") {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stdout)
		}
	}
}

// TestTypoMessage: short, one suggestion, no stray full stop before the
// pointer to help (it was `…did you mean "whoami"?. The commands are: …`).
func TestTypoMessage(t *testing.T) {
	r := inProcess("whoamii")
	want := "anaplan: unknown command; did you mean \"whoami\"?\nRun 'anaplan help' for usage.\n"
	if r.code != exitUsage || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 2, %q", r.code, r.stderr, want)
	}
}

// TestSecretFlagValuesAreNotEchoed: whatever form a flag's value takes, a
// message never shows it (`--json=SECRET` was echoed in "invalid boolean
// value").
func TestSecretFlagValuesAreNotEchoed(t *testing.T) {
	const secret = "Hunter2Sekr1t"
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"--json=SECRET", []string{"whoami", "--json=" + secret}, "the value given to --json is not valid"},
		{"-json=SECRET", []string{"whoami", "-json=" + secret}, "the value given to --json is not valid"},
		{"--json=SECRET before the command", []string{"--json=" + secret, "whoami"}, "the value given to --json is not valid"},
		{"--password=SECRET", []string{"whoami", "--password=" + secret}, "--password is not a flag of whoami"},
		{"--password SECRET", []string{"whoami", "--password", secret}, "--password is not a flag of whoami"},
		{"-x=SECRET", []string{"whoami", "-x=" + secret}, "-x is not a flag of whoami"},
		{"-p SECRET", []string{"whoami", "-p", secret}, "-p is not a flag of whoami"},
		{"--json SECRET", []string{"whoami", "--json", secret}, "whoami takes no arguments"},
		{"--connection=…Password=SECRET…", []string{"whoami", "--connection=AuthScheme=Basic;User=u;Password=" + secret + ";Region=XX1"}, "Region must be one of"},
		{"--connection …Password=SECRET… (bad syntax)", []string{"whoami", "--connection", "AuthScheme=Basic;User=u;Password='" + secret}, "connection string"},
		{"--connection=…Password=SECRET… on a command without it", []string{"demo", "--connection=AuthScheme=Basic;Password=" + secret}, "--connection is not a flag of demo"},
		{"--concurrency=SECRET", []string{"download", "f", "--model", "M", "--concurrency=" + secret}, "the value given to --concurrency is not valid"},
		{"--chunk-size SECRET", []string{"upload", "f", "--model", "M", "--chunk-size", secret}, "the value given to --chunk-size is not valid"},
		{"--poll-interval=SECRET", []string{"run", "import", "x", "--model", "M", "--poll-interval=" + secret}, "the value given to --poll-interval is not valid"},
		{"--connection-file=SECRET", []string{"whoami", "--connection-file=" + filepath.Join(dir, secret)}, "cannot be opened: no such file"},
		{"---json=SECRET", []string{"whoami", "---json=" + secret}, "bad flag syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inProcess(tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want 2", r.code)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the secret is echoed:\n%s%s", r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q should say %q", r.stderr, tt.want)
			}
		})
	}
}

// TestBadConfigurationExits2: a connection string that cannot work is bad
// usage (exit 2) and sends nothing; a refusal by the server is a failure
// (exit 1). A connection string without Password exited 1.
func TestBadConfigurationExits2(t *testing.T) {
	tn := newTenant(t)
	base := fmt.Sprintf("AuthURL=%s;APIURL=%s", tn.srv.URL(), tn.srv.Endpoints().API)
	tests := []struct {
		name, conn string
		code       int
		want       string
	}{
		{"no password", "AuthScheme=Basic;User=" + user + ";" + base, exitUsage, "Password: is required"},
		{"no user", "AuthScheme=Basic;Password=x;" + base, exitUsage, "User: is required"},
		{"unknown scheme", "AuthScheme=Kerberos;User=x;Password=y;" + base, exitUsage, "AuthScheme"},
		{"missing certificate", "AuthScheme=Certificate;Certificate=missing.pem;PrivateKey=missing.key;" + base, exitUsage, "Certificate"},
		{"bad timeout", "AuthScheme=Basic;User=x;Password=y;Timeout=soon;" + base, exitUsage, "Timeout"},
		{"wrong password", "AuthScheme=Basic;User=" + user + ";Password=wrong;" + base, exitFailure, "check the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tn.srv.Calls("")
			r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": tt.conn}, "", "whoami")
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if n := tn.srv.Calls("") - before; tt.code == exitUsage && n != 0 {
				t.Errorf("%d requests sent for a configuration that cannot work", n)
			}
		})
	}
}

// TestConnectionFromFileOrStdin: --connection-file FILE, --connection-file -
// and $ANAPLAN_CONNECTION_FILE keep the password out of ps and shell
// history.
func TestConnectionFromFileOrStdin(t *testing.T) {
	tn := newTenant(t)
	file := filepath.Join(tn.dir, "conn")
	if err := os.WriteFile(file, []byte(tn.conn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := map[string]string{"ANAPLAN_CONNECTION": ""}
	for _, tt := range []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
	}{
		{"--connection-file FILE", noEnv, "", []string{"whoami", "--connection-file", file}},
		{"--connection-file=FILE before the command", noEnv, "", []string{"--connection-file=" + file, "whoami"}},
		{"--connection-file -", noEnv, tn.conn + "\r\n", []string{"whoami", "--connection-file", "-"}},
		{"$ANAPLAN_CONNECTION_FILE", map[string]string{"ANAPLAN_CONNECTION": "", "ANAPLAN_CONNECTION_FILE": file}, "", []string{"whoami"}},
		{"the file wins over $ANAPLAN_CONNECTION", map[string]string{"ANAPLAN_CONNECTION": "AuthScheme=Basic;User=x;Password=y;Region=XX1"}, "", []string{"whoami", "--connection-file", file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tn.runEnv(tt.env, tt.stdin, tt.args...)
			if r.code != 0 || !strings.Contains(r.stdout, user) {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			tn.noSecrets(r)
		})
	}
	big := filepath.Join(tn.dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), maxConnectionFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"both", "", []string{"whoami", "--connection-file", file, "--connection", tn.conn}, "keep one"},
		{"a directory", "", []string{"whoami", "--connection-file", tn.dir}, "not a regular file"},
		{"a device", "", []string{"whoami", "--connection-file", os.DevNull}, "not a regular file"},
		{"too long", "", []string{"whoami", "--connection-file", big}, "longer than 1 MiB"},
		{"empty stdin", "", []string{"whoami", "--connection-file", "-"}, "no connection"},
		{"stdin twice", tn.conn, []string{"upload", "-", "--file", "x", "--model", modelID, "--connection-file", "-"}, "standard input cannot hold both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tn.runEnv(noEnv, tt.stdin, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
			tn.noSecrets(r)
		})
	}
}

// TestEndsSession pins what the CLI reads from Client.String: only Basic and
// Certificate clients log a session out when closed (so token leaves them
// open); every other client is closed, saving what it holds.
func TestEndsSession(t *testing.T) {
	srv := anaplantest.New(t)
	srv.AddUser(user, password)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "c"})
	access, refresh, _ := srv.IssueOAuthTokens("c", user)
	cert, key, err := srv.IssueCertificate(user)
	if err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(t.TempDir(), "s")
	ep := fmt.Sprintf("OAuthURL=%s;AuthURL=%s;APIURL=%s", srv.URL(), srv.URL(), srv.Endpoints().API)
	tests := []struct {
		name string
		opts []anaplan.Option
		want bool
	}{
		{"Basic", []anaplan.Option{anaplan.WithBasic(user, password)}, true},
		{"Certificate", []anaplan.Option{anaplan.WithCertificate(cert, key)}, true},
		{"OAuth, scheme inferred", []anaplan.Option{anaplan.FromConnectionString("OAuthClientId=c;InitiateOAuth=REFRESH;OAuthAccessToken=" + access + ";OAuthRefreshToken=" + refresh + ";OAuthSettingsLocation=" + settings + ";" + ep)}, false},
		{"token source", []anaplan.Option{anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: access, Type: "Bearer"}, nil
		}))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := anaplan.New(t.Context(), append([]anaplan.Option{anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client())}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if got := endsSession(c); got != tt.want {
				t.Errorf("endsSession(%v) = %t, want %t", c, got, tt.want)
			}
		})
	}
	for cs, want := range map[string]bool{
		"AuthScheme=OAuth;OAuthClientId=c": true, "OAuthClientId=c": true, "OAuthRefreshToken=r": true,
		"AuthScheme=Basic;User=u;Password=p": false, "User=u;Password=p": false, "Certificate=c.pem": false, "AuthScheme=Certificate;OAuthClientId=c": false,
	} {
		if got := mayPersist(cs); got != want {
			t.Errorf("mayPersist(%q) = %t, want %t", cs, got, want)
		}
	}
}

// oauthTenant is a tenant with a rotating OAuth client and a grant for the
// user, and the connection string that refreshes it (the scheme inferred)
// and keeps the settings in a file.
func oauthTenant(t *testing.T) (tn *tenant, conn, settingsOnly, settings string) {
	tn = newTenant(t)
	tn.srv.AddOAuthClient(anaplantest.OAuthClient{ID: "rot", Rotating: true})
	_, refresh, _ := tn.srv.IssueOAuthTokens("rot", user)
	settings = filepath.Join(tn.dir, "oauth-settings")
	ep := fmt.Sprintf("OAuthURL=%s;AuthURL=%s;APIURL=%s", tn.srv.URL(), tn.srv.URL(), tn.srv.Endpoints().API)
	settingsOnly = "OAuthClientId=rot;InitiateOAuth=REFRESH;OAuthSettingsLocation=" + settings + ";" + ep
	return tn, settingsOnly + ";OAuthRefreshToken=" + refresh, settingsOnly, settings
}

// TestTokenClosesAnInferredOAuthClient: token closes every client that
// persists tokens, not only those with an explicit AuthScheme=OAuth (it
// looked at AuthScheme alone), so the rotated refresh token is saved and the
// next run signs in from the settings alone.
func TestTokenClosesAnInferredOAuthClient(t *testing.T) {
	tn, conn, settingsOnly, settings := oauthTenant(t)
	r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": conn}, "", "token")
	if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(settings); err != nil {
		t.Fatalf("no settings saved: %v", err)
	}
	tn.srv.Advance(2 * time.Hour) // the access token saved has expired: the saved refresh token must work
	if r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": settingsOnly}, "", "whoami"); r.code != 0 || !strings.Contains(r.stdout, user) {
		t.Errorf("whoami from the saved settings: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := tn.srv.GrantRevocations(); n != 0 {
		t.Errorf("%d grants revoked", n)
	}
}

// TestSecondInterruptWaitsForTheSave: a second Ctrl-C during a token
// refresh waits (bounded, and says so) for the refresh and its save, then
// exits 130; the rotated refresh token is on disk and the next run works.
// It once ended the process at once, losing the rotated token (the grant
// was then revoked at the next use of the old one). A third Ctrl-C ends the
// wait at once.
func TestSecondInterruptWaitsForTheSave(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	for _, third := range []bool{false, true} {
		t.Run(fmt.Sprintf("third Ctrl-C %t", third), func(t *testing.T) {
			tn, conn, settingsOnly, settings := oauthTenant(t)
			latency := 2 * time.Second
			if third {
				latency = 8 * time.Second
			}
			tn.srv.FailNext(1, anaplantest.Fault{Latency: latency, Path: "POST /oauth/token"})
			cmd := tn.command(map[string]string{"ANAPLAN_CONNECTION": conn}, "whoami")
			var errb syncBuffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited; exited <- nil })
			deadline := time.Now().Add(15 * time.Second)
			for tn.srv.Calls("POST /oauth/token") == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no refresh was sent")
				}
				time.Sleep(5 * time.Millisecond) // another process: no clock to inject
			}
			start := time.Now()
			for range 2 {
				time.Sleep(100 * time.Millisecond) // let each Ctrl-C be taken in turn
				if err := cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatal(err)
				}
			}
			if third {
				waitFor(t, &errb, "waiting up to 10s for a token refresh to be saved")
				if err := cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-exited:
				exited <- err
			case <-time.After(12 * time.Second):
				t.Fatalf("still running 12 s after the second Ctrl-C; stderr:\n%s", errb.String())
			}
			took := time.Since(start)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
				t.Fatalf("exit %v, want 130; stderr:\n%s", err, errb.String())
			}
			if !strings.Contains(errb.String(), "waiting up to 10s for a token refresh to be saved") {
				t.Errorf("stderr does not say it waits:\n%s", errb.String())
			}
			if third {
				if took > 3*time.Second {
					t.Errorf("the third Ctrl-C took %v to end the process", took)
				}
				return
			}
			if took < latency-500*time.Millisecond {
				t.Errorf("exited after %v: did not wait for the %v refresh", took, latency)
			}
			if _, err := os.Stat(settings); err != nil {
				t.Fatalf("the rotated tokens were not saved: %v", err)
			}
			tn.srv.Advance(2 * time.Hour)
			if r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": settingsOnly}, "", "whoami"); r.code != 0 {
				t.Errorf("the next run: exit %d\n%s", r.code, r.stderr)
			}
			if n := tn.srv.GrantRevocations(); n != 0 {
				t.Errorf("%d grants revoked", n)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until buf holds s (written by another process).
func waitFor(t *testing.T, buf *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q in:\n%s", s, buf.String())
		}
		time.Sleep(10 * time.Millisecond) // another process: no clock to inject
	}
}

// TestInterruptClearsTheProgressLine: the first Ctrl-C erases the progress
// bar before its message (it printed "in progress^Canaplan: interrupted…"),
// and the bar draws nothing more.
func TestInterruptClearsTheProgressLine(t *testing.T) {
	var errb syncBuffer
	a := &app{env: env{stderr: &errb, terminal: true}}
	b := a.progress("import Load sales")
	b.task(anaplan.Task{State: anaplan.TaskInProgress, Progress: 0.5})
	sig := make(chan os.Signal, 3)
	ctx, cancel := context.WithCancelCause(context.Background())
	exited := make(chan int, 1)
	go interrupts(sig, cancel, &errb, func(code int) { exited <- code })
	sig <- os.Interrupt
	<-ctx.Done()
	b.task(anaplan.Task{State: anaplan.TaskInProgress, Progress: 0.6})
	b.done()
	got := errb.String()
	want := "\r\033[Kimport Load sales [###############...............]  50% in progress\r\033[Kanaplan: interrupted: stopping (press Ctrl-C again to quit)\n"
	if got != want {
		t.Errorf("stderr\n got %q\nwant %q", got, want)
	}
	if !errors.Is(context.Cause(ctx), errInterrupted) {
		t.Errorf("cause %v", context.Cause(ctx))
	}
	// Nothing to save: the second Ctrl-C exits at once, with 130.
	sig <- os.Interrupt
	select {
	case code := <-exited:
		if code != exitInterrupted {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second Ctrl-C did not exit")
	}
}

// TestFakeServesTheCLI runs 'anaplan fake' as a user would and points the
// built command at it with SSL_CERT_FILE and the connection file it wrote:
// OAuth login (device grant, approved on the page it shows), whoami,
// listings, upload, download and run; Ctrl-C stops it, exit 130, and the
// files it wrote are kept with --dir and removed without it.
func TestFakeServesTheCLI(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	keep := t.TempDir()
	fake := exec.Command(binary, "fake", "--json", "--dir", keep)
	stdout, err := fake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var fakeErr bytes.Buffer
	fake.Stderr = &fakeErr
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fake.Wait() }()
	t.Cleanup(func() { _ = fake.Process.Kill(); <-exited; exited <- nil })
	var info fakeInfo
	if err := json.NewDecoder(stdout).Decode(&info); err != nil {
		t.Fatalf("reading what fake printed: %v\n%s", err, fakeErr.String())
	}
	if info.Temporary || filepath.Dir(info.CACertificate) != keep {
		t.Errorf("fake --dir %s wrote to %s (temporary %t)", keep, info.CACertificate, info.Temporary)
	}

	home := t.TempDir()
	work := t.TempDir()
	userCmd := func(stdin string, args ...string) result {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Dir = work
		cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "SSL_CERT_FILE=" + info.CACertificate,
			"ANAPLAN_CONNECTION_FILE=" + info.ConnectionFile, "ANAPLAN_WORKSPACE=" + info.Workspace, "ANAPLAN_MODEL=" + info.Model}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{out.String(), errb.String(), code}
	}
	ok := func(args ...string) string {
		t.Helper()
		r := userCmd("", args...)
		if r.code != 0 {
			t.Fatalf("anaplan %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout + r.stderr
	}
	contains := func(what, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, got)
			}
		}
	}

	contains("whoami", ok("whoami"), demoUser)
	contains("workspaces", ok("workspaces"), "Demo", demoWorkspace)
	contains("models", ok("models"), "Sales Planning", "Workforce")
	contains("files", ok("files"), "sales.csv", demoFile)
	contains("imports", ok("imports"), "Load sales", "Load sales (strict)")
	contains("exports", ok("exports"), "Revenue by region.csv")
	contains("processes", ok("processes"), "Nightly load")
	contains("actions", ok("actions"), "Clear last month")
	if err := os.WriteFile(filepath.Join(work, "sales.csv"), []byte(demoSales), 0o600); err != nil {
		t.Fatal(err)
	}
	contains("upload", ok("upload", "sales.csv"), "Uploaded 181 B to sales.csv")
	contains("download", ok("download", "sales.csv", "-o", "back.csv"), "Downloaded 181 B")
	if b, _ := os.ReadFile(filepath.Join(work, "back.csv")); string(b) != demoSales {
		t.Errorf("downloaded %q", b)
	}
	contains("run import", ok("run", "import", "Load sales", "--poll-interval", "5ms"), "completed")
	contains("run export", ok("run", "export", "Revenue by region.csv", "--file", "rev.csv", "--poll-interval", "5ms"), "completed")
	if b, _ := os.ReadFile(filepath.Join(work, "rev.csv")); string(b) != demoRevenue {
		t.Errorf("export saved %q", b)
	}
	contains("run process", ok("run", "process", "Nightly load", "--poll-interval", "5ms"), "completed")
	if r := userCmd("", "run", "import", "Load sales (strict)", "--poll-interval", "5ms", "--dump-dir", work); r.code != exitFailure || !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("the failing import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// OAuth: log in with the device grant, headless: approve the code on the
	// page the command shows, as a person would in a browser.
	login := exec.Command(binary, "login", "--connection-file", info.OAuthConnectionFile)
	login.Dir = work
	login.Env = []string{"HOME=" + home, "SSL_CERT_FILE=" + info.CACertificate}
	loginErr, err := login.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var loginOut bytes.Buffer
	login.Stdout = &loginOut
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(info.CACertificate)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("the CA certificate %s: %v", info.CACertificate, err)
	}
	browser := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	sc := bufio.NewScanner(loginErr)
	var shown strings.Builder
	approved := false
	prompt := regexp.MustCompile(`open (\S+) and enter the code (\S+)`)
	for sc.Scan() {
		shown.WriteString(sc.Text() + "\n")
		if m := prompt.FindStringSubmatch(sc.Text()); m != nil && !approved {
			page := m[1]
			if !strings.Contains(page, "user_code=") {
				page += "?user_code=" + m[2]
			}
			resp, err := browser.Get(page)
			if err != nil {
				t.Fatalf("opening the device page: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "approved") {
				t.Errorf("the device page said %s", body)
			}
			approved = true
		}
	}
	if err := login.Wait(); err != nil || !approved {
		t.Fatalf("login: %v (approved %t)\n%s%s", err, approved, loginOut.String(), shown.String())
	}
	contains("login", loginOut.String(), "Signed in as "+demoUser, info.OAuthSettings)
	r := userCmd("", "whoami", "--connection-file", info.OAuthConnectionFile)
	if r.code != 0 || !strings.Contains(r.stdout, demoUser) {
		t.Errorf("whoami with OAuth: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = userCmd("", "whoami", "--connection-file", info.CertificateConnectionFile)
	if r.code != 0 || !strings.Contains(r.stdout, demoUser) {
		t.Errorf("whoami with a certificate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The Go code the demo ends with does the same against the fake.
	democode := filepath.Join(t.TempDir(), "democode")
	if out, err := exec.Command("go", "build", "-o", democode, "./democode").CombinedOutput(); err != nil {
		t.Fatalf("building democode: %v\n%s", err, out)
	}
	dc := exec.Command(democode, info.Workspace, info.Model)
	dc.Dir = t.TempDir()
	dc.Env = []string{"HOME=" + home, "SSL_CERT_FILE=" + info.CACertificate, "ANAPLAN_CONNECTION=" + info.Connection}
	out, err := dc.CombinedOutput()
	contains("democode", string(out), "signed in as "+demoUser, "workspace Demo", "import: Load sales", "saved revenue.csv")
	if err != nil {
		t.Errorf("democode: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dc.Dir, "revenue.csv")); string(b) != demoRevenue {
		t.Errorf("democode saved %q", b)
	}

	if err := fake.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
			t.Errorf("fake exit %v, want 130", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake still running 10 s after Ctrl-C")
	}
	for _, f := range []string{info.CACertificate, info.ConnectionFile, info.OAuthConnectionFile, info.CertificateConnectionFile} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("fake --dir removed %s: %v", f, err)
		}
	}
	if st, err := os.Stat(info.ConnectionFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("the connection file, which holds a password, has mode %v", st.Mode().Perm())
	}
}

// TestFakeWithoutDirCleansUp: without --dir the files are temporary, said
// to be, and gone once the fake stops.
func TestFakeWithoutDirCleansUp(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	fake := exec.Command(binary, "fake")
	stdout, err := fake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- fake.Wait() }()
	t.Cleanup(func() { _ = fake.Process.Kill(); <-exited; exited <- nil })
	sc := bufio.NewScanner(stdout)
	var text strings.Builder
	var ca string
	for sc.Scan() {
		text.WriteString(sc.Text() + "\n")
		if m := regexp.MustCompile(`^CA certificate: +(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			ca = m[1]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("the CA certificate %q: %v\n%s", ca, err, text.String())
	}
	if !strings.Contains(text.String(), "temporary") || !strings.Contains(text.String(), "export SSL_CERT_FILE=") {
		t.Errorf("fake printed:\n%s", text.String())
	}
	if err := fake.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	select {
	case err := <-exited:
		exited <- err
	case <-time.After(10 * time.Second):
		t.Fatal("fake still running 10 s after Ctrl-C")
	}
	if _, err := os.Stat(filepath.Dir(ca)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary directory is still there: %v", err)
	}
}

// failingSaveStore is a settings store whose saves fail, as on a full disk
// after the spend.
type failingSaveStore struct{}

func (failingSaveStore) Load(context.Context) (*anaplan.Settings, error) {
	return nil, anaplan.ErrNoSettings
}

func (failingSaveStore) Save(context.Context, *anaplan.Settings) error {
	return errors.New("no space left on device")
}

func init() {
	anaplan.RegisterSettingsScheme("failsave", func(string, []byte) (anaplan.SettingsStore, error) {
		return failingSaveStore{}, nil
	})
}

// TestFailedSaveFailsTheCommand: when the OAuth settings cannot be saved
// the command exits non-zero and says why, whatever chose the scheme (token
// with AuthScheme inferred exited 0 and said nothing: it never closed its
// client).
func TestFailedSaveFailsTheCommand(t *testing.T) {
	srv := anaplantest.New(t)
	srv.AddUser(user, password)
	srv.AddOAuthClient(anaplantest.OAuthClient{ID: "c", Rotating: true})
	ep := fmt.Sprintf("OAuthURL=%s;AuthURL=%s;APIURL=%s", srv.URL(), srv.URL(), srv.Endpoints().API)
	for _, scheme := range []string{"AuthScheme=OAuth;", ""} {
		for _, command := range []string{"token", "whoami"} {
			t.Run(command+" "+scheme, func(t *testing.T) {
				access, refresh, _ := srv.IssueOAuthTokens("c", user)
				// No access token: the refresh token is spent at once and
				// the rotated one cannot be saved.
				conn := scheme + "OAuthClientId=c;InitiateOAuth=REFRESH;OAuthRefreshToken=" + refresh + ";OAuthSettingsLocation=failsave://x;" + ep
				var out, errb bytes.Buffer
				code := run(context.Background(), []string{command}, env{
					stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
					getenv: func(k string) string {
						if k == "ANAPLAN_CONNECTION" {
							return conn
						}
						return ""
					},
					transport: srv.Client().Transport,
				})
				if code != exitFailure || !strings.Contains(errb.String(), "no space left on device") {
					t.Errorf("exit %d, stderr %q; want 1 and the save's error", code, errb.String())
				}
				for _, s := range []string{access, refresh} {
					if strings.Contains(errb.String(), s) {
						t.Errorf("a token is in the message: %q", errb.String())
					}
				}
				// One run spends the refresh token once (a check of the
				// configuration must not spend it too: reuse revokes the grant).
				if n := srv.GrantRevocations(); n != 0 {
					t.Errorf("%d grants revoked", n)
				}
			})
		}
	}
}
