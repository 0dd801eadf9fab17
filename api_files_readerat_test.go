package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// TestUploadFromReaderAt: inputs whose bytes can be read at an offset
// (*os.File, *bytes.Reader, *strings.Reader, *io.SectionReader) are sent
// straight from them, from their current position, chunk by chunk; the
// content, the count returned, the number of chunks, the retry of a failed
// chunk and the reader's position afterwards are as for any reader.
func TestUploadFromReaderAt(t *testing.T) {
	const chunk = 1000
	want := data(3500)
	path := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(path, append([]byte("skipped!"), want...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) io.Reader
		want []byte
	}{
		{"os.File after a first read", func(t *testing.T) io.Reader {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if _, err := io.ReadFull(f, make([]byte, 8)); err != nil {
				t.Fatal(err)
			}
			return f
		}, want},
		{"bytes.Reader", func(*testing.T) io.Reader { return bytes.NewReader(want) }, want},
		{"strings.Reader", func(*testing.T) io.Reader { return strings.NewReader(string(want)) }, want},
		{"io.SectionReader", func(*testing.T) io.Reader {
			return io.NewSectionReader(bytes.NewReader(append([]byte("xx"), want...)), 2, int64(len(want)))
		}, want},
		{"empty", func(*testing.T) io.Reader { return bytes.NewReader(nil) }, []byte{}},
		{"exactly one chunk", func(*testing.T) io.Reader { return bytes.NewReader(want[:chunk]) }, want[:chunk]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
			chunk1 := "PUT " + modelPath + "/files/" + fileID + "/chunks/1"
			f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusServiceUnavailable, Path: chunk1})
			r := tc.open(t)
			var last anaplan.Progress
			n, err := f.m.Upload(context.Background(), fileID, r, &anaplan.UploadOptions{ChunkSize: chunk,
				Progress: func(p anaplan.Progress) { last = p }})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(tc.want)) {
				t.Errorf("Upload returned %d, want %d", n, len(tc.want))
			}
			if got, _ := f.srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, tc.want) {
				t.Errorf("content differs: %d bytes stored, want %d", len(got), len(tc.want))
			}
			wantChunks := max((len(tc.want)+chunk-1)/chunk, 1)
			if got := f.srv.FileChunks(testWS, testModel, fileID); got != wantChunks {
				t.Errorf("%d chunks stored, want %d", got, wantChunks)
			}
			if last.Chunks != wantChunks || last.TotalChunks != wantChunks || last.Bytes != int64(len(tc.want)) || last.TotalBytes != int64(len(tc.want)) {
				t.Errorf("last progress %+v", last)
			}
			if len(tc.want) > chunk {
				if calls := f.srv.Calls(chunk1); calls != 2 {
					t.Errorf("chunk 1 sent %d times, want 2 (one failure, one retry)", calls)
				}
			}
			// The reader is left at its end, as if read.
			if rest, _ := io.ReadAll(r); len(rest) != 0 {
				t.Errorf("%d bytes left in the reader after Upload", len(rest))
			}
		})
	}
}

// TestUploadFromReaderAtFailure: a chunk that fails leaves the reader after
// the bytes acknowledged and reports them, as for any reader.
func TestUploadFromReaderAtFailure(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("kept")})
	chunk1 := "PUT " + modelPath + "/files/" + fileID + "/chunks/1"
	f.srv.FailNext(10, anaplantest.Fault{Status: http.StatusBadRequest, Path: chunk1})
	r := bytes.NewReader(data(3500))
	n, err := f.m.Upload(context.Background(), fileID, r, &anaplan.UploadOptions{ChunkSize: 1000, Concurrency: 1})
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		t.Fatalf("error %v, want the 400 of chunk 1", err)
	}
	if n != 1000 {
		t.Errorf("Upload reports %d bytes, want the 1000 of chunk 0", n)
	}
	if pos := r.Size() - int64(r.Len()); pos != n {
		t.Errorf("the reader is at %d, want %d", pos, n)
	}
	if got, _ := f.srv.FileContent(testWS, testModel, fileID); string(got) != "kept" {
		t.Errorf("the file changed: %q", got)
	}
}
