// The transfer commands: upload and download.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-anaplan/anaplan"
)

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
