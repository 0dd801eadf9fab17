package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/go-anaplan/anaplan/internal/textdist"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
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

	data dataOpts // the model-data commands (data.go)
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

// connection returns the connection string, or a usage error.
func (a *app) connection() (string, error) {
	cs := a.o.connection
	if cs == "" {
		cs = a.getenv("ANAPLAN_CONNECTION")
	}
	if strings.TrimSpace(cs) == "" {
		return "", usagef(`no connection: pass --connection "AuthScheme=Basic;User=…;Password=…" or set ANAPLAN_CONNECTION (run 'anaplan demo' to try without one)`)
	}
	if _, err := anaplan.ParseConnectionString(cs); err != nil {
		return "", &usageError{msg: errorText(err)}
	}
	return cs, nil
}

// client signs in with the connection string.
func (a *app) client(ctx context.Context, extra ...anaplan.Option) (*anaplan.Client, error) {
	cs, err := a.connection()
	if err != nil {
		return nil, err
	}
	opts := []anaplan.Option{anaplan.FromConnectionString(cs), anaplan.WithUserAgent("anaplan-cli/" + anaplan.Version)}
	opts = append(opts, a.extra...)
	return anaplan.New(ctx, append(opts, extra...)...)
}

// closeTimeout bounds the logout (Basic, Certificate) or the save of the
// settings (OAuth) when a command ends, interrupted or not: a server that
// does not answer must not keep the command running.
var closeTimeout = 5 * time.Second

// closeClient closes c even when ctx was cancelled (Ctrl-C), within
// closeTimeout.
func closeClient(ctx context.Context, c *anaplan.Client) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return c.Close(cctx)
}

// withClient signs in, runs f, and closes the client.
func (a *app) withClient(ctx context.Context, f func(c *anaplan.Client) error) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	cerr := closeClient(ctx, c)
	if err != nil {
		return err
	}
	return cerr
}

// model resolves --workspace and --model (names or IDs) to a handle.
func (a *app) model(ctx context.Context, c *anaplan.Client) (*anaplan.ModelHandle, anaplan.Model, error) {
	var matches []anaplan.Model
	for m, err := range c.Models(ctx) {
		if err != nil {
			return nil, anaplan.Model{}, err
		}
		if a.o.workspace != "" && m.WorkspaceID != a.o.workspace && !strings.EqualFold(m.WorkspaceName, a.o.workspace) {
			continue
		}
		if m.ID == a.o.model {
			matches = []anaplan.Model{m}
			break
		}
		if strings.EqualFold(m.Name, a.o.model) {
			matches = append(matches, m)
		}
	}
	switch {
	case len(matches) == 1:
		return c.Model(matches[0].WorkspaceID, matches[0].ID), matches[0], nil
	case len(matches) > 1:
		var ws []string
		for _, m := range matches {
			ws = append(ws, fmt.Sprintf("%s (%s)", m.WorkspaceName, m.WorkspaceID))
		}
		return nil, anaplan.Model{}, fmt.Errorf("several models are called %q, in workspaces %s: choose one with --workspace", a.o.model, strings.Join(ws, ", "))
	case a.o.workspace != "":
		// Not listed: let the server say what it thinks of these IDs.
		m := c.Model(a.o.workspace, a.o.model)
		info, err := m.Info(ctx)
		if err != nil {
			return nil, anaplan.Model{}, fmt.Errorf("model %q of workspace %q: %w", a.o.model, a.o.workspace, err)
		}
		return m, *info, nil
	}
	return nil, anaplan.Model{}, fmt.Errorf("no model called or with ID %q among the models the user can see: run 'anaplan models' to list them", a.o.model)
}

// find picks the item whose ID is key, or else whose name is key (exactly,
// then ignoring case).
func find[T any](seq iter.Seq2[T, error], key, what, plural string, id, name func(T) string) (T, error) {
	var zero T
	var exact, folded []T
	for v, err := range seq {
		if err != nil {
			return zero, err
		}
		switch {
		case id(v) == key:
			return v, nil
		case name(v) == key:
			exact = append(exact, v)
		case strings.EqualFold(name(v), key):
			folded = append(folded, v)
		}
	}
	for _, set := range [][]T{exact, folded} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		}
		return zero, fmt.Errorf("several %s are called %q: use the ID", plural, key)
	}
	return zero, fmt.Errorf("no %s called or with ID %q in the model: run 'anaplan %s' to list them", what, key, plural)
}

// errorText is an error for a person: what went wrong and what to do.
func errorText(err error) string {
	msg := clean(strings.TrimPrefix(err.Error(), "anaplan: "))
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted: " + msg
	case errors.As(err, &ua), errors.As(err, &ci),
		// Some sign-in errors keep only the text of their cause.
		strings.Contains(msg, "x509: certificate signed by unknown authority"), strings.Contains(msg, "tls: failed to verify certificate"):
		return msg + "\n(the server's TLS certificate is not trusted: when it is signed by a private CA, point SSL_CERT_FILE at that CA's PEM file)"
	case errors.As(err, &hn):
		return msg + "\n(the server's TLS certificate is for another host: check AuthURL and APIURL in the connection string)"
	case errors.Is(err, anaplan.ErrInteractionRequired):
		return msg + "\n(run 'anaplan login' to sign in and save the settings)"
	case errors.Is(err, anaplan.ErrUnauthorized):
		return msg + "\n(check the credentials in the connection string)"
	}
	return msg
}

// ---- commands

func cmdWhoami(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		u, err := c.CurrentUser(ctx)
		if err != nil {
			return err
		}
		return a.print(u, []string{"ID", "EMAIL", "NAME"}, [][]string{{u.ID, u.Email, strings.TrimSpace(u.FirstName + " " + u.LastName)}})
	})
}

func cmdWorkspaces(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		ws, err := anaplan.Collect(c.Workspaces(ctx))
		if err != nil {
			return err
		}
		rows := make([][]string, len(ws))
		for i, w := range ws {
			rows[i] = []string{w.ID, w.Name, yesNo(w.Active), size(w.CurrentSize) + " / " + size(w.SizeAllowance)}
		}
		return a.print(nonNil(ws), []string{"ID", "NAME", "ACTIVE", "USED"}, rows)
	})
}

func cmdModels(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		var ms []anaplan.Model
		for m, err := range c.Models(ctx) {
			if err != nil {
				return err
			}
			if a.o.workspace == "" || m.WorkspaceID == a.o.workspace || strings.EqualFold(m.WorkspaceName, a.o.workspace) {
				ms = append(ms, m)
			}
		}
		rows := make([][]string, len(ms))
		for i, m := range ms {
			rows[i] = []string{m.ID, m.Name, m.ActiveState, m.WorkspaceName}
		}
		return a.print(nonNil(ms), []string{"ID", "NAME", "STATE", "WORKSPACE"}, rows)
	})
}

func cmdList(what string) func(ctx context.Context, a *app, _ []string) error {
	return func(ctx context.Context, a *app, _ []string) error {
		return a.withClient(ctx, func(c *anaplan.Client) error {
			m, _, err := a.model(ctx, c)
			if err != nil {
				return err
			}
			switch what {
			case "files":
				return printList(a, m.Files(ctx), []string{"ID", "NAME", "CHUNKS"}, func(f anaplan.File) []string {
					return []string{f.ID, f.Name, fmt.Sprint(f.ChunkCount)}
				})
			case "imports":
				return printList(a, m.Imports(ctx), []string{"ID", "NAME", "TYPE", "SOURCE FILE"}, func(i anaplan.Import) []string {
					return []string{i.ID, i.Name, i.ImportType, i.ImportDataSourceID}
				})
			case "exports":
				return printList(a, m.Exports(ctx), []string{"ID", "NAME", "FORMAT"}, func(e anaplan.Export) []string {
					return []string{e.ID, e.Name, e.ExportFormat}
				})
			case "processes":
				return printList(a, m.Processes(ctx), []string{"ID", "NAME"}, func(p anaplan.Process) []string {
					return []string{p.ID, p.Name}
				})
			default:
				return printList(a, m.Actions(ctx), []string{"ID", "NAME", "TYPE"}, func(x anaplan.Action) []string {
					return []string{x.ID, x.Name, x.ActionType}
				})
			}
		})
	}
}

func printList[T any](a *app, seq iter.Seq2[T, error], header []string, row func(T) []string) error {
	items, err := anaplan.Collect(seq)
	if err != nil {
		return err
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	return a.print(nonNil(items), header, rows)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func fileByKey(ctx context.Context, m *anaplan.ModelHandle, key string) (anaplan.File, error) {
	return find(m.Files(ctx), key, "file", "files", func(f anaplan.File) string { return f.ID }, func(f anaplan.File) string { return f.Name })
}

func cmdUpload(ctx context.Context, a *app, args []string) error {
	local := args[0]
	key := a.o.file
	if key == "" {
		if local == "-" {
			return usagef("upload from stdin needs --file NAME-OR-ID: the model's file to replace")
		}
		key = filepath.Base(local)
	}
	if a.o.chunkMiB < 1 || a.o.chunkMiB > 1024 {
		return usagef("--chunk-size is in MiB, from 1 to 1024 (Anaplan asks for chunks of 1 to 50 MB)")
	}
	if err := a.checkConcurrency(); err != nil {
		return err
	}
	// Standard input may be a terminal or a pipe that stays silent: a read
	// of it cannot be interrupted, so Ctrl-C must not wait for one.
	var r io.Reader = &interruptibleReader{ctx: ctx, r: a.stdin}
	var total int64
	if local != "-" {
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			total = st.Size()
		}
		r = f
	}
	return a.withClient(ctx, func(c *anaplan.Client) error {
		m, _, err := a.model(ctx, c)
		if err != nil {
			return err
		}
		file, err := fileByKey(ctx, m, key)
		if err != nil {
			return err
		}
		bar := a.progress("upload " + clean(file.Name))
		n, err := m.Upload(ctx, file.ID, r, &anaplan.UploadOptions{
			ChunkSize: a.o.chunkMiB << 20, Concurrency: a.o.concurrency, Gzip: a.o.gzip, Size: total, Progress: bar.transfer,
		})
		bar.done()
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(map[string]any{"file": file, "bytes": n})
		}
		fmt.Fprintf(a.stdout, "Uploaded %s to %s (%s).\n", size(n), clean(file.Name), clean(file.ID))
		return nil
	})
}

// checkConcurrency checks --concurrency.
func (a *app) checkConcurrency() error {
	if a.o.concurrency < 1 || a.o.concurrency > anaplan.MaxConcurrency {
		return usagef("--concurrency is the number of chunks in flight at once, from 1 to %d (default %d)", anaplan.MaxConcurrency, anaplan.DefaultConcurrency)
	}
	return nil
}

func cmdDownload(ctx context.Context, a *app, args []string) error {
	if err := a.checkConcurrency(); err != nil {
		return err
	}
	if a.o.output == "-" && a.o.json {
		return usagef("download -o - writes the file to standard output, where --json would add its summary: write the file with -o FILE and keep --json, or leave --json out")
	}
	return a.withClient(ctx, func(c *anaplan.Client) error {
		m, _, err := a.model(ctx, c)
		if err != nil {
			return err
		}
		file, err := fileByKey(ctx, m, args[0])
		if err != nil {
			return err
		}
		n, path, err := a.download(ctx, m, file.ID, file.Name, a.o.output)
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(map[string]any{"file": file, "bytes": n, "path": path})
		}
		a.note("Downloaded %s of %s (%s) to %s.", size(n), clean(file.Name), clean(file.ID), clean(path))
		return nil
	})
}

// download writes a model's file to path ("" = its name here, "-" = stdout).
// A file is written whole or not at all: into a temporary name, renamed at
// the end.
func (a *app) download(ctx context.Context, m *anaplan.ModelHandle, id, name, path string) (int64, string, error) {
	bar := a.progress("download " + clean(name))
	defer bar.done()
	opts := &anaplan.DownloadOptions{Concurrency: max(a.o.concurrency, 1), Progress: bar.transfer}
	if path == "-" {
		n, err := m.Download(ctx, id, a.stdout, opts)
		return n, stdoutName, err
	}
	if path == "" {
		path = safeName(name, id)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return 0, path, err
	}
	n, err := m.Download(ctx, id, tmp, opts)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return n, path, err
}

// interruptibleReader reads r, but a Read returns ctx's error as soon as
// ctx ends, even while r is blocked (the read goes on in a goroutine that
// is then abandoned; every later Read fails, so its data is never used).
type interruptibleReader struct {
	ctx context.Context
	r   io.Reader
	buf []byte
}

type readResult struct {
	n   int
	err error
}

func (ir *interruptibleReader) Read(p []byte) (int, error) {
	if err := ir.ctx.Err(); err != nil {
		return 0, context.Cause(ir.ctx)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := min(len(p), 256<<10) // a short read is fine, and keeps the copy small
	if cap(ir.buf) < n {
		ir.buf = make([]byte, n)
	}
	buf := ir.buf[:n]
	done := make(chan readResult, 1)
	go func() {
		n, err := ir.r.Read(buf)
		done <- readResult{n, err}
	}()
	select {
	case res := <-done:
		return copy(p, buf[:res.n]), res.err
	case <-ir.ctx.Done():
		ir.buf = nil // the abandoned read may still write into buf
		return 0, context.Cause(ir.ctx)
	}
}

// stdoutName is the path a download to "-" reports.
const stdoutName = "standard output"

// safeName makes a file name from an Anaplan file's name.
func safeName(name, id string) string {
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" || name == ".." || name == "" {
		return id
	}
	return name
}

func cmdRun(ctx context.Context, a *app, args []string) error {
	kind := anaplan.TaskKind(strings.ToLower(args[0]))
	switch kind {
	case anaplan.ImportTask, anaplan.ExportTask, anaplan.ProcessTask, anaplan.ActionTask:
	default:
		return usagef("run what? Say import, export, process or action, then its name or ID (not %q)", args[0])
	}
	if a.o.file != "" && kind != anaplan.ImportTask && kind != anaplan.ExportTask {
		return usagef("--file goes with run import (the data to load) or run export (where to save the result)")
	}
	if a.o.poll <= 0 {
		return usagef("--poll-interval must be positive")
	}
	if kind == anaplan.ExportTask && a.o.file == "-" && a.o.json {
		return usagef("run export --file - writes the file to standard output, where --json would add the result: save the file with --file FILE and keep --json, or leave --json out")
	}
	key := args[1]
	return a.withClient(ctx, func(c *anaplan.Client) error {
		m, _, err := a.model(ctx, c)
		if err != nil {
			return err
		}
		id, name, source, err := lookupAction(ctx, m, kind, key)
		if err != nil {
			return err
		}
		if kind == anaplan.ImportTask && a.o.file != "" {
			if source == "" {
				return fmt.Errorf("import %s names no source file to upload --file into", name)
			}
			f, err := os.Open(a.o.file)
			if err != nil {
				return err
			}
			defer f.Close()
			var total int64
			if st, err := f.Stat(); err == nil {
				total = st.Size()
			}
			bar := a.progress("upload " + filepath.Base(a.o.file))
			_, err = m.Upload(ctx, source, f, &anaplan.UploadOptions{Size: total, Progress: bar.transfer})
			bar.done()
			if err != nil {
				return err
			}
		}
		bar := a.progress(string(kind) + " " + clean(name))
		res, err := m.Run(ctx, kind, id, &anaplan.RunOptions{Locale: a.o.locale, PollInterval: a.o.poll, MaxPollInterval: max(15*time.Second, a.o.poll), Progress: bar.task})
		bar.done()
		var te *anaplan.TaskError
		if err != nil && !errors.As(err, &te) {
			return err
		}
		dumps := a.saveDumps(ctx, m, res)
		out := map[string]any{"result": res, "dumps": nonNil(dumps)}
		if te == nil && kind == anaplan.ExportTask && a.o.file != "" {
			n, path, err := a.download(ctx, m, id, name, a.o.file)
			if err != nil {
				return err
			}
			out["bytes"], out["path"] = n, path
		}
		if a.o.json {
			if err := a.printJSON(out); err != nil {
				return err
			}
		} else {
			status := "completed"
			if te != nil {
				status = "FAILED"
				if res.State == anaplan.TaskCancelled {
					status = "was cancelled"
				}
			}
			// With run export --file -, standard output holds the file:
			// the status goes to stderr.
			w := a.stdout
			if out["path"] == stdoutName {
				w = a.stderr
			}
			fmt.Fprintf(w, "%s %s (%s) %s", kind, clean(name), clean(id), status)
			if msg := res.Message(); msg != "" {
				fmt.Fprintf(w, ": %s", clean(msg))
			}
			fmt.Fprintln(w)
			if p, ok := out["path"]; ok {
				a.note("Downloaded %s to %s.", size(out["bytes"].(int64)), clean(p.(string)))
			}
		}
		for _, p := range dumps {
			fmt.Fprintf(a.stderr, "Failure dump saved to %s\n", clean(p))
		}
		if te != nil {
			if !a.o.json {
				return errSilent
			}
			return te
		}
		return nil
	})
}

// lookupAction finds an import, export, process or action by name or ID; for
// an import it also returns its source file.
func lookupAction(ctx context.Context, m *anaplan.ModelHandle, kind anaplan.TaskKind, key string) (id, name, source string, err error) {
	switch kind {
	case anaplan.ImportTask:
		v, err := find(m.Imports(ctx), key, "import", "imports", func(x anaplan.Import) string { return x.ID }, func(x anaplan.Import) string { return x.Name })
		return v.ID, v.Name, v.ImportDataSourceID, err
	case anaplan.ExportTask:
		v, err := find(m.Exports(ctx), key, "export", "exports", func(x anaplan.Export) string { return x.ID }, func(x anaplan.Export) string { return x.Name })
		return v.ID, v.Name, "", err
	case anaplan.ProcessTask:
		v, err := find(m.Processes(ctx), key, "process", "processes", func(x anaplan.Process) string { return x.ID }, func(x anaplan.Process) string { return x.Name })
		return v.ID, v.Name, "", err
	}
	v, err := find(m.Actions(ctx), key, "action", "actions", func(x anaplan.Action) string { return x.ID }, func(x anaplan.Action) string { return x.Name })
	return v.ID, v.Name, "", err
}

// saveDumps saves the failure dumps of a result into --dump-dir and returns
// their paths. A dump that cannot be saved is reported and skipped.
func (a *app) saveDumps(ctx context.Context, m *anaplan.ModelHandle, res *anaplan.TaskResult) []string {
	var paths []string
	for _, d := range res.Dumps() {
		name := fmt.Sprintf("dump-%s-%s", d.ActionID, d.TaskID)
		if d.ObjectID != "" && d.ObjectID != d.ActionID {
			name += "-" + d.ObjectID
		}
		path := filepath.Join(a.o.dumpDir, safeName(name+".csv", "dump.csv"))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err == nil {
			_, err = m.Dump(ctx, d, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "anaplan: could not save the failure dump to %s: %s\n", clean(path), errorText(err))
			continue
		}
		paths = append(paths, path)
	}
	return paths
}

func cmdToken(ctx context.Context, a *app, _ []string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	// Closing a Basic or Certificate client logs its session out, which
	// would kill the token printed; an OAuth client's Close only saves what
	// it holds (a rotated refresh token), which must not be lost.
	if cs, _ := a.connection(); isOAuth(cs) {
		if err := closeClient(ctx, c); err != nil {
			return err
		}
	}
	if a.o.json {
		out := map[string]any{"token": tok.Value, "type": tok.Type}
		if !tok.Expiry.IsZero() {
			out["expiry"] = tok.Expiry.UTC().Format(time.RFC3339)
		}
		return a.printJSON(out)
	}
	fmt.Fprintln(a.stdout, tok.Value)
	return nil
}

func isOAuth(cs string) bool {
	m, err := anaplan.ParseConnectionString(cs)
	return err == nil && strings.EqualFold(m["AuthScheme"], "OAuth")
}

// settingsLocation is where FromConnectionString keeps OAuth settings.
func settingsLocation(m map[string]string) (string, error) {
	if loc := m["OAuthSettingsLocation"]; loc != "" {
		return loc, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no default place for the OAuth settings (%w): set OAuthSettingsLocation in the connection string", err)
	}
	return filepath.Join(dir, "anaplan", "oauth-settings"), nil
}

func cmdLogin(ctx context.Context, a *app, _ []string) error {
	cs, err := a.connection()
	if err != nil {
		return err
	}
	m, _ := anaplan.ParseConnectionString(cs)
	if !strings.EqualFold(m["AuthScheme"], "OAuth") {
		return usagef("login is for AuthScheme=OAuth (Basic and Certificate sign in on every run and save nothing)")
	}
	if m["OAuthClientId"] == "" {
		return usagef("login needs OAuthClientId in the connection string (a device-grant client, or one with OAuthClientSecret and CallbackURL)")
	}
	loc, err := settingsLocation(m)
	if err != nil {
		return err
	}
	m["InitiateOAuth"] = string(anaplan.InitiateGetAndRefresh)
	m["OAuthSettingsLocation"] = loc
	if !strings.HasPrefix(loc, "memory://") {
		if err := os.MkdirAll(filepath.Dir(loc), 0o700); err != nil {
			return err
		}
	}
	c, err := anaplan.New(ctx, append([]anaplan.Option{anaplan.FromConnectionString(joinConnectionString(m)), anaplan.WithUserAgent("anaplan-cli/" + anaplan.Version)}, a.extra...)...)
	if err != nil {
		return err
	}
	u, uerr := c.CurrentUser(ctx)
	if err := closeClient(ctx, c); err != nil {
		return err
	}
	who := "the user"
	if uerr == nil {
		who = u.Email
	}
	if a.o.json {
		return a.printJSON(map[string]any{"user": who, "settings": loc})
	}
	fmt.Fprintf(a.stdout, "Signed in as %s. Settings saved to %s.\n", clean(who), loc)
	a.note("To use them on another machine, copy that file there and connect with the same OAuthClientId, InitiateOAuth=REFRESH and OAuthSettingsLocation set to the copy.")
	return nil
}

// joinConnectionString writes properties back as a connection string,
// quoting every value.
func joinConnectionString(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s=\"%s\";", k, strings.ReplaceAll(v, `"`, `""`))
	}
	return b.String()
}

func cmdLogout(_ context.Context, a *app, _ []string) error {
	cs, err := a.connection()
	if err != nil {
		return err
	}
	m, _ := anaplan.ParseConnectionString(cs)
	if !strings.EqualFold(m["AuthScheme"], "OAuth") {
		a.note("Nothing to do: AuthScheme=%s saves no sign-in.", m["AuthScheme"])
		return nil
	}
	loc, err := settingsLocation(m)
	if err != nil {
		return err
	}
	if strings.HasPrefix(loc, "memory://") {
		a.note("Nothing to do: %s lives only as long as a process.", loc)
		return nil
	}
	switch err := os.Remove(loc); {
	case errors.Is(err, os.ErrNotExist):
		a.note("No saved sign-in at %s.", loc)
		return nil
	case err != nil:
		return err
	}
	_ = os.Remove(loc + ".lock")
	a.note("Deleted the saved sign-in at %s.", loc)
	return nil
}
