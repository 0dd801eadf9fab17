package main

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"

	"github.com/go-anaplan/anaplan"
)

// This file is the large-volume read command: a view or a list of any size
// to a CSV file, through Anaplan's read requests.

func init() {
	at := slices.IndexFunc(commands, func(c *command) bool { return c.name == "demo" })
	if at < 0 {
		at = len(commands)
	}
	commands = slices.Insert(commands, at, &command{name: "read", args: "view|list NAME-OR-ID",
		summary: "read a whole view or list with a large-volume read request into one CSV file (-o FILE, DIR/ or -)",
		model:   true, nargs: [2]int{2, 2}, flags: readFlags, run: cmdRead})
}

func readFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.output, "o", "", "where to write the CSV: a file, a directory (DIR/), or - for stdout (default: the view's or list's name in the current directory)")
	fs.BoolVar(&o.force, "force", false, "replace the local file when it exists")
	fs.IntVar(&o.concurrency, "concurrency", 4, "pages fetched at once")
}

func cmdRead(ctx context.Context, a *app, args []string) error {
	kind, key := args[0], args[1]
	if kind != "view" && kind != "list" {
		return usagef("read takes view or list, then a name or ID")
	}
	if a.o.output == "-" && a.o.json {
		return usagef("read -o - writes the CSV to standard output, where --json would add its summary: write it with -o FILE and keep --json, or leave --json out")
	}
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		var id, name string
		if kind == "view" {
			v, err := findView(ctx, m, key)
			if err != nil {
				return err
			}
			id, name = v.ID, v.Name
		} else {
			l, err := findList(ctx, m, key)
			if err != nil {
				return err
			}
			id, name = l.ID, l.Name
		}
		bar := a.progress("read " + clean(name))
		defer bar.done()
		opts := &anaplan.ReadOptions{Concurrency: max(a.o.concurrency, 1), Progress: func(p anaplan.ReadProgress) {
			bar.transfer(anaplan.TransferProgress{Bytes: p.Bytes, TotalBytes: -1, Chunks: p.Pages, TotalChunks: p.TotalPages})
		}}
		read := func(w io.Writer) (int64, error) {
			if kind == "view" {
				return m.ReadView(ctx, id, w, opts)
			}
			return m.ReadList(ctx, id, w, opts)
		}
		var n int64
		path := stdoutName
		if a.o.output == "-" {
			var err error
			if n, err = read(a.stdout); err != nil {
				return err
			}
		} else {
			var err error
			if path, err = a.target(a.o.output, name+".csv", id); err != nil {
				return err
			}
			tmp, err := createPart(path)
			if err != nil {
				return err
			}
			n, err = read(tmp)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = a.place(tmp.Name(), path)
			}
			if err != nil {
				_ = os.Remove(tmp.Name())
				return err
			}
		}
		if a.o.json {
			return a.printJSON(map[string]any{kind: map[string]string{"id": id, "name": name}, "bytes": n, "path": path})
		}
		a.note("Read %s %s (%s): %s to %s.", kind, clean(name), clean(id), size(n), clean(path))
		return nil
	})
}
