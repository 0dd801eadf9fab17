// The transfer commands: upload and download.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/go-anaplan/anaplan"
)

func fileByKey(ctx context.Context, m *anaplan.ModelHandle, key string) (anaplan.File, error) {
	f, err := m.FindFile(ctx, key)
	if err != nil {
		return anaplan.File{}, err
	}
	return *f, nil
}

func cmdUpload(ctx context.Context, a *app, args []string) error {
	local := args[0]
	if local == "-" && (a.o.connectionFile == "-" || (a.o.connectionFile == "" && a.o.connection == "" && a.getenv("ANAPLAN_CONNECTION_FILE") == "-")) {
		return usagef("standard input cannot hold both the connection (--connection-file -) and the data (upload -)")
	}
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

// download writes a model's file to path: "" is its name in the current
// directory, a directory (or a path ending in a separator) its name in
// there, "-" standard output. A file is written whole or not at all: into a
// temporary name beside it, then moved into place; an existing file is
// replaced only with --force. The file gets the mode a new file gets (0666
// less the umask).
func (a *app) download(ctx context.Context, m *anaplan.ModelHandle, id, name, path string) (int64, string, error) {
	if path == "-" {
		bar := a.progress("download " + clean(name))
		defer bar.done()
		n, err := m.Download(ctx, id, a.stdout, &anaplan.DownloadOptions{Concurrency: max(a.o.concurrency, 1), Progress: bar.transfer})
		return n, stdoutName, err
	}
	path, err := a.target(path, name, id)
	if err != nil {
		return 0, path, err
	}
	bar := a.progress("download " + clean(name))
	defer bar.done()
	tmp, err := createPart(path)
	if err != nil {
		return 0, path, err
	}
	n, err := m.Download(ctx, id, tmp, &anaplan.DownloadOptions{Concurrency: max(a.o.concurrency, 1), Progress: bar.transfer})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = a.place(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return n, path, err
}

// target is the local path a download writes, checked before anything is
// fetched.
func (a *app) target(path, name, id string) (string, error) {
	if path == "" {
		path = safeName(name, id)
	} else if strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) {
		st, err := os.Stat(path)
		if err != nil || !st.IsDir() {
			return path, fmt.Errorf("%s is not a directory: create it first, or leave the final %q out to name a file", path, path[len(path)-1:])
		}
		path = filepath.Join(path, safeName(name, id))
	} else if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, safeName(name, id))
	}
	if st, err := os.Lstat(path); err == nil {
		if st.IsDir() {
			return path, fmt.Errorf("%s is a directory", path)
		}
		if !a.o.force {
			return path, fmt.Errorf("%s exists: pass --force to replace it, or -o to write elsewhere", path)
		}
	}
	return path, nil
}

// createPart creates an empty temporary file beside path, with the mode
// the umask leaves of 0666.
func createPart(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		f, err := os.OpenFile(filepath.Join(dir, "."+base+"."+randomWord()[:8]+".part"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no free temporary name beside %s", path)
}

// place moves the finished download tmp to path. Without --force a file
// that appeared at path meanwhile is kept: the link fails when path exists.
func (a *app) place(tmp, path string) error {
	if a.o.force {
		return os.Rename(tmp, path)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: pass --force to replace it, or -o to write elsewhere", path)
		}
		// No hard links here (some file systems): check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%s exists: pass --force to replace it, or -o to write elsewhere", path)
		}
		return os.Rename(tmp, path)
	}
	return os.Remove(tmp)
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

// safeName makes a local file name from an Anaplan file's name: its last
// path element, with control characters, direction overrides and invalid
// UTF-8 replaced by "_" (a name that would otherwise move the cursor when
// listed, or hide its real extension); the ID when nothing usable is left.
func safeName(name, id string) string {
	var b strings.Builder
	for i, r := range name {
		if unsafeRune(r) || (r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD")) {
			r = '_'
		}
		b.WriteRune(r)
	}
	name = filepath.Base(strings.ReplaceAll(b.String(), `\`, "/"))
	if strings.Trim(name, ". _") == "" || name == "/" {
		return safeName(id, "download")
	}
	return name
}
