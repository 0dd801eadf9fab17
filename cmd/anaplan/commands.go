// The command registry (one table, commands), the flags, the help text and
// the dispatch of a command line.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/internal/textdist"
)

// opts are the flags of every command; each command registers those it uses.
type opts struct {
	connection string
	json       bool
	workspace  string
	model      string

	file        string // upload: the Anaplan file; run: the local file
	output      string // download
	gzip        bool
	chunkMiB    int
	concurrency int
	locale      string
	dumpDir     string
	poll        time.Duration
}

// command is one subcommand.
type command struct {
	name, args, summary string
	model               bool // needs --workspace/--model
	flags               func(fs *flag.FlagSet, o *opts)
	nargs               [2]int // least and most positional arguments
	run                 func(ctx context.Context, a *app, args []string) error
}

var commands []*command

func init() {
	commands = []*command{
		{name: "login", summary: "sign in with OAuth (device grant or browser) and save the settings", run: cmdLogin},
		{name: "logout", summary: "delete the saved OAuth settings", run: cmdLogout},
		{name: "token", summary: "print a valid access token, for scripts", run: cmdToken},
		{name: "whoami", summary: "show the signed-in user", run: cmdWhoami},
		{name: "workspaces", summary: "list workspaces", run: cmdWorkspaces},
		{name: "models", summary: "list models (of --workspace, or all)", run: cmdModels},
		{name: "files", summary: "list a model's files", model: true, run: cmdList("files")},
		{name: "imports", summary: "list a model's imports", model: true, run: cmdList("imports")},
		{name: "exports", summary: "list a model's exports", model: true, run: cmdList("exports")},
		{name: "processes", summary: "list a model's processes", model: true, run: cmdList("processes")},
		{name: "actions", summary: "list a model's actions", model: true, run: cmdList("actions")},
		{name: "upload", args: "FILE", summary: "upload a local file (- for stdin) to the model's file of the same name, or --file",
			model: true, nargs: [2]int{1, 1}, flags: uploadFlags, run: cmdUpload},
		{name: "download", args: "FILE", summary: "download a model's file (name or ID) to the file of that name, or -o",
			model: true, nargs: [2]int{1, 1}, flags: downloadFlags, run: cmdDownload},
		{name: "run", args: "import|export|process|action NAME-OR-ID", summary: "run an action and wait for it",
			model: true, nargs: [2]int{2, 2}, flags: runFlags, run: cmdRun},
		{name: "demo", summary: "walk through sign-in, listing, upload, import, export and download against a fake Anaplan in this process", run: cmdDemo},
		{name: "help", summary: "show this help", run: nil},
	}
}

func commonFlags(fs *flag.FlagSet, o *opts, model bool) {
	fs.StringVar(&o.connection, "connection", "", "connection string (default $ANAPLAN_CONNECTION)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&o.workspace, "workspace", "", "workspace name or ID (default $ANAPLAN_WORKSPACE)")
	if model {
		fs.StringVar(&o.model, "model", "", "model name or ID (default $ANAPLAN_MODEL)")
	}
}

func uploadFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.file, "file", "", "the model's file to replace, by name or ID (default: the local file's name)")
	fs.BoolVar(&o.gzip, "gzip", false, "send the chunks gzipped")
	fs.IntVar(&o.chunkMiB, "chunk-size", anaplan.DefaultChunkSize>>20, "chunk size in MiB")
	fs.IntVar(&o.concurrency, "concurrency", anaplan.DefaultConcurrency, "chunks in flight at once")
}

func downloadFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.output, "o", "", "where to write (default: the file's name in the current directory; - for stdout)")
	fs.IntVar(&o.concurrency, "concurrency", anaplan.DefaultConcurrency, "chunks fetched at once")
}

func runFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.locale, "locale", "en_US", "localeName the task runs with")
	fs.StringVar(&o.file, "file", "", "import: upload this local file to the import's source first; export: download the result to it")
	fs.StringVar(&o.dumpDir, "dump-dir", ".", "where a failed task's failure dumps are saved")
	fs.DurationVar(&o.poll, "poll-interval", time.Second, "first wait between status requests (it grows up to 15s)")
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: anaplan COMMAND [flags] [arguments]

The connection comes from --connection "…" or $ANAPLAN_CONNECTION, a connection
string such as
    AuthScheme=Basic;User=ada@example.com;Password=…;Region=EU1
    AuthScheme=Certificate;Certificate=cert.pem;PrivateKey=key.pem
    AuthScheme=OAuth;OAuthClientId=…;InitiateOAuth=REFRESH
Credentials are accepted nowhere else.

Commands:
`)
	for _, c := range commands {
		name := c.name
		if c.args != "" {
			name += " " + c.args
		}
		fmt.Fprintf(w, "    %-48s %s\n", name, c.summary)
	}
	fmt.Fprint(w, `
Flags of every command:
    --connection STRING   connection string (default $ANAPLAN_CONNECTION)
    --json                print JSON instead of a table
    --workspace NAME|ID   workspace (default $ANAPLAN_WORKSPACE)
    --model NAME|ID       model (default $ANAPLAN_MODEL)
Run 'anaplan COMMAND -h' for the flags of a command.

Exit status: 0 on success, 1 on failure, 2 on bad usage.
`)
}

// app is one command being run.
type app struct {
	env
	o opts
}

// dispatch parses the command line and runs the command.
func dispatch(ctx context.Context, args []string, e env) error {
	at := commandIndex(args)
	args = hoistCommand(args)
	if len(args) == 0 {
		usage(e.stderr)
		return usagef("no command given")
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return nil
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil || cmd.run == nil {
		if strings.HasPrefix(name, "-") {
			return usagef("no command given (flags go with a command: anaplan COMMAND [flags])")
		}
		return unknownCommand(name, at > 0)
	}
	a := &app{env: e}
	fs := flag.NewFlagSet("anaplan "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	commonFlags(fs, &a.o, cmd.model)
	if cmd.flags != nil {
		cmd.flags(fs, &a.o)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: anaplan %s %s\n    %s\n\nFlags:\n", cmd.name, cmd.args, cmd.summary)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return usagef("%s: %v", cmd.name, err)
	}
	if len(pos) < cmd.nargs[0] || len(pos) > cmd.nargs[1] {
		if cmd.args == "" {
			return usagef("%s takes no arguments", cmd.name)
		}
		return usagef("usage: anaplan %s %s", cmd.name, cmd.args)
	}
	if a.o.workspace == "" {
		a.o.workspace = e.getenv("ANAPLAN_WORKSPACE")
	}
	if cmd.model && a.o.model == "" {
		a.o.model = e.getenv("ANAPLAN_MODEL")
	}
	if cmd.model && a.o.model == "" {
		return usagef("%s needs the model: pass --model NAME-OR-ID (and --workspace when the name is not unique), or set ANAPLAN_MODEL", cmd.name)
	}
	return cmd.run(ctx, a, pos)
}

// unknownCommand is the usage error for a command name that is none of
// ours. The word itself is never shown: it is often the value of a flag
// that was misspelt or left out, and that value may well be the connection
// string, password included.
func unknownCommand(name string, afterFlags bool) error {
	var b strings.Builder
	b.WriteString("unknown command (the word is not shown, in case it holds a secret)")
	switch {
	case mayHoldSecret(name):
		b.WriteString(": it looks like a connection string; pass it with --connection \"…\" (two dashes, that spelling) or set ANAPLAN_CONNECTION")
	case nearestCommand(name) != "":
		fmt.Fprintf(&b, ": did you mean %q?", nearestCommand(name))
	case afterFlags:
		b.WriteString(": a flag before it may be misspelt or not exist, so that its value was taken for the command")
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	fmt.Fprintf(&b, ". The commands are: %s", strings.Join(names, ", "))
	return usagef("%s", b.String())
}

// nearestCommand is the command at most two edits away from name, if any.
func nearestCommand(name string) string {
	name = strings.ToLower(name)
	best, bestD := "", 3
	for _, c := range commands {
		if d := textdist.Distance(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	return best
}

// hoistCommand lets the flags of every command come before the command
// ("anaplan --json files"): it moves the first word that is not a flag or a
// flag's value to the front.
func hoistCommand(args []string) []string {
	i := commandIndex(args)
	if i < 0 {
		return args
	}
	out := append([]string{args[i]}, args[:i]...)
	return append(out, args[i+1:]...)
}

// commandIndex is the index of the first word that is not a flag or a
// flag's value, or -1 when there is none before "--" or the end.
func commandIndex(args []string) int {
	valued := map[string]bool{"connection": true, "workspace": true, "model": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return -1
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return i
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && valued[name] {
			i++ // its value
		}
	}
	return -1
}

// parseInterspersed parses flags placed before, between and after the
// positional arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
