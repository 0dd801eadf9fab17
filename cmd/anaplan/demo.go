package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// demoCode is the Go program that does the demo's steps with the library.
//
//go:embed democode/main.go
var demoCode string

// cmdDemo starts a fake Anaplan in this process and runs the other commands
// against it, showing each command line as it goes, and ends with the Go
// code that does the same.
func cmdDemo(ctx context.Context, a *app, _ []string) error {
	d := newDemoTenant()
	srv := d.srv
	defer srv.Close()

	dir, temporary := a.o.dir, a.o.dir == ""
	if temporary {
		tmp, err := os.MkdirTemp("", "anaplan-demo-")
		if err != nil {
			return err
		}
		dir = tmp
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	local := filepath.Join(dir, "sales.csv")
	if err := os.WriteFile(local, []byte(demoSales), 0o666); err != nil {
		return err
	}

	conn := d.basic()
	shown := strings.Replace(conn, d.password, "…", 1)
	sub := a.env
	sub.transport = srv.Client().Transport // trust the fake's certificate
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
	if temporary {
		fmt.Fprintf(out, "Its files (the upload, the export, the failure dump) go to a temporary directory, removed at the end\n(keep them with 'anaplan demo --dir DIR').\n")
	} else {
		fmt.Fprintf(out, "Its files (the upload, the export, the failure dump) go to %s, and stay there.\n", dir)
	}

	step(1, "Sign in", "The connection comes from --connection-file, --connection or ANAPLAN_CONNECTION; here:")
	fmt.Fprintf(out, "   export ANAPLAN_CONNECTION='%s'\n", shown)
	fmt.Fprintf(out, "   (against Anaplan you would write Region=EU1 or similar instead of AuthURL and APIURL)\n")
	fmt.Fprintf(out, "   and, to leave --workspace and --model out of every command:\n")
	fmt.Fprintf(out, "   export ANAPLAN_WORKSPACE=Demo ANAPLAN_MODEL='Sales Planning'\n")
	if err := cmd("whoami"); err != nil {
		return err
	}

	step(2, "Look around", "Workspaces, models, and what a model holds; names and IDs are both accepted everywhere.")
	for _, args := range [][]string{{"workspaces"}, {"models"}, {"files"}, {"imports"}, {"exports"}, {"processes"}, {"actions"}} {
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
	if err := cmd("run", "export", "Revenue by region.csv", "--file", revenue, "--force", "--poll-interval", "150ms"); err != nil {
		return err
	}
	b, err := os.ReadFile(revenue)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ cat revenue.csv\n%s", b)

	step(6, "Run a process", "A process runs several actions (here the import and the export) as one task.")
	if err := cmd("run", "process", "Nightly load", "--poll-interval", "150ms"); err != nil {
		return err
	}

	step(7, "A task that fails", "Exit status 1, and the failure dump is saved (--dump-dir, default the current directory).")
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

	step(8, "For programs", "Every listing has --json.")
	if err := cmd("exports", "--json"); err != nil {
		return err
	}

	step(9, "The same in Go", "With the library (github.com/go-anaplan/anaplan), steps 1 to 5 are:")
	fmt.Fprintf(out, "\n%s", demoCode)

	if temporary {
		fmt.Fprintf(out, "\nDone. The files above were in a temporary directory, now removed (keep them with 'anaplan demo --dir DIR').\n")
	} else {
		fmt.Fprintf(out, "\nDone. The files above are in %s.\n", dir)
	}
	fmt.Fprintf(out, "To try the commands yourself against a fake with the same data, run 'anaplan fake'; against your tenant, set ANAPLAN_CONNECTION (see 'anaplan help').\n")
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
