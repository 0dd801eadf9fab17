// The run command: imports, exports, processes and actions.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
)

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
		v, err := m.FindImport(ctx, key)
		if err != nil {
			return "", "", "", err
		}
		return v.ID, v.Name, v.ImportDataSourceID, nil
	case anaplan.ExportTask:
		v, err := m.FindExport(ctx, key)
		if err != nil {
			return "", "", "", err
		}
		return v.ID, v.Name, "", nil
	case anaplan.ProcessTask:
		v, err := m.FindProcess(ctx, key)
		if err != nil {
			return "", "", "", err
		}
		return v.ID, v.Name, "", nil
	}
	v, err := m.FindAction(ctx, key)
	if err != nil {
		return "", "", "", err
	}
	return v.ID, v.Name, "", nil
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
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
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
