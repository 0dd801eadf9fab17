// The command registry (one table, commands), the flags, the help text and
// the dispatch of a command line.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/internal/textdist"
)

// opts are the flags of every command; each command registers those it uses.
type opts struct {
	connection     string
	connectionFile string
	json           bool
	workspace      string
	model          string

	file        string // upload: the Anaplan file; run: the local file
	output      string // download
	force       bool   // download, run export: replace an existing file
	gzip        bool
	chunkMiB    int
	concurrency int
	locale      string
	dumpDir     string
	poll        time.Duration
	dir         string // demo, fake: where to keep what they write

	// the model-data commands (data.go)
	csv     bool      // items, cells: print CSV
	pages   pageFlags // cells: --page DIM=ITEM
	maxRows int       // cells
	set     string    // period --set
	wait    bool      // model open|close --wait
}

// uses names the shared flags a command takes.
type uses uint

const (
	useConn      uses = 1 << iota // --connection, --connection-file
	useJSON                       // --json
	useWorkspace                  // --workspace
	useModel                      // --model (and --workspace): the command needs a model
)

// command is one subcommand. The table commands is the one place a command
// is registered (another file may append to it in its init).
type command struct {
	name, args, summary string
	uses                uses
	model               bool                            // shorthand: a model command (the connection flags, --json, --workspace, --model)
	flags               func(fs *flag.FlagSet, o *opts) // the command's own flags
	nargs               [2]int                          // least and most positional arguments
	run                 func(ctx context.Context, a *app, args []string) error
}

// use is the shared flags of the command, model included.
func (c *command) use() uses {
	if c.model {
		return c.uses | useConn | useJSON | useWorkspace | useModel
	}
	return c.uses
}

// needsModel: the command works on one model (--model is required).
func (c *command) needsModel() bool { return c.use()&useModel != 0 }

var commands []*command

func init() {
	const (
		conn  = useConn | useJSON
		model = useConn | useJSON | useWorkspace | useModel
	)
	commands = append(commands, []*command{
		{name: "login", summary: "sign in with OAuth (device grant or browser) and save the settings", uses: conn, run: cmdLogin},
		{name: "logout", summary: "delete the saved OAuth settings", uses: useConn, run: cmdLogout},
		{name: "token", summary: "print a valid access token, for scripts", uses: conn, run: cmdToken},
		{name: "whoami", summary: "show the signed-in user", uses: conn, run: cmdWhoami},
		{name: "workspaces", summary: "list workspaces", uses: conn, run: cmdWorkspaces},
		{name: "models", summary: "list models (of --workspace, or all)", uses: conn | useWorkspace, run: cmdModels},
		{name: "files", summary: "list a model's files", uses: model, run: cmdList("files")},
		{name: "imports", summary: "list a model's imports", uses: model, run: cmdList("imports")},
		{name: "exports", summary: "list a model's exports", uses: model, run: cmdList("exports")},
		{name: "processes", summary: "list a model's processes", uses: model, run: cmdList("processes")},
		{name: "actions", summary: "list a model's actions", uses: model, run: cmdList("actions")},
		{name: "upload", args: "FILE", summary: "upload a local file (- for stdin) to the model's file of the same name, or --file",
			uses: model, nargs: [2]int{1, 1}, flags: uploadFlags, run: cmdUpload},
		{name: "download", args: "FILE", summary: "download a model's file (name or ID) to the file of that name, or -o",
			uses: model, nargs: [2]int{1, 1}, flags: downloadFlags, run: cmdDownload},
		{name: "run", args: "import|export|process|action NAME-OR-ID", summary: "run an action and wait for it",
			uses: model, nargs: [2]int{2, 2}, flags: runFlags, run: cmdRun},
		{name: "demo", summary: "walk through sign-in, listing, upload, import, export and download against a fake Anaplan in this process",
			flags: demoFlags, run: cmdDemo},
		{name: "fake", summary: "run a fake Anaplan with demo data on loopback until interrupted, for trying the commands or testing programs",
			flags: fakeFlags, run: cmdFake},
		{name: "version", summary: "print the version (also --version)", run: cmdVersion},
		{name: "help", args: "[COMMAND]", summary: "show this help, or a command's", nargs: [2]int{0, 1}, run: cmdHelp},
	}...)
}

// addFlags registers the flags of c on fs.
func addFlags(fs *flag.FlagSet, c *command, o *opts) {
	if c.use()&useConn != 0 {
		fs.StringVar(&o.connection, "connection", "", "connection string (default $ANAPLAN_CONNECTION); it shows in ps and shell history, so prefer --connection-file")
		fs.StringVar(&o.connectionFile, "connection-file", "", "read the connection string from this file, - for standard input (default $ANAPLAN_CONNECTION_FILE)")
	}
	if c.use()&useJSON != 0 {
		fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	}
	if c.use()&(useWorkspace|useModel) != 0 {
		fs.StringVar(&o.workspace, "workspace", "", "workspace name or ID (default $ANAPLAN_WORKSPACE)")
	}
	if c.use()&useModel != 0 {
		fs.StringVar(&o.model, "model", "", "model name or ID (default $ANAPLAN_MODEL)")
	}
	if c.flags != nil {
		c.flags(fs, o)
	}
}

func uploadFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.file, "file", "", "the model's file to replace, by name or ID (default: the local file's name)")
	fs.BoolVar(&o.gzip, "gzip", false, "send the chunks gzipped")
	fs.IntVar(&o.chunkMiB, "chunk-size", anaplan.DefaultChunkSize>>20, "chunk size in MiB")
	fs.IntVar(&o.concurrency, "concurrency", anaplan.DefaultConcurrency, "chunks in flight at once")
}

func downloadFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.output, "o", "", "where to write: a file, a directory (DIR/), or - for stdout (default: the file's name in the current directory)")
	fs.BoolVar(&o.force, "force", false, "replace the local file when it exists")
	fs.IntVar(&o.concurrency, "concurrency", anaplan.DefaultConcurrency, "chunks fetched at once")
}

func runFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.locale, "locale", "en_US", "localeName the task runs with")
	fs.StringVar(&o.file, "file", "", "import: upload this local file to the import's source first; export: download the result to it (a file, DIR/, or -)")
	fs.BoolVar(&o.force, "force", false, "export --file: replace the local file when it exists")
	fs.StringVar(&o.dumpDir, "dump-dir", ".", "where a failed task's failure dumps are saved")
	fs.DurationVar(&o.poll, "poll-interval", time.Second, "first wait between status requests (it grows up to 15s)")
}

// connectionHelp is how the connection reaches the command.
const connectionHelp = `The connection comes from a connection string such as
    AuthScheme=Basic;User=ada@example.com;Password=…;Region=EU1
    AuthScheme=Certificate;Certificate=cert.pem;PrivateKey=key.pem
    AuthScheme=OAuth;OAuthClientId=…;InitiateOAuth=REFRESH
read from the first of these that is set:
    --connection-file FILE   a file holding it (- for standard input)
    --connection STRING      the string itself (seen by ps and kept in shell history)
    $ANAPLAN_CONNECTION_FILE a file holding it
    $ANAPLAN_CONNECTION      the string itself
Credentials are accepted nowhere else.
`

const exitHelp = `Exit status: 0 on success, 1 on failure, 2 on bad usage or bad configuration
(a flag, an argument or the connection string), 130 when interrupted (Ctrl-C).
`

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: anaplan COMMAND [flags] [arguments]\n\n"+connectionHelp+"\nCommands:\n")
	for _, c := range commands {
		name := c.name
		if c.args != "" {
			name += " " + c.args
		}
		fmt.Fprintf(w, "    %-48s %s\n", name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'anaplan help COMMAND' or 'anaplan COMMAND --help' for the flags of a command;\neach command takes only the flags listed there. 'anaplan --version' prints the version.\n\n"+exitHelp)
}

// commandUsage writes c's help: what it does and exactly its flags.
func commandUsage(w io.Writer, c *command) {
	line := "anaplan " + c.name
	if c.args != "" {
		line += " " + c.args
	}
	var o opts
	fs := newFlagSet(c, &o)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		line += " [flags]"
	}
	fmt.Fprintf(w, "Usage: %s\n    %s\n", line, c.summary)
	if n == 0 {
		fmt.Fprint(w, "\nNo flags.\n")
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		kind, text := flag.UnquoteUsage(f)
		head := dash + f.Name
		if kind != "" {
			head += " " + kind
		}
		fmt.Fprintf(w, "    %-26s %s", head, text)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	if c.use()&useConn != 0 {
		fmt.Fprint(w, "\n"+connectionHelp)
	}
}

func newFlagSet(c *command, o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("anaplan "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addFlags(fs, c, o)
	return fs
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// app is one command being run.
type app struct {
	env
	o opts

	// the connection string, read once (standard input can be read once)
	cs         string
	csErr      error
	csRead     bool
	stdinTaken bool // standard input holds the connection
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
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		if strings.HasPrefix(name, "-") {
			return usagef("no command given (flags go with a command: anaplan COMMAND [flags])")
		}
		return unknownCommand(name, at > 0)
	}
	a := &app{env: e}
	fs := newFlagSet(cmd, &a.o)
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(e.stdout, cmd)
		return nil
	}
	if err != nil {
		return usagef("%s: %s", cmd.name, flagError(err, cmd))
	}
	if len(pos) < cmd.nargs[0] || len(pos) > cmd.nargs[1] {
		if cmd.args == "" {
			return usagef("%s takes no arguments", cmd.name)
		}
		return usagef("usage: anaplan %s %s", cmd.name, cmd.args)
	}
	if cmd.use()&(useWorkspace|useModel) != 0 && a.o.workspace == "" {
		a.o.workspace = e.getenv("ANAPLAN_WORKSPACE")
	}
	if cmd.needsModel() && a.o.model == "" {
		a.o.model = e.getenv("ANAPLAN_MODEL")
	}
	if cmd.needsModel() && a.o.model == "" {
		return usagef("%s needs the model: pass --model NAME-OR-ID (and --workspace when the name is not unique), or set ANAPLAN_MODEL", cmd.name)
	}
	return cmd.run(ctx, a, pos)
}

// flagError rewords an error of package flag so that it never shows a
// value: the value given to a flag may be a secret (--json=hunter2 was
// once echoed as `invalid boolean value "hunter2"`).
func flagError(err error, cmd *command) string {
	msg := err.Error()
	if m := flagValueError.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the value given to %s is not valid (%s; the value is not shown, in case it holds a secret); run 'anaplan help %s' for its flags", dashed(m[1]), m[2], cmd.name)
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Sprintf("%s is not a flag of %s; run 'anaplan help %s' for its flags", dashed(name), cmd.name, cmd.name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("%s needs a value", dashed(name))
	}
	if name, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok && !mayHoldSecret(name) {
		return "bad flag syntax: " + name
	}
	return "bad flag syntax"
}

var flagValueError = regexp.MustCompile(`(?s)^invalid (?:boolean )?value ".*" for (?:flag )?-(\S+): (.*)$`)

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func cmdHelp(_ context.Context, a *app, args []string) error {
	if len(args) == 0 {
		usage(a.stdout)
		return nil
	}
	c := lookupCommand(args[0])
	if c == nil {
		return unknownCommand(args[0], false)
	}
	commandUsage(a.stdout, c)
	return nil
}

func cmdVersion(_ context.Context, a *app, _ []string) error {
	fmt.Fprintf(a.stdout, "anaplan %s (%s %s/%s)\n", anaplan.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// unknownCommand is the usage error for a command name that is none of
// ours. The word itself is never shown: it is often the value of a flag
// that was misspelt or left out, and that value may well be the connection
// string, password included.
func unknownCommand(name string, afterFlags bool) error {
	switch {
	case mayHoldSecret(name):
		return usagef(`unknown command (not shown: it looks like a connection string); pass it with --connection-file FILE or --connection "…" (two dashes, that spelling), or set ANAPLAN_CONNECTION`)
	case nearestCommand(name) != "":
		return usagef("unknown command; did you mean %q?", nearestCommand(name))
	case afterFlags:
		return usagef("unknown command (not shown, in case it holds a secret); a flag before it may be misspelt or not exist, so that its value was taken for the command")
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return usagef("unknown command (not shown, in case it holds a secret); the commands are %s", strings.Join(names, ", "))
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
	valued := map[string]bool{"connection": true, "connection-file": true, "workspace": true, "model": true}
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
