package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

const fileID = "113000000042"

// data returns n bytes of CSV-like text that differ from chunk to chunk.
func data(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,item %d,%d\n", i, i*7, i*i)
	}
	return b.Bytes()[:n]
}

// randomData returns n bytes that do not compress.
func randomData(n int) []byte {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// opaqueReader hides the length and type of a reader, as a pipe would.
type opaqueReader struct{ r io.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// progressLog records Progress calls and checks them as they come.
type progressLog struct {
	mu    sync.Mutex
	calls []anaplan.TransferProgress
}

func (l *progressLog) add(p anaplan.TransferProgress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, p)
}

func (l *progressLog) last() anaplan.TransferProgress {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return anaplan.TransferProgress{}
	}
	return l.calls[len(l.calls)-1]
}

func TestUploadSizes(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("old")})
	const chunk = 1000
	tests := []struct {
		name   string
		size   int
		gzip   bool
		random bool
		reader func([]byte) io.Reader
		chunks int
	}{
		{name: "0 bytes", size: 0, chunks: 1},
		{name: "1 byte", size: 1, chunks: 1},
		{name: "exactly one chunk", size: chunk, chunks: 1},
		{name: "one chunk and a byte", size: chunk + 1, chunks: 2},
		{name: "many chunks", size: 10 * chunk, chunks: 10},
		{name: "not a multiple of the chunk size", size: 7*chunk + 123, chunks: 8},
		{name: "unknown length, one byte at a time", size: 3*chunk + 5, chunks: 4,
			reader: func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{name: "unknown length, data with EOF", size: 2*chunk - 1, chunks: 2,
			reader: func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		{name: "gzip 0 bytes", size: 0, gzip: true, chunks: 1},
		{name: "gzip many chunks", size: 9*chunk + 1, gzip: true, chunks: 10},
		{name: "gzip incompressible", size: 4 * chunk, gzip: true, random: true, chunks: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := data(tt.size)
			if tt.random {
				want = randomData(tt.size)
			}
			var r io.Reader = opaqueReader{bytes.NewReader(want)}
			if tt.reader != nil {
				r = tt.reader(want)
			}
			var log progressLog
			n, err := f.m.Upload(context.Background(), fileID, r, &anaplan.UploadOptions{
				ChunkSize: chunk, Concurrency: 3, Gzip: tt.gzip, Progress: log.add,
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tt.size) {
				t.Errorf("Upload returned %d, want %d", n, tt.size)
			}
			got, _ := f.srv.FileContent(testWS, testModel, fileID)
			if !bytes.Equal(got, want) {
				t.Errorf("the server holds %d bytes that differ from the %d sent", len(got), len(want))
			}
			if c := f.srv.FileChunks(testWS, testModel, fileID); c != tt.chunks {
				t.Errorf("%d chunks, want %d", c, tt.chunks)
			}
			if d := cmp.Diff(anaplan.TransferProgress{Bytes: int64(tt.size), TotalBytes: int64(tt.size), Chunks: tt.chunks, TotalChunks: tt.chunks}, log.last()); d != "" {
				t.Errorf("last progress (-want +got):\n%s", d)
			}
			// One call per chunk, and one more when the end of the data was
			// seen after the last chunk was acknowledged.
			if n := len(log.calls); n != tt.chunks && n != tt.chunks+1 {
				t.Errorf("%d progress calls, want one per chunk (%d)", n, tt.chunks)
			}
		})
	}
}

func TestUploadDefaultsAndSizeHint(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	want := randomData(anaplan.DefaultChunkSize + 10)
	var log progressLog
	if _, err := f.m.Upload(context.Background(), fileID, bytes.NewReader(want), &anaplan.UploadOptions{Size: int64(len(want)), Progress: log.add}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, want) {
		t.Error("content differs")
	}
	if c := f.srv.FileChunks(testWS, testModel, fileID); c != 2 {
		t.Errorf("%d chunks with the default chunk size, want 2", c)
	}
	if p := log.calls[0]; p.TotalBytes != int64(len(want)) {
		t.Errorf("first progress %+v: TotalBytes should come from Size", p)
	}
	// nil options work too.
	if _, err := f.m.Upload(context.Background(), fileID, strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestUploadChunkFailingTwiceIsRetried(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	chunk1 := "PUT " + modelPath + "/files/" + fileID + "/chunks/1"
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusServiceUnavailable, Path: chunk1})
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0", Path: chunk1})
	want := data(3500)
	if _, err := f.m.Upload(context.Background(), fileID, bytes.NewReader(want), &anaplan.UploadOptions{ChunkSize: 1000}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, want) {
		t.Error("content differs")
	}
	if n := f.srv.Calls(chunk1); n != 3 {
		t.Errorf("chunk 1 was sent %d times, want 3", n)
	}
	if n := f.srv.Calls("PUT " + modelPath + "/files/" + fileID + "/chunks/0"); n != 1 {
		t.Errorf("chunk 0 was sent %d times, want 1", n)
	}
}

func TestUploadFailures(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("kept")})
	ctx := context.Background()
	t.Run("a chunk refused", func(t *testing.T) {
		f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusBadRequest, Path: "PUT " + modelPath + "/files/" + fileID + "/chunks/2"})
		_, err := f.m.Upload(ctx, fileID, bytes.NewReader(data(5000)), &anaplan.UploadOptions{ChunkSize: 1000})
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(err.Error(), "chunk 2") {
			t.Fatalf("error %v, want a 400 *APIError about chunk 2", err)
		}
	})
	t.Run("the reader fails", func(t *testing.T) {
		boom := errors.New("disk on fire")
		r := io.MultiReader(bytes.NewReader(data(2500)), iotest.ErrReader(boom))
		_, err := f.m.Upload(ctx, fileID, r, &anaplan.UploadOptions{ChunkSize: 1000})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading the data to upload") {
			t.Fatalf("error %v, want the reader's", err)
		}
	})
	t.Run("an unknown file", func(t *testing.T) {
		_, err := f.m.Upload(ctx, "NO-SUCH-FILE", strings.NewReader("x"), nil)
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 404 {
			t.Fatalf("error %v, want a 404 *APIError", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		tests := []struct {
			o    anaplan.UploadOptions
			want string
		}{
			{anaplan.UploadOptions{ChunkSize: -1}, "ChunkSize -1 is out of range"},
			{anaplan.UploadOptions{ChunkSize: 1<<30 + 1}, "use 1 byte to 1 GiB"},
			{anaplan.UploadOptions{Concurrency: -2}, "Concurrency -2 is out of range: use 1 to 64"},
			{anaplan.UploadOptions{Concurrency: anaplan.MaxConcurrency + 1}, "Concurrency 65 is out of range: use 1 to 64"},
			// Once a panic in make(chan): makechan: size out of range.
			{anaplan.UploadOptions{Concurrency: math.MaxInt}, "out of range: use 1 to 64"},
		}
		for _, tt := range tests {
			_, err := f.m.Upload(ctx, fileID, strings.NewReader("x"), &tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%+v: error %v, want one saying %q", tt.o, err, tt.want)
			}
		}
	})
	t.Run("nil reader", func(t *testing.T) {
		if _, err := f.m.Upload(ctx, fileID, nil, nil); err == nil || !strings.Contains(err.Error(), "needs a reader") {
			t.Errorf("error %v, want one saying a reader is needed", err)
		}
	})
	if got, _ := f.srv.FileContent(testWS, testModel, fileID); string(got) != "kept" {
		t.Errorf("a failed upload changed the file to %q", got)
	}
	if n := f.srv.Calls("POST " + modelPath + "/files/" + fileID + "/complete"); n != 0 {
		t.Errorf("a failed upload was completed %d times", n)
	}
}

// countingReader counts what has been read from it.
type countingReader struct {
	mu sync.Mutex
	r  io.Reader
	n  int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingReader) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestUploadIsBounded(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	f.srv.SetLatency(2 * time.Millisecond)
	const chunk, conc = 4 << 10, 3
	for _, tc := range []struct{ gz, sized bool }{{false, false}, {true, false}, {false, true}} {
		gz := tc.gz
		t.Run(fmt.Sprintf("gzip=%v/sized=%v", tc.gz, tc.sized), func(t *testing.T) {
			f.calls.maxInFlight.Store(0)
			src := &countingReader{r: bytes.NewReader(data(100 * chunk))}
			var size int64
			if tc.sized { // each chunk sent while it is read
				size = 100 * chunk
			}
			var ahead int64
			_, err := f.m.Upload(context.Background(), fileID, src, &anaplan.UploadOptions{
				ChunkSize: chunk, Concurrency: conc, Gzip: gz, Size: size,
				Progress: func(p anaplan.TransferProgress) { ahead = max(ahead, src.count()-p.Bytes) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if m := f.calls.maxInFlight.Load(); m > conc || m < 2 {
				t.Errorf("%d chunks in flight at most, want 2 to %d", m, conc)
			}
			// Data read but not yet acknowledged is what sits in memory.
			if limit := int64((conc + 1) * chunk); ahead > limit {
				t.Errorf("%d bytes read ahead of the acknowledged ones, more than %d", ahead, limit)
			}
		})
	}
}

func TestUploadCancelled(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("kept")})
	f.srv.SetLatency(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := f.m.Upload(ctx, fileID, bytes.NewReader(data(100_000)), &anaplan.UploadOptions{
		ChunkSize: 1000, Concurrency: 2,
		Progress: func(p anaplan.TransferProgress) {
			if p.Chunks == 3 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n < 3000 || n >= 100_000 {
		t.Errorf("Upload returned %d bytes acknowledged", n)
	}
	if got, _ := f.srv.FileContent(testWS, testModel, fileID); string(got) != "kept" {
		t.Errorf("a cancelled upload changed the file to %d bytes", len(got))
	}
	if c := f.srv.Calls("PUT " + modelPattern + "/files/{fileID}/chunks/{chunkID}"); c > 10 {
		t.Errorf("%d chunks sent after cancelling at the third", c)
	}
}

func TestDownloadSizes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		size   int
		chunk  int
		chunks int
	}{
		{"0 bytes", 0, 100, 1},
		{"1 byte", 1, 100, 1},
		{"exactly one chunk", 100, 100, 1},
		{"many chunks", 2000, 100, 20},
		{"not a multiple of the chunk size", 2050, 100, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := data(tt.size)
			f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Out.csv", Content: want, ChunkSize: tt.chunk})
			var buf bytes.Buffer
			var log progressLog
			n, err := f.m.Download(context.Background(), fileID, &buf, &anaplan.DownloadOptions{Concurrency: 3, Progress: log.add})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tt.size) || !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("downloaded %d bytes (returned %d), want the %d bytes stored", buf.Len(), n, tt.size)
			}
			if d := cmp.Diff(anaplan.TransferProgress{Bytes: int64(tt.size), TotalBytes: int64(tt.size), Chunks: tt.chunks, TotalChunks: tt.chunks}, log.last()); d != "" {
				t.Errorf("last progress (-want +got):\n%s", d)
			}
			if len(log.calls) != tt.chunks {
				t.Errorf("%d progress calls, want %d", len(log.calls), tt.chunks)
			}
		})
	}
}

func TestDownloadInOrderAndBounded(t *testing.T) {
	f := newFixture(t)
	want := data(64 * 100)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Out.csv", Content: want, ChunkSize: 100})
	// Chunk 0 is the slowest: the others must wait for it, in memory, but
	// no more than Concurrency of them.
	f.srv.FailNext(1, anaplantest.Fault{Latency: 30 * time.Millisecond, Path: "GET " + modelPath + "/files/" + fileID + "/chunks/0"})
	f.srv.SetLatency(time.Millisecond)
	var buf bytes.Buffer
	if _, err := f.m.Download(context.Background(), fileID, &buf, &anaplan.DownloadOptions{Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("chunks were written out of order")
	}
	if m := f.calls.maxInFlight.Load(); m > 4 || m < 2 {
		t.Errorf("%d chunk requests in flight at most, want 2 to 4", m)
	}
	if n := f.srv.Calls("GET " + modelPattern + "/files/{fileID}/chunks/{chunkID}"); n != 64 {
		t.Errorf("%d chunk requests for 64 chunks", n)
	}
}

func TestDownloadChunkFailingTwiceIsRetried(t *testing.T) {
	f := newFixture(t)
	want := data(1000)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Out.csv", Content: want, ChunkSize: 300})
	chunk2 := "GET " + modelPath + "/files/" + fileID + "/chunks/2"
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusBadGateway, Path: chunk2})
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0", Path: chunk2})
	var buf bytes.Buffer
	if _, err := f.m.Download(context.Background(), fileID, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Error("content differs")
	}
	if n := f.srv.Calls(chunk2); n != 3 {
		t.Errorf("chunk 2 was fetched %d times, want 3", n)
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestDownloadFailures(t *testing.T) {
	// A fresh fake for each subtest: a chunk request left over from the
	// one before (dropped when its download failed) must not reach the
	// next one's fake late and use up its injected fault.
	setup := func(t *testing.T) *fixture {
		f := newFixture(t)
		f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Out.csv", Content: data(1000), ChunkSize: 100})
		return f
	}
	ctx := context.Background()
	t.Run("writer", func(t *testing.T) {
		f := setup(t)
		n, err := f.m.Download(ctx, fileID, &failingWriter{after: 2}, nil)
		if err == nil || !strings.Contains(err.Error(), "disk full") || n != 200 {
			t.Fatalf("Download = %d, %v; want 200 bytes and the writer's error", n, err)
		}
	})
	t.Run("chunk refused", func(t *testing.T) {
		f := setup(t)
		f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusForbidden, Path: "GET " + modelPath + "/files/" + fileID + "/chunks/5"})
		var buf bytes.Buffer
		n, err := f.m.Download(ctx, fileID, &buf, nil)
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 403 || n != 500 {
			t.Fatalf("Download = %d, %v; want 500 bytes and a 403", n, err)
		}
	})
	t.Run("unknown file", func(t *testing.T) {
		f := setup(t)
		_, err := f.m.Download(ctx, "NOPE", io.Discard, nil)
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 404 {
			t.Fatalf("error %v, want a 404", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		f := setup(t)
		// math.MaxInt once panicked in make(chan): makechan: size out of range.
		for _, c := range []int{-1, anaplan.MaxConcurrency + 1, math.MaxInt} {
			_, err := f.m.Download(ctx, fileID, io.Discard, &anaplan.DownloadOptions{Concurrency: c})
			if err == nil || !strings.Contains(err.Error(), "out of range: use 1 to 64") {
				t.Errorf("Concurrency %d: error %v, want one giving the range", c, err)
			}
		}
		if _, err := f.m.Download(ctx, fileID, io.Discard, &anaplan.DownloadOptions{Concurrency: anaplan.MaxConcurrency}); err != nil {
			t.Errorf("Concurrency MaxConcurrency: %v", err)
		}
		if n := f.srv.Calls("GET " + modelPath + "/files/" + fileID + "/chunks"); n != 1 {
			t.Errorf("%d chunk lists fetched, want 1: bad options send nothing", n)
		}
	})
	t.Run("nil writer", func(t *testing.T) {
		f := setup(t)
		if _, err := f.m.Download(ctx, fileID, nil, nil); err == nil || !strings.Contains(err.Error(), "needs a writer") {
			t.Errorf("error %v, want one saying a writer is needed", err)
		}
	})
}

func TestDownloadCancelled(t *testing.T) {
	f := newFixture(t)
	want := data(100 * 100)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Out.csv", Content: want, ChunkSize: 100})
	f.srv.SetLatency(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf bytes.Buffer
	n, err := f.m.Download(ctx, fileID, &buf, &anaplan.DownloadOptions{
		Concurrency: 2,
		Progress: func(p anaplan.TransferProgress) {
			if p.Chunks == 3 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n != 300 || !bytes.Equal(buf.Bytes(), want[:300]) {
		t.Errorf("wrote %d bytes (returned %d), want the first 300", buf.Len(), n)
	}
	if c := f.srv.Calls("GET " + modelPattern + "/files/{fileID}/chunks/{chunkID}"); c > 6 {
		t.Errorf("%d chunks fetched after cancelling at the third", c)
	}
}

// TestTransfer8MiB moves 8 MiB each way with the default settings, the
// bounded version of the benchmarks in api_files_bench_test.go.
func TestTransfer8MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 16 MiB")
	}
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Big.csv"})
	want := randomData(8 << 20)
	ctx := context.Background()
	if _, err := f.m.Upload(ctx, fileID, opaqueReader{bytes.NewReader(want)}, &anaplan.UploadOptions{ChunkSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.m.Download(ctx, fileID, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("the downloaded content differs from the uploaded one")
	}
}

func ExampleModelHandle_Upload() {
	srv, c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	// Any io.Reader: a file, a pipe, a database export being written. Its
	// length need not be known; memory stays bounded by the chunk size.
	data := strings.NewReader(strings.Repeat("North,Widgets,120\n", 1000))
	n, err := c.Model("WS", "MODEL").Upload(ctx, "113000000001", data, &anaplan.UploadOptions{
		ChunkSize: 4 << 10, // tiny for the example; the default is 8 MiB
		Gzip:      true,
		Progress: func(p anaplan.TransferProgress) {
			if p.Chunks == p.TotalChunks {
				fmt.Printf("%d chunks sent\n", p.Chunks)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, "bytes uploaded")
	// Output:
	// 5 chunks sent
	// 18000 bytes uploaded
}

// TestUploadEarlyAnswersOverRealTransport: the fake answers the first PUT
// of every chunk with 503 before reading its 1 MiB body, so that
// http.Transport may still be writing the body when the answer (and the
// retry) comes. Under -race, a chunk buffer reused before the transport
// closed its body is reported; without -race, the content would differ.
func TestUploadEarlyAnswersOverRealTransport(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	const chunk, chunks = 1 << 20, 4
	for _, tc := range []struct{ gz, staged bool }{{false, true}, {false, false}, {true, true}} {
		gz := tc.gz
		t.Run(fmt.Sprintf("gzip=%v/staged=%v", tc.gz, tc.staged), func(t *testing.T) {
			for i := range chunks {
				f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0",
					Path: fmt.Sprintf("PUT %s/files/%s/chunks/%d", modelPath, fileID, i)})
			}
			route := "PUT " + modelPattern + "/files/{fileID}/chunks/{chunkID}"
			before := f.srv.Calls(route)
			want := randomData(chunks * chunk)
			var r io.Reader = bytes.NewReader(want) // sent without staging
			if tc.staged {
				r = opaqueReader{r}
			}
			if _, err := f.m.Upload(context.Background(), fileID, r,
				&anaplan.UploadOptions{ChunkSize: chunk, Concurrency: 2, Gzip: gz}); err != nil {
				t.Fatal(err)
			}
			if got, _ := f.srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, want) {
				t.Errorf("the server holds %d bytes, not the data uploaded", len(got))
			}
			if n := f.srv.Calls(route) - before; n != 2*chunks {
				t.Errorf("%d chunk PUTs, want every chunk refused once and sent again", n)
			}
		})
	}
}

// earlyAnswerTransport answers the first PUT of one chunk itself, at once,
// with 429 Retry-After: 0, the way a server (or a proxy) answers before it
// has read a request body. It keeps that request's body unread and unclosed:
// net/http's RoundTripper contract lets a transport read and close a request
// body "in a separate goroutine even after RoundTrip returns", and
// http.Transport does exactly that when an answer arrives while the body is
// still being written. Every other request goes to the fake.
type earlyAnswerTransport struct {
	next  http.RoundTripper
	chunk string // path suffix, e.g. "/chunks/0"

	mu   sync.Mutex
	held io.ReadCloser // the body of the request answered early
}

func (e *earlyAnswerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, e.chunk) {
		e.mu.Lock()
		first := e.held == nil
		if first {
			e.held = req.Body
		}
		e.mu.Unlock()
		if first {
			body := `{"status":{"code":429,"message":"Too Many Requests"}}`
			return &http.Response{
				StatusCode: http.StatusTooManyRequests, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {"application/json"}, "Retry-After": {"0"}},
				Body:          io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)), Request: req,
			}, nil
		}
	}
	return e.next.RoundTrip(req)
}

// earlyAnswerClient is a client of a fake with one file, whose transport
// answers chunk 0's first PUT early and holds its body.
func earlyAnswerClient(t *testing.T) (*anaplantest.Server, *earlyAnswerTransport, *anaplan.Client) {
	t.Helper()
	srv := anaplantest.New(t)
	srv.AddUser(testUser, testPassword)
	srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	early := &earlyAnswerTransport{next: srv.Client().Transport, chunk: "/files/" + fileID + "/chunks/0"}
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(&http.Client{Transport: early}),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return srv, early, c
}

// heldBody is the body the transport held, failing the test when chunk 0
// never came.
func (e *earlyAnswerTransport) heldBody(t *testing.T) io.ReadCloser {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.held == nil {
		t.Fatal("chunk 0 never went through the transport")
	}
	return e.held
}

// TestUploadWaitsForTheTransportToCloseTheBody: a chunk's buffer is reused
// only once the transport has closed the request body. net/http says of
// RoundTripper: "callers wanting to reuse the body for subsequent requests
// must arrange to wait for the Close call before doing so". The body of
// chunk 0's first attempt, held by the transport and never closed until
// Upload has returned, must still read as chunk 0's data (it once read as a
// later chunk's: the buffer had been reused as soon as the answer came).
func TestUploadWaitsForTheTransportToCloseTheBody(t *testing.T) {
	srv, early, c := earlyAnswerClient(t)

	const chunk = 1000
	want := data(10 * chunk)
	_, err := c.Model(testWS, testModel).Upload(context.Background(), fileID, opaqueReader{bytes.NewReader(want)}, // staged: chunk buffers
		&anaplan.UploadOptions{ChunkSize: chunk, Concurrency: 1})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if got, _ := srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, want) {
		t.Fatalf("the server holds %d bytes, not the data uploaded", len(got))
	}

	// Now the transport gets round to the body it was still holding.
	held := early.heldBody(t)
	late, err := io.ReadAll(held)
	_ = held.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(late, want[:chunk]) {
		i := bytes.Index(want, late)
		t.Errorf("the body of chunk 0's first request, read after RoundTrip returned, holds other data (found at offset %d of the file, want 0): its buffer was reused before the transport closed the body", i)
	}
}
