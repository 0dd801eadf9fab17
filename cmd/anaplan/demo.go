package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// The demo's tenant.
const (
	demoUser      = "demo.user@example.com"
	demoWorkspace = "8a81b01068e9b5f90168f8d38a6c2a1f"
	demoModel     = "D3A6C2A1F0B94E1C8B5E6F7A8B9C0D1E"
	demoFile      = "113000000001"
)

const demoSales = `Region,Product,Month,Units,Revenue
North,Widgets,Jan 26,120,2400
North,Gadgets,Jan 26,80,3200
South,Widgets,Jan 26,95,1900
South,Gadgets,Jan 26,60,2400
West,Widgets,Jan 26,150,3000
`

const demoRevenue = `Region,Revenue
North,5600
South,4300
West,3000
Total,12900
`

// cmdDemo starts a fake Anaplan in this process and runs the other commands
// against it, showing each command line as it goes.
func cmdDemo(ctx context.Context, a *app, _ []string) error {
	srv := anaplantest.NewServer()
	defer srv.Close()
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

	dir, err := os.MkdirTemp("", "anaplan-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, "sales.csv")
	if err := os.WriteFile(local, []byte(demoSales), 0o600); err != nil {
		return err
	}

	conn := fmt.Sprintf("AuthScheme=Basic;User=%s;Password=%s;AuthURL=%s;APIURL=%s", demoUser, password, srv.URL(), srv.Endpoints().API)
	shown := strings.Replace(conn, password, "…", 1)
	sub := a.env
	sub.extra = append(sub.extra, anaplan.WithHTTPClient(srv.Client())) // trust the fake's certificate
	sub.getenv = func(k string) string {
		switch k {
		case "ANAPLAN_CONNECTION":
			return conn
		case "ANAPLAN_WORKSPACE":
			return "Demo"
		case "ANAPLAN_MODEL":
			return "Sales Planning"
		}
		return ""
	}
	out := a.stdout
	step := func(n int, title, explain string) {
		fmt.Fprintf(out, "\n%d. %s\n", n, title)
		if explain != "" {
			fmt.Fprintf(out, "   %s\n", explain)
		}
	}
	cmd := func(args ...string) error {
		shownArgs := make([]string, len(args))
		for i, s := range args {
			if s == dir {
				s = "."
			}
			shownArgs[i] = quoteArg(strings.ReplaceAll(s, dir+string(filepath.Separator), ""))
		}
		fmt.Fprintf(out, "\n$ anaplan %s\n", strings.Join(shownArgs, " "))
		return dispatch(ctx, args, sub)
	}

	fmt.Fprintf(out, "anaplan demo: a fake Anaplan (package anaplantest) is running in this process at %s.\n", srv.URL())
	fmt.Fprintf(out, "Nothing leaves this machine. Each step is the command you would type against your own tenant.\n")

	step(1, "Sign in", "The connection comes from --connection or ANAPLAN_CONNECTION; here:")
	fmt.Fprintf(out, "   export ANAPLAN_CONNECTION='%s'\n", shown)
	fmt.Fprintf(out, "   (against Anaplan you would write Region=EU1 or similar instead of AuthURL and APIURL)\n")
	fmt.Fprintf(out, "   and, to leave --workspace and --model out of every command:\n")
	fmt.Fprintf(out, "   export ANAPLAN_WORKSPACE=Demo ANAPLAN_MODEL='Sales Planning'\n")
	if err := cmd("whoami"); err != nil {
		return err
	}

	step(2, "Look around", "Workspaces, models, and what a model holds.")
	for _, args := range [][]string{{"workspaces"}, {"models"}, {"files"}, {"imports"}, {"exports"}} {
		if err := cmd(args...); err != nil {
			return err
		}
	}

	step(3, "Upload a file", "Chunked, concurrent, optionally gzipped; the model's file has the local file's name.")
	if err := cmd("upload", local, "--gzip"); err != nil {
		return err
	}

	step(4, "Run an import", "Started as a task, then polled until it ends.")
	if err := cmd("run", "import", "Load sales", "--poll-interval", "150ms"); err != nil {
		return err
	}

	step(5, "Run an export and download its result", "")
	revenue := filepath.Join(dir, "revenue.csv")
	if err := cmd("run", "export", "Revenue by region.csv", "--file", revenue, "--poll-interval", "150ms"); err != nil {
		return err
	}
	b, err := os.ReadFile(revenue)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ cat revenue.csv\n%s", b)

	step(6, "A task that fails", "Exit status 1, and the failure dump is saved (--dump-dir, default the current directory).")
	err = cmd("run", "import", "Load sales (strict)", "--dump-dir", dir, "--poll-interval", "150ms")
	if !errors.Is(err, errSilent) {
		return fmt.Errorf("the failing import did not fail as it should: %v", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, "dump-*.csv"))
	for _, d := range dumps {
		b, err := os.ReadFile(d)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n$ cat %s\n%s", filepath.Base(d), b)
	}

	step(7, "For programs", "Every listing has --json; 'anaplan token' prints a token for scripts.")
	if err := cmd("exports", "--json"); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nDone. Against your tenant: set ANAPLAN_CONNECTION (see 'anaplan help') and run the same commands.\n")
	return nil
}

func randomWord() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quoteArg quotes an argument for a POSIX shell when it needs it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
