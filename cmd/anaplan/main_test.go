package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// binary is the command, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "anaplan-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "anaplan")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	// The go command that runs this test is first on PATH (go test puts
	// its GOROOT/bin there).
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	user     = "ada.lovelace@example.com"
	password = "n0t-a-real-p@ss;word"
	wsID     = "8a81b09d5e8c6f27015ece3402487d33"
	modelID  = "75A40874E6B64FA3AE0B7E3C5C6E0D8B"
)

// tenant is a fake Anaplan and the environment that points the command at
// it, the way a user would: a connection string and SSL_CERT_FILE.
type tenant struct {
	t    *testing.T
	srv  *anaplantest.Server
	dir  string // the command's working directory
	env  map[string]string
	conn string
}

func newTenant(t *testing.T, opts ...anaplantest.Option) *tenant {
	t.Helper()
	srv := anaplantest.New(t, opts...)
	srv.AddUser(user, password)
	srv.AddWorkspace(anaplantest.Workspace{ID: wsID, Name: "Finance"})
	srv.AddModel(wsID, anaplantest.Model{ID: modelID, Name: "Budget"})
	srv.AddModel("ws2", anaplantest.Model{ID: "M2", Name: "Budget"})
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws2", Name: "Sandbox"})
	srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000001", Name: "sales.csv"})
	srv.AddImport(wsID, modelID, anaplantest.Import{ID: "112000000001", Name: "Load sales", FileID: "113000000001", Task: anaplantest.TaskBehaviour{Polls: 1}})
	srv.AddExport(wsID, modelID, anaplantest.Export{ID: "116000000001", Name: "Revenue.csv", Content: []byte("r,1\n")})
	srv.AddProcess(wsID, modelID, anaplantest.Process{ID: "118000000001", Name: "Nightly", Actions: []string{"112000000001"}})
	srv.AddAction(wsID, modelID, anaplantest.Action{ID: "117000000001", Name: "Clear"})

	dir := t.TempDir()
	certFile := filepath.Join(dir, "fake-ca.pem")
	if err := os.WriteFile(certFile, srv.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	conn := fmt.Sprintf("AuthScheme=Basic;User=%s;Password='%s';AuthURL=%s;APIURL=%s", user, password, srv.URL(), srv.Endpoints().API)
	return &tenant{
		t: t, srv: srv, dir: work, conn: conn,
		env: map[string]string{
			"SSL_CERT_FILE":      certFile,
			"HOME":               dir,
			"XDG_CONFIG_HOME":    filepath.Join(dir, "config"),
			"ANAPLAN_CONNECTION": conn,
		},
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (tn *tenant) command(env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Dir = tn.dir
	merged := map[string]string{}
	for k, v := range tn.env {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	for k, v := range merged {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return cmd
}

// run runs the command with the tenant's environment changed by env ("" removes).
func (tn *tenant) runEnv(env map[string]string, stdin string, args ...string) result {
	tn.t.Helper()
	cmd := tn.command(env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		tn.t.Fatalf("running %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (tn *tenant) run(args ...string) result {
	tn.t.Helper()
	return tn.runEnv(nil, "", args...)
}

// ok runs the command and fails the test unless it exits 0.
func (tn *tenant) ok(args ...string) result {
	tn.t.Helper()
	r := tn.run(args...)
	if r.code != 0 {
		tn.t.Fatalf("anaplan %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (tn *tenant) noSecrets(r result) {
	tn.t.Helper()
	for _, s := range []string{password, "n0t-a-real"} {
		if strings.Contains(r.stdout+r.stderr, s) {
			tn.t.Errorf("the password appears in the output:\n%s\n%s", r.stdout, r.stderr)
		}
	}
}

// table splits a table into rows of cells, checking that every column starts
// at the same offset on every line.
func table(t *testing.T, s string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	starts := func(line string) []int {
		var idx []int
		for i := range line {
			if line[i] != ' ' && (i == 0 || (i >= 2 && line[i-1] == ' ' && line[i-2] == ' ')) {
				idx = append(idx, i)
			}
		}
		return idx
	}
	head := starts(lines[0])
	var rows [][]string
	for _, l := range lines {
		got := starts(l)
		if !cmp.Equal(head, got) {
			t.Errorf("columns not aligned: %v vs header %v in\n%s", got, head, s)
		}
		var cells []string
		for i, st := range got {
			end := len(l)
			if i+1 < len(got) {
				end = got[i+1]
			}
			cells = append(cells, strings.TrimSpace(l[st:end]))
		}
		rows = append(rows, cells)
	}
	return rows
}

func TestUsage(t *testing.T) {
	tn := newTenant(t)
	tests := []struct {
		args    []string
		env     map[string]string
		code    int
		message string // in stderr
	}{
		{args: nil, code: 2, message: "no command given"},
		{args: []string{"frobnicate"}, code: 2, message: "unknown command (not shown, in case it holds a secret); the commands are "},
		{args: []string{"whoamii"}, code: 2, message: `did you mean "whoami"?`},
		{args: []string{"--nope", "x", "whoami"}, code: 2, message: "a flag before it may be misspelt"},
		{args: []string{"upload", "x", "--concurrency", "9223372036854775807", "--model", "Budget"}, code: 2, message: "--concurrency is the number of chunks in flight at once, from 1 to 64"},
		{args: []string{"download", "x", "--concurrency", "65", "--model", "Budget"}, code: 2, message: "from 1 to 64"},
		{args: []string{"--json", "--model", "x"}, code: 2, message: "no command given"},
		{args: []string{"whoami", "--nope"}, code: 2, message: "--nope is not a flag of whoami"},
		{args: []string{"whoami", "extra"}, code: 2, message: "whoami takes no arguments"},
		{args: []string{"whoami"}, env: map[string]string{"ANAPLAN_CONNECTION": ""}, code: 2, message: "pass --connection"},
		{args: []string{"whoami"}, env: map[string]string{"ANAPLAN_CONNECTION": "AuthScheme=Basic;Pasword=" + password}, code: 2, message: "Password"},
		{args: []string{"files"}, code: 2, message: "--model"},
		{args: []string{"upload"}, code: 2, message: "usage: anaplan upload FILE"},
		{args: []string{"upload", "-", "--model", "Budget", "--workspace", "Finance"}, code: 2, message: "--file"},
		{args: []string{"run", "report", "x", "--model", "Budget"}, code: 2, message: "import, export, process or action"},
		{args: []string{"run", "action", "Clear", "--file", "x", "--model", "Budget"}, code: 2, message: "--file goes with"},
		{args: []string{"upload", "x", "--chunk-size", "0", "--model", "Budget"}, code: 2, message: "--chunk-size"},
		{args: []string{"help"}, code: 0},
		{args: []string{"whoami", "-h"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := tn.runEnv(tt.env, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.message) {
				t.Errorf("stderr %q should say %q", r.stderr, tt.message)
			}
			if tt.code == 2 && !strings.Contains(r.stderr, "anaplan help") {
				t.Errorf("a usage error should point at 'anaplan help': %q", r.stderr)
			}
			tn.noSecrets(r)
		})
	}
	if r := tn.ok("help"); !strings.Contains(r.stdout, "run import|export|process|action NAME-OR-ID") || !strings.Contains(r.stdout, "Exit status") {
		t.Errorf("help:\n%s", r.stdout)
	}
	if tn.srv.Calls("") != 0 {
		t.Errorf("usage errors sent %d requests", tn.srv.Calls(""))
	}
}

func TestListings(t *testing.T) {
	tn := newTenant(t)
	uid, _ := tn.srv.UserID(user)
	tests := []struct {
		args []string
		want [][]string
	}{
		{[]string{"whoami"}, [][]string{{"ID", "EMAIL", "NAME"}, {uid, user, "Ada Lovelace"}}},
		{[]string{"workspaces"}, [][]string{{"ID", "NAME", "ACTIVE", "USED"}, {wsID, "Finance", "yes", "0 B / 1.0 GiB"}, {"ws2", "Sandbox", "yes", "0 B / 1.0 GiB"}}},
		{[]string{"models"}, [][]string{{"ID", "NAME", "STATE", "WORKSPACE"}, {modelID, "Budget", "UNLOCKED", "Finance"}, {"M2", "Budget", "UNLOCKED", "Sandbox"}}},
		{[]string{"models", "--workspace", "Sandbox"}, [][]string{{"ID", "NAME", "STATE", "WORKSPACE"}, {"M2", "Budget", "UNLOCKED", "Sandbox"}}},
		{[]string{"files", "--workspace", "Finance", "--model", "Budget"}, [][]string{{"ID", "NAME", "CHUNKS"}, {"113000000001", "sales.csv", "1"}}},
		{[]string{"imports", "--model", modelID}, [][]string{{"ID", "NAME", "TYPE", "SOURCE FILE"}, {"112000000001", "Load sales", "MODULE_DATA", "113000000001"}}},
		{[]string{"exports", "--workspace", wsID, "--model", "budget"}, [][]string{{"ID", "NAME", "FORMAT"}, {"116000000001", "Revenue.csv", "text/csv"}}},
		{[]string{"processes", "--model", modelID}, [][]string{{"ID", "NAME"}, {"118000000001", "Nightly"}}},
		{[]string{"actions", "--model", modelID}, [][]string{{"ID", "NAME", "TYPE"}, {"117000000001", "Clear", "DELETE_BY_SELECTION"}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := tn.ok(tt.args...)
			if d := cmp.Diff(tt.want, table(t, r.stdout)); d != "" {
				t.Errorf("table (-want +got):\n%s", d)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}
			tn.noSecrets(r)
		})
	}

	t.Run("json", func(t *testing.T) {
		var files []anaplan.File
		r := tn.ok("files", "--json", "--model", modelID)
		if err := json.Unmarshal([]byte(r.stdout), &files); err != nil || len(files) != 1 || files[0].Name != "sales.csv" {
			t.Errorf("files --json: %v %+v\n%s", err, files, r.stdout)
		}
		tn.srv.AddModel(wsID, anaplantest.Model{ID: "EMPTY", Name: "Empty"})
		if r := tn.ok("files", "--json", "--model", "EMPTY"); strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("an empty list in JSON: %q", r.stdout)
		}
		var u anaplan.User
		if err := json.Unmarshal([]byte(tn.ok("whoami", "--json").stdout), &u); err != nil || u.Email != user {
			t.Errorf("whoami --json: %v %+v", err, u)
		}
	})

	t.Run("environment and --connection", func(t *testing.T) {
		env := map[string]string{"ANAPLAN_CONNECTION": "", "ANAPLAN_WORKSPACE": "Sandbox", "ANAPLAN_MODEL": "Budget"}
		r := tn.runEnv(env, "", "--connection", tn.conn, "files")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ID") {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		// Flags may come before the command.
		if r := tn.run("--model", modelID, "--json", "files"); r.code != 0 || !strings.HasPrefix(r.stdout, "[") {
			t.Fatalf("flags before the command: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		// --connection wins over the environment.
		env = map[string]string{"ANAPLAN_CONNECTION": "AuthScheme=Basic;User=x;Password=y;AuthURL=https://127.0.0.1:1;APIURL=https://127.0.0.1:1/2/0"}
		if r := tn.runEnv(env, "", "whoami", "--connection", tn.conn); r.code != 0 {
			t.Errorf("--connection did not override ANAPLAN_CONNECTION: %s", r.stderr)
		}
	})
}

func TestFailures(t *testing.T) {
	tn := newTenant(t)
	tn.srv.AddModel(wsID, anaplantest.Model{ID: "PRIVATE", Name: "Payroll", Users: []string{"someone@example.com"}})
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // in stderr
	}{
		{"wrong password", map[string]string{"ANAPLAN_CONNECTION": strings.Replace(tn.conn, password, "wrong-"+password[:3], 1)},
			[]string{"whoami"}, []string{"401", "check the credentials"}},
		{"untrusted certificate", map[string]string{"SSL_CERT_FILE": os.DevNull}, []string{"whoami"},
			[]string{"certificate", "SSL_CERT_FILE"}},
		{"model nobody may see", nil, []string{"files", "--workspace", wsID, "--model", "PRIVATE"}, []string{"404", "no access"}},
		{"model by an unknown name", nil, []string{"files", "--model", "Nope"}, []string{`no model called or with ID "Nope"`, "anaplan models"}},
		{"ambiguous model name", nil, []string{"files", "--model", "Budget"}, []string{"several models", "--workspace"}},
		{"unknown file", nil, []string{"download", "nope.csv", "--model", modelID}, []string{`no file called or with ID "nope.csv"`, "anaplan files"}},
		{"missing local file", nil, []string{"upload", "missing.csv", "--model", modelID}, []string{"missing.csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tn.runEnv(tt.env, "", tt.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q should say %q", r.stderr, w)
				}
			}
			tn.noSecrets(r)
		})
	}
}

func TestUploadDownload(t *testing.T) {
	tn := newTenant(t)
	content := strings.Repeat("North,Widgets,120\n", 100_000) // 1.8 MB: two chunks of 1 MiB
	if err := os.WriteFile(filepath.Join(tn.dir, "sales.csv"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := tn.ok("upload", "sales.csv", "--model", modelID, "--chunk-size", "1", "--gzip")
	if got, _ := tn.srv.FileContent(wsID, modelID, "113000000001"); string(got) != content {
		t.Fatalf("the server holds %d bytes, want %d", len(got), len(content))
	}
	if !strings.Contains(r.stdout, "Uploaded 1.7 MiB to sales.csv (113000000001).") || r.stderr != "" {
		t.Errorf("upload printed %q, %q (no progress bar when stderr is not a terminal)", r.stdout, r.stderr)
	}
	if n := tn.srv.FileChunks(wsID, modelID, "113000000001"); n != 2 {
		t.Errorf("%d chunks, want 2", n)
	}

	// From stdin, to a file named by ID.
	r = tn.runEnv(nil, "a,b\n", "upload", "-", "--file", "113000000001", "--model", modelID, "--json")
	var up struct {
		File  anaplan.File
		Bytes int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &up); r.code != 0 || err != nil || up.Bytes != 4 || up.File.ID != "113000000001" {
		t.Fatalf("upload from stdin: %d %v %s %s", r.code, err, r.stdout, r.stderr)
	}

	tn.srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000002", Name: "big.csv", Content: []byte(content), ChunkSize: 100_000})
	r = tn.ok("download", "big.csv", "--model", modelID)
	if b, err := os.ReadFile(filepath.Join(tn.dir, "big.csv")); err != nil || string(b) != content {
		t.Fatalf("download wrote %d bytes (%v), want %d", len(b), err, len(content))
	}
	if r.stdout != "" || !strings.Contains(r.stderr, "Downloaded 1.7 MiB of big.csv (113000000002) to big.csv.") {
		t.Errorf("download printed %q, %q", r.stdout, r.stderr)
	}
	r = tn.ok("download", "113000000002", "-o", "-", "--model", modelID, "--concurrency", "2")
	if r.stdout != content {
		t.Errorf("download to stdout gave %d bytes", len(r.stdout))
	}
	r = tn.ok("download", "big.csv", "-o", "copy.csv", "--model", modelID, "--json")
	var down struct{ Bytes int64 }
	if err := json.Unmarshal([]byte(r.stdout), &down); err != nil || down.Bytes != int64(len(content)) {
		t.Errorf("download --json: %v %s", err, r.stdout)
	}
	leftovers, _ := filepath.Glob(filepath.Join(tn.dir, ".*.part"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRun(t *testing.T) {
	tn := newTenant(t)
	fast := []string{"--poll-interval", "5ms", "--model", modelID}
	if err := os.WriteFile(filepath.Join(tn.dir, "in.csv"), []byte("h\n1\n2\n3\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := tn.ok(append([]string{"run", "import", "Load sales", "--file", "in.csv", "--locale", "fr_FR"}, fast...)...)
	if want := "import Load sales (112000000001) completed: Load sales: 4 lines read\n"; r.stdout != want || r.stderr != "" {
		t.Errorf("run import printed %q, %q; want %q", r.stdout, r.stderr, want)
	}
	if tasks := tn.srv.Tasks(wsID, modelID); len(tasks) != 1 || tasks[0].Locale != "fr_FR" {
		t.Errorf("tasks %+v", tasks)
	}

	r = tn.ok(append([]string{"run", "EXPORT", "116000000001", "--file", "out.csv"}, fast...)...)
	if b, _ := os.ReadFile(filepath.Join(tn.dir, "out.csv")); string(b) != "r,1\n" || !strings.Contains(r.stdout, "completed") {
		t.Errorf("run export: %q, %q, file %q", r.stdout, r.stderr, b)
	}
	tn.ok(append([]string{"run", "process", "Nightly"}, fast...)...)
	tn.ok(append([]string{"run", "action", "clear"}, fast...)...)

	t.Run("a failing task saves its dump", func(t *testing.T) {
		dump := "row,error\n2,unknown item\n"
		tn.srv.SetTaskBehaviour(wsID, modelID, "112000000001", anaplantest.TaskBehaviour{Fail: true, Dump: []byte(dump), Message: "1 row rejected"})
		dumps := filepath.Join(tn.dir, "dumps")
		if err := os.Mkdir(dumps, 0o700); err != nil {
			t.Fatal(err)
		}
		r := tn.run(append([]string{"run", "import", "Load sales", "--dump-dir", dumps}, fast...)...)
		if r.code != 1 || !strings.Contains(r.stdout, "FAILED: 1 row rejected") {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		m := regexp.MustCompile(`Failure dump saved to (\S+)`).FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("stderr does not say where the dump is: %q", r.stderr)
		}
		if b, err := os.ReadFile(m[1]); err != nil || string(b) != dump {
			t.Errorf("dump file: %q, %v", b, err)
		}

		r = tn.run(append([]string{"run", "process", "Nightly", "--dump-dir", dumps, "--json"}, fast...)...)
		var out struct {
			Result *anaplan.TaskResult
			Dumps  []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 1 || len(out.Dumps) != 1 || out.Result.Successful {
			t.Fatalf("process --json: exit %d, %v, %s", r.code, err, r.stdout)
		}
		if !strings.HasSuffix(out.Dumps[0], "-112000000001.csv") {
			t.Errorf("nested dump saved as %s", out.Dumps[0])
		}
	})

	if r := tn.run(append([]string{"run", "import", "Nope"}, fast...)...); r.code != 1 || !strings.Contains(r.stderr, "anaplan imports") {
		t.Errorf("unknown import: %d %q", r.code, r.stderr)
	}
}

func TestInterruptCancelsTheTask(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	tn := newTenant(t)
	tn.srv.SetTaskBehaviour(wsID, modelID, "112000000001", anaplantest.TaskBehaviour{Polls: -1})
	cmd := tn.command(nil, "run", "import", "Load sales", "--model", modelID, "--poll-interval", "5ms")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ts := tn.srv.Tasks(wsID, modelID); len(ts) == 1 && ts[0].Polls >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the task was never polled")
		}
		time.Sleep(5 * time.Millisecond) // waiting on another process: no clock to inject
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v, want status 130", err)
	}
	if !strings.Contains(errb.String(), "interrupted") || !strings.Contains(errb.String(), "cancelled") {
		t.Errorf("stderr %q", errb.String())
	}
	if ts := tn.srv.Tasks(wsID, modelID); ts[0].State != "CANCELLING" {
		t.Errorf("the task is %s on the server, want CANCELLING", ts[0].State)
	}
}

func TestToken(t *testing.T) {
	tn := newTenant(t)
	r := tn.ok("token")
	tok := strings.TrimSpace(r.stdout)
	if tok == "" || strings.Contains(tok, " ") {
		t.Fatalf("token printed %q", r.stdout)
	}
	// The token stays valid after the command ends.
	c, err := anaplan.New(t.Context(), anaplan.WithEndpoints(tn.srv.Endpoints()), anaplan.WithHTTPClient(tn.srv.Client()),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: tok, Type: "AnaplanAuthToken"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CurrentUser(t.Context()); err != nil {
		t.Errorf("the printed token does not work: %v", err)
	}
	var j map[string]string
	if err := json.Unmarshal([]byte(tn.ok("token", "--json").stdout), &j); err != nil || j["token"] == "" || j["type"] != "AnaplanAuthToken" || j["expiry"] == "" {
		t.Errorf("token --json: %v %v", err, j)
	}
}

func TestLoginTokenLogout(t *testing.T) {
	tn := newTenant(t, anaplantest.WithDeviceInterval(time.Second))
	tn.srv.AddOAuthClient(anaplantest.OAuthClient{ID: "cli-device-client"})
	tn.srv.SetOAuthUser(user)
	settings := filepath.Join(tn.dir, "oauth-settings")
	conn := func(initiate string) map[string]string {
		return map[string]string{"ANAPLAN_CONNECTION": fmt.Sprintf(
			"AuthScheme=OAuth;OAuthClientId=cli-device-client;InitiateOAuth=%s;OAuthSettingsLocation=%s;OAuthURL=%s;AuthURL=%s;APIURL=%s",
			initiate, settings, tn.srv.URL(), tn.srv.URL(), tn.srv.Endpoints().API)}
	}

	if r := tn.runEnv(conn("REFRESH"), "", "whoami"); r.code != 1 || !strings.Contains(r.stderr, "anaplan login") {
		t.Fatalf("before login: exit %d, %q", r.code, r.stderr)
	}

	cmd := tn.command(conn("OFF"), "login")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var rest strings.Builder
	code := regexp.MustCompile(`enter the code (\S+)`)
	approved := false
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
		if m := code.FindStringSubmatch(sc.Text()); m != nil && !approved {
			if err := tn.srv.ApproveDevice(m[1]); err != nil {
				t.Errorf("approving %s: %v", m[1], err)
			}
			approved = true
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v\nstdout: %s\nstderr: %s", err, out.String(), rest.String())
	}
	if !approved {
		t.Fatalf("login showed no device code: %s", rest.String())
	}
	if want := "Signed in as " + user + ". Settings saved to " + settings + ".\n"; out.String() != want {
		t.Errorf("login printed %q, want %q", out.String(), want)
	}
	if _, err := os.Stat(settings); err != nil {
		t.Fatalf("no settings file: %v", err)
	}

	r := tn.runEnv(conn("REFRESH"), "", "token")
	if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("token after login: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := tn.runEnv(conn("REFRESH"), "", "whoami"); r.code != 0 || !strings.Contains(r.stdout, user) {
		t.Fatalf("whoami after login: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := tn.runEnv(conn("REFRESH"), "", "logout"); r.code != 0 || !strings.Contains(r.stderr, "Deleted") {
		t.Fatalf("logout: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(settings); !os.IsNotExist(err) {
		t.Errorf("settings file still there: %v", err)
	}
	if r := tn.runEnv(conn("REFRESH"), "", "logout"); r.code != 0 || !strings.Contains(r.stderr, "No saved sign-in") {
		t.Errorf("second logout: %d %q", r.code, r.stderr)
	}
	if r := tn.runEnv(conn("REFRESH"), "", "token"); r.code != 1 || !strings.Contains(r.stderr, "anaplan login") {
		t.Errorf("token after logout: %d %q", r.code, r.stderr)
	}
	if r := tn.run("login"); r.code != 2 || !strings.Contains(r.stderr, "AuthScheme=OAuth") {
		t.Errorf("login with Basic: %d %q", r.code, r.stderr)
	}
	if r := tn.run("logout"); r.code != 0 || !strings.Contains(r.stderr, "Nothing to do") {
		t.Errorf("logout with Basic: %d %q", r.code, r.stderr)
	}
}

func TestDemo(t *testing.T) {
	tn := newTenant(t)
	r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": ""}, "", "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"$ anaplan whoami", "Demo User", "$ anaplan workspaces", "$ anaplan files", "$ anaplan actions", "Clear last month",
		"$ anaplan upload sales.csv --gzip", "Uploaded", "$ anaplan run import 'Load sales'", "completed: Load sales: 6 lines read",
		"$ cat revenue.csv", "Total,12900", "$ anaplan run process 'Nightly load'", "FAILED: 2 rows rejected", "Item not located",
		// It ends with the Go code that does the same, and says its files were temporary.
		"9. The same in Go", demoCode, "Done. The files above were in a temporary directory, now removed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if !strings.Contains(r.stderr, "Failure dump saved to") {
		t.Errorf("stderr %q", r.stderr)
	}
	if strings.Contains(r.stdout, "Password=") && !strings.Contains(r.stdout, "Password=…") {
		t.Error("the demo shows its password")
	}

	// With --dir, every path it prints is still there when it ends.
	keep := filepath.Join(t.TempDir(), "kept")
	r = tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": ""}, "", "demo", "--dir", keep)
	if r.code != 0 || !strings.Contains(r.stdout, "Done. The files above are in "+keep) {
		t.Fatalf("demo --dir: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	paths := regexp.MustCompile(regexp.QuoteMeta(keep)+`/\S+\.csv`).FindAllString(r.stdout+r.stderr, -1)
	if len(paths) < 2 {
		t.Errorf("demo --dir printed %d paths in %s:\n%s%s", len(paths), keep, r.stdout, r.stderr)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the demo printed %s, which is gone: %v", p, err)
		}
	}
	for _, f := range []string{"sales.csv", "revenue.csv"} {
		if _, err := os.Stat(filepath.Join(keep, f)); err != nil {
			t.Errorf("demo --dir: %v", err)
		}
	}
	// A second run in the same directory works (revenue.csv is replaced
	// knowingly).
	if r := tn.runEnv(map[string]string{"ANAPLAN_CONNECTION": ""}, "", "demo", "--dir", keep); r.code != 0 {
		t.Errorf("demo --dir again: exit %d\n%s", r.code, r.stderr)
	}
}

// TestMistypedFlagDoesNotEchoTheConnectionString: a mistyped or short flag
// before the command makes its value, the connection string, "the command".
// The usage error says what to do without showing that word (it once printed
// `unknown command "AuthScheme=Basic;User=…;Password=…"`), and no other
// message shows an argument that may hold a secret either.
func TestMistypedFlagDoesNotEchoTheConnectionString(t *testing.T) {
	const secret = "hunter2-Sekr1t"
	conn := "AuthScheme=Basic;User=ada@example.com;Password=" + secret
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"typo", []string{"--conection", conn, "whoami"}, exitUsage, "pass it with --connection"},
		{"short flag that does not exist", []string{"-c", conn, "whoami"}, exitUsage, "pass it with --connection"},
		{"flag left out", []string{conn, "whoami"}, exitUsage, "pass it with --connection"},
		{"a flag's value", []string{"whoami", "--json=" + conn}, exitUsage, "not shown"},
		{"a valued flag's value", []string{"upload", "x", "--model", "M", "--concurrency", conn}, exitUsage, "not shown"},
		{"as the argument of run", []string{"run", conn, "x", "--model", "M"}, exitUsage, "not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, env{
				stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
				getenv: func(string) string { return "" },
			})
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if strings.Contains(out.String()+errb.String(), secret) {
				t.Errorf("the password is echoed:\n%s%s", out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q should say %q", errb.String(), tt.want)
			}
		})
	}
}

// TestSecondInterruptEndsAHungCommand: once Ctrl-C has been pressed, a
// command stuck in its clean-up (a logout the server never answers) ends on
// a second Ctrl-C: the first one restores default signal handling. A
// command stuck in a read of standard input ends on the first. (Both once
// ran on: the handler stayed installed and swallowed every later Ctrl-C.)
func TestSecondInterruptEndsAHungCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	tests := []struct {
		name string
		args []string
		// hang makes the command hang; first is the request that shows it
		// got there, second the one that shows the first Ctrl-C was taken
		// ("" means: give it a moment).
		hang          func(srv *anaplantest.Server)
		first, second string
	}{
		{
			name: "logout hangs",
			args: []string{"whoami"},
			hang: func(srv *anaplantest.Server) {
				srv.FailNext(1, anaplantest.Fault{Latency: time.Hour, Path: "GET /2/0/users/me"})
				srv.FailNext(1, anaplantest.Fault{Latency: time.Hour, Path: "POST /token/logout"})
			},
			first: "GET /2/0/users/me", second: "POST /token/logout",
		},
		{
			name:  "upload waits on standard input",
			args:  []string{"upload", "-", "--file", "113000000001", "--model", modelID},
			hang:  func(*anaplantest.Server) {},
			first: "POST /2/0/workspaces/" + wsID + "/models/" + modelID + "/files/113000000001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTenant(t)
			tt.hang(tn.srv)
			cmd := tn.command(nil, tt.args...)
			stdin, w, err := os.Pipe() // standard input that stays open and silent
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdin = stdin
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			_ = stdin.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
				_ = w.Close()
			})
			waitCalls := func(route string) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for tn.srv.Calls(route) == 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%s was never called", route)
					}
					time.Sleep(5 * time.Millisecond) // another process: no clock to inject
				}
			}

			waitCalls(tt.first)
			if tt.second == "" {
				// The POST is counted when it arrives: give the command a
				// moment to take the answer and block on standard input.
				time.Sleep(200 * time.Millisecond)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if tt.second != "" {
				waitCalls(tt.second)
			} else {
				time.Sleep(300 * time.Millisecond) // nothing to observe: let the first Ctrl-C be taken
			}
			// The first Ctrl-C may have ended the command already.
			if err := cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				exited <- err // for the cleanup
				if ee, ok := err.(*exec.ExitError); !ok || ee.Success() {
					t.Errorf("exit: %v, want a failure", err)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("still running 3 s after the second Ctrl-C")
			}
		})
	}
}

// TestStdoutHoldsOnlyTheFile: a file written to standard output (download
// -o -, run export --file -) is all that standard output holds. With --json
// the combination is refused before anything is sent (it once printed the
// file followed by the JSON summary); without it, run's status line goes to
// stderr.
func TestStdoutHoldsOnlyTheFile(t *testing.T) {
	tn := newTenant(t)
	content := "Region,Revenue\nNorth,5600\n"
	tn.srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000009", Name: "rev.csv", Content: []byte(content)})
	for _, args := range [][]string{
		{"download", "rev.csv", "-o", "-", "--json", "--model", modelID},
		{"run", "export", "Revenue.csv", "--file", "-", "--json", "--model", modelID},
	} {
		before := tn.srv.Calls("")
		r := tn.run(args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "--json") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a message about --json", args, r.code, r.stdout, r.stderr)
		}
		if n := tn.srv.Calls("") - before; n != 0 {
			t.Errorf("%v: %d requests sent", args, n)
		}
	}
	r := tn.ok("run", "export", "Revenue.csv", "--file", "-", "--poll-interval", "5ms", "--model", modelID)
	if r.stdout != "r,1\n" || !strings.Contains(r.stderr, "export Revenue.csv (116000000001) completed") {
		t.Errorf("run export --file -: stdout %q, stderr %q; want the file alone on stdout", r.stdout, r.stderr)
	}
}

// TestHostileNamesAreCleaned: names and messages from the server reach the
// terminal without control characters, so that they cannot inject escape
// sequences (retitle, recolour, clear the screen).
func TestHostileNamesAreCleaned(t *testing.T) {
	tn := newTenant(t)
	evil := "\x1b]0;pwned\x07evil\x1b[2J.csv"
	tn.srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000066", Name: evil, Content: []byte("x\n")})
	tn.srv.SetTaskBehaviour(wsID, modelID, "117000000001", anaplantest.TaskBehaviour{Message: "done\x1b[31m red"})
	for _, args := range [][]string{
		{"files", "--model", modelID},
		{"download", "113000000066", "-o", "out.csv", "--model", modelID},
		{"upload", "-", "--file", "113000000066", "--model", modelID},
		{"run", "action", "Clear", "--poll-interval", "5ms", "--model", modelID},
	} {
		r := tn.run(args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
			t.Errorf("%v printed control characters: %q %q", args, r.stdout, r.stderr)
		}
	}
}

// TestLogoutIsBounded: the logout at the end of a command has a deadline,
// so that a server that never answers it cannot keep the command running
// (it once ran on context.WithoutCancel with none).
func TestLogoutIsBounded(t *testing.T) {
	tn := newTenant(t)
	tn.srv.FailNext(1, anaplantest.Fault{Latency: time.Hour, Path: "POST /token/logout"})
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 100 * time.Millisecond
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"whoami"}, env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv:    func(k string) string { return tn.env[k] },
		transport: tn.srv.Client().Transport,
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("whoami took %v with a logout that never answers", d)
	}
	if code != exitFailure || !strings.Contains(out.String(), user) || !strings.Contains(errb.String(), "deadline") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the user shown, then the logout's timeout reported", code, out.String(), errb.String())
	}
	if n := tn.srv.Calls("POST /token/logout"); n != 1 {
		t.Errorf("%d logouts, want 1", n)
	}
}
