package anaplan_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	gocmp "github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// Uploads whose length is given (UploadOptions.Size): each chunk's PUT
// starts before the chunk is read, with the chunk's expected length, and
// its body reads the source as the transport sends it.

const sizedChunk = 64 << 10

// chunkAttempt is one chunk PUT as the transport under the SDK's retries
// sees it.
type chunkAttempt struct {
	Chunk  string
	Length int64
}

// attemptLog records every chunk PUT attempt (retries included) on its way
// to next.
type attemptLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	puts []chunkAttempt
}

func (a *attemptLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/chunks/") {
		a.mu.Lock()
		a.puts = append(a.puts, chunkAttempt{path.Base(req.URL.Path), req.ContentLength})
		a.mu.Unlock()
	}
	return a.next.RoundTrip(req)
}

// attempts returns the attempts so far, by chunk (in order within a chunk).
func (a *attemptLog) attempts() []chunkAttempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.puts)
	slices.SortStableFunc(out, func(x, y chunkAttempt) int {
		a, _ := strconv.Atoi(x.Chunk)
		b, _ := strconv.Atoi(y.Chunk)
		return cmp.Compare(a, b)
	})
	return out
}

func (a *attemptLog) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.puts = nil
}

// sizedFixture is a fake Anaplan with one file ("kept") and a client whose
// transport logs the chunk attempts; retries wait a few milliseconds.
type sizedFixture struct {
	srv *anaplantest.Server
	m   *anaplan.ModelHandle
	log *attemptLog
}

// newSizedFixture builds the fixture; base, when set, makes the transport
// under the log from the fake.
func newSizedFixture(t *testing.T, base func(*anaplantest.Server) http.RoundTripper) *sizedFixture {
	t.Helper()
	srv := anaplantest.New(t)
	srv.AddUser(testUser, testPassword)
	srv.AddWorkspace(anaplantest.Workspace{ID: testWS, Name: "Finance"})
	srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget"})
	srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("kept")})
	next := srv.Client().Transport
	if base != nil {
		next = base(srv)
	}
	log := &attemptLog{next: next}
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(&http.Client{Transport: log}),
		anaplan.WithBasic(testUser, testPassword),
		anaplan.WithFastRetriesForTest())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &sizedFixture{srv: srv, m: c.Model(testWS, testModel), log: log}
}

func (f *sizedFixture) content(t *testing.T) []byte {
	t.Helper()
	b, _ := f.srv.FileContent(testWS, testModel, fileID)
	return b
}

// buffersBack checks that every chunk buffer taken since the count was
// buffers has been given back (the transport may close a body a little
// after Upload returns). Buffers of earlier tests given back meanwhile
// only lower the count.
func buffersBack(t *testing.T, buffers int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for anaplan.ChunkBuffersOutForTest() > buffers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := anaplan.ChunkBuffersOutForTest(); n > buffers {
		t.Errorf("%d chunk buffers were not given back", n-buffers)
	}
}

// noLeaks checks, once the test's uploads are over, that their goroutines
// have ended and every chunk buffer has been given back.
func noLeaks(t *testing.T, ignore goleak.Option, buffers int64) {
	t.Helper()
	buffersBack(t, buffers)
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"), // the fake's side of the connections
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

// gatedReader yields r, but after its first `after` bytes it waits for
// gate to close, at most wait; then, with trickle, it gives a byte a Read.
type gatedReader struct {
	r        io.Reader
	after    int
	gate     <-chan struct{}
	wait     time.Duration
	trickle  bool
	n        int
	timedOut atomic.Bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.gate != nil && g.n >= g.after {
		select {
		case <-g.gate:
		case <-time.After(g.wait):
			g.timedOut.Store(true)
		}
		g.gate = nil
	}
	switch {
	case g.gate != nil:
		p = p[:min(len(p), g.after-g.n)]
	case g.trickle && len(p) > 1:
		p = p[:1]
	}
	k, err := g.r.Read(p)
	g.n += k
	return k, err
}

// TestUploadSizedStartsBeforeTheChunkIsRead: with Size given, chunk 0's PUT
// reaches the server while the source has given only 1 MiB of the 4 MiB
// chunk, and waits there for more. Staged, the PUT would start only once
// the 4 MiB were read: the source would wait in vain.
func TestUploadSizedStartsBeforeTheChunkIsRead(t *testing.T) {
	f := newSizedFixture(t, nil)
	const chunk = 4 << 20
	want := randomData(chunk + 1<<20)
	arrived, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for f.srv.Calls("PUT "+modelPath+"/files/"+fileID+"/chunks/0") == 0 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		close(arrived)
	}()
	src := &gatedReader{r: bytes.NewReader(want), after: 1 << 20, gate: arrived, wait: 5 * time.Second}
	n, err := f.m.Upload(context.Background(), fileID, src, &anaplan.UploadOptions{ChunkSize: chunk, Size: int64(len(want))})
	if err != nil {
		t.Fatal(err)
	}
	if src.timedOut.Load() {
		t.Error("chunk 0's PUT had not reached the server 5 s after the source gave 1 MiB of the 4 MiB chunk: the chunk is staged before it is sent")
	}
	if n != int64(len(want)) || !bytes.Equal(f.content(t), want) {
		t.Errorf("Upload returned %d; the server holds %d bytes, not the %d of the source", n, len(f.content(t)), len(want))
	}
}

// TestUploadSizedLengths: with Size right, every length is stored as it
// was read, each chunk PUT once with its length as Content-Length. (Size
// 0 means unknown: the chunk is staged.)
func TestUploadSizedLengths(t *testing.T) {
	f := newSizedFixture(t, nil)
	const c = sizedChunk
	for _, conc := range []int{1, 4} {
		for _, size := range []int{0, 1, c - 1, c, c + 1, 3*c + 5} {
			for _, reads := range []string{"plain", "one-byte", "data-with-EOF"} {
				if reads == "one-byte" && size > c+1 {
					continue
				}
				t.Run(fmt.Sprintf("concurrency=%d/size=%d/reads=%s", conc, size, reads), func(t *testing.T) {
					f.log.reset()
					buffers := anaplan.ChunkBuffersOutForTest()
					want := randomData(size)
					var r io.Reader = opaqueReader{bytes.NewReader(want)}
					switch reads {
					case "one-byte":
						r = iotest.OneByteReader(r)
					case "data-with-EOF": // the last bytes come with io.EOF
						r = iotest.DataErrReader(r)
					}
					var log progressLog
					n, err := f.m.Upload(context.Background(), fileID, r, &anaplan.UploadOptions{
						ChunkSize: c, Concurrency: conc, Size: int64(size), Progress: log.add,
					})
					if err != nil {
						t.Fatal(err)
					}
					if got := f.content(t); n != int64(size) || !bytes.Equal(got, want) {
						t.Fatalf("Upload returned %d; the server holds %d bytes, not the %d read", n, len(got), size)
					}
					chunks := max((size+c-1)/c, 1)
					var wantPuts []chunkAttempt
					for i := range chunks {
						wantPuts = append(wantPuts, chunkAttempt{fmt.Sprint(i), int64(min(c, size-i*c))})
					}
					if d := gocmp.Diff(wantPuts, f.log.attempts()); d != "" {
						t.Errorf("chunk PUTs (-want +got):\n%s", d)
					}
					if d := gocmp.Diff(anaplan.TransferProgress{Bytes: int64(size), TotalBytes: int64(size), Chunks: chunks, TotalChunks: chunks}, log.last()); d != "" {
						t.Errorf("last progress (-want +got):\n%s", d)
					}
					buffersBack(t, buffers)
				})
			}
		}
	}
}

// TestUploadSizedReaderMismatch: a reader shorter than Size (ending inside
// a chunk, or at a chunk's start) stores exactly what it gave: the chunk
// it ends in is cut and sent again with its real length, and is the last.
// One longer than Size goes on in further chunks, staged.
func TestUploadSizedReaderMismatch(t *testing.T) {
	const c = sizedChunk
	put := func(chunk int, n int) chunkAttempt { return chunkAttempt{fmt.Sprint(chunk), int64(n)} }
	tests := []struct {
		name       string
		size, give int
		puts       []chunkAttempt
	}{
		// A cut request (the announced length) happens only when the PUT
		// began before the loop, reading ahead, found the end: it is
		// marked optional (Length < 0 here: -announced).
		{"ends inside the only chunk", 10, 5, []chunkAttempt{put(0, -10), put(0, 5)}},
		{"gives nothing", 100, 0, []chunkAttempt{put(0, 0)}},
		{"ends inside a later chunk", 3 * c, 2*c + 100, []chunkAttempt{put(0, c), put(1, c), put(2, -c), put(2, 100)}},
		{"ends at a chunk boundary", 3 * c, 2 * c, []chunkAttempt{put(0, c), put(1, c)}},
		{"longer, inside the last chunk", c + 5, 3 * c, []chunkAttempt{put(0, c), put(1, 5), put(2, c), put(3, c-5)}},
		{"longer by whole chunks", 2 * c, 3 * c, []chunkAttempt{put(0, c), put(1, c), put(2, c)}},
	}
	f := newSizedFixture(t, nil)
	for _, conc := range []int{1, 4} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("concurrency=%d/%s", conc, tt.name), func(t *testing.T) {
				f.log.reset()
				want := randomData(tt.give)
				var log progressLog
				n, err := f.m.Upload(context.Background(), fileID, opaqueReader{bytes.NewReader(want)}, &anaplan.UploadOptions{
					ChunkSize: c, Concurrency: conc, Size: int64(tt.size), Progress: log.add,
				})
				if err != nil {
					t.Fatal(err)
				}
				if got := f.content(t); n != int64(tt.give) || !bytes.Equal(got, want) {
					t.Fatalf("Upload returned %d; the server holds %d bytes, not the %d the reader gave", n, len(got), tt.give)
				}
				if d := gocmp.Diff(tt.puts, withOptional(tt.puts, f.log.attempts())); d != "" {
					t.Errorf("chunk PUTs (-want +got):\n%s", d)
				}
				chunks := f.srv.FileChunks(testWS, testModel, fileID)
				if last := tt.puts[len(tt.puts)-1].Chunk; fmt.Sprint(chunks-1) != last {
					t.Errorf("%d chunks stored, want chunk %s the last", chunks, last)
				}
				if d := gocmp.Diff(anaplan.TransferProgress{Bytes: int64(tt.give), TotalBytes: int64(tt.give), Chunks: chunks, TotalChunks: chunks}, log.last()); d != "" {
					t.Errorf("last progress (-want +got):\n%s", d)
				}
			})
		}
	}
}

// withOptional returns got with each optional attempt of want (a negative
// Length: -Length, which may or may not have happened) written as want has
// it when it happened, or put back in its place when it did not, so that
// a diff shows only real differences.
func withOptional(want, got []chunkAttempt) []chunkAttempt {
	var out []chunkAttempt
	j := 0
	for _, w := range want {
		if w.Length < 0 {
			if j < len(got) && got[j].Chunk == w.Chunk && got[j].Length == -w.Length {
				j++
			}
			out = append(out, w)
			continue
		}
		if j < len(got) {
			out = append(out, got[j])
			j++
		}
	}
	return append(out, got[j:]...)
}

// cutConn closes itself, once, when its writes pass a number of bytes: a
// connection lost in the middle of a request body.
type cutConn struct {
	net.Conn
	cut     *atomic.Bool // shared: only one connection is cut
	after   int
	written int
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.written+len(p) > c.after && c.cut.CompareAndSwap(false, true) {
		k, _ := c.Conn.Write(p[:c.after-c.written])
		_ = c.Conn.Close()
		return k, errors.New("connection cut by the test")
	}
	k, err := c.Conn.Write(p)
	c.written += k
	return k, err
}

// TestUploadSizedRetries: a chunk answered 503 (before the server read its
// body), or 401 (the client signs in again), or whose connection is cut in
// the middle of its body, is sent again from its staged bytes and then from
// the source where staging stopped: the file holds the source's bytes.
func TestUploadSizedRetries(t *testing.T) {
	const c = 1 << 20
	want := randomData(2*c + c/2)
	chunkPath := func(i int) string { return fmt.Sprintf("PUT %s/files/%s/chunks/%d", modelPath, fileID, i) }
	t.Run("503 on every chunk", func(t *testing.T) {
		f := newSizedFixture(t, nil)
		for i := range 3 {
			f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0", Path: chunkPath(i)})
		}
		if _, err := f.m.Upload(context.Background(), fileID, opaqueReader{bytes.NewReader(want)}, &anaplan.UploadOptions{ChunkSize: c, Concurrency: 2, Size: int64(len(want))}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.content(t), want) {
			t.Error("the server holds other bytes than the source's")
		}
		for i := range 3 {
			if n := f.srv.Calls(chunkPath(i)); n != 2 {
				t.Errorf("chunk %d sent %d times, want 2", i, n)
			}
		}
	})
	t.Run("401 on chunk 1", func(t *testing.T) {
		f := newSizedFixture(t, nil)
		f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusUnauthorized, Path: chunkPath(1)})
		before := f.srv.Calls("POST /token/authenticate")
		if _, err := f.m.Upload(context.Background(), fileID, opaqueReader{bytes.NewReader(want)}, &anaplan.UploadOptions{ChunkSize: c, Concurrency: 1, Size: int64(len(want))}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.content(t), want) {
			t.Error("the server holds other bytes than the source's")
		}
		if n := f.srv.Calls(chunkPath(1)); n != 2 {
			t.Errorf("chunk 1 sent %d times, want 2", n)
		}
		if n := f.srv.Calls("POST /token/authenticate") - before; n != 1 {
			t.Errorf("%d sign-ins after the 401, want 1", n)
		}
	})
	t.Run("connection cut inside chunk 0's body", func(t *testing.T) {
		var cut atomic.Bool
		f := newSizedFixture(t, func(srv *anaplantest.Server) http.RoundTripper {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := new(net.Dialer).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &cutConn{Conn: conn, cut: &cut, after: 300 << 10}, nil
			}
			t.Cleanup(tr.CloseIdleConnections)
			return tr
		})
		if _, err := f.m.Upload(context.Background(), fileID, opaqueReader{bytes.NewReader(want)}, &anaplan.UploadOptions{ChunkSize: c, Concurrency: 1, Size: int64(len(want))}); err != nil {
			t.Fatal(err)
		}
		if !cut.Load() {
			t.Fatal("no connection was cut")
		}
		if !bytes.Equal(f.content(t), want) {
			t.Error("the server holds other bytes than the source's")
		}
		wantPuts := []chunkAttempt{{"0", c}, {"0", c}, {"1", c}, {"2", c / 2}}
		if d := gocmp.Diff(wantPuts, f.log.attempts()); d != "" {
			t.Errorf("chunk PUTs (-want +got):\n%s", d)
		}
	})
}

// answerHook calls on with every answer to a chunk PUT, on its way back
// from next.
type answerHook struct {
	next http.RoundTripper
	on   func(*http.Request, *http.Response)
}

func (h answerHook) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut {
		h.on(req, resp)
	}
	return resp, err
}

// TestUploadSizedFailures: a reader that fails midway, a chunk refused
// while its body waits for the source, and a cancellation while the source
// is waited for all end the upload, without waiting for the chunk to be
// staged: nothing is completed, the file is kept, no goroutine is left and
// every chunk buffer is given back.
func TestUploadSizedFailures(t *testing.T) {
	const c = sizedChunk
	boom := errors.New("disk on fire")
	type failure struct {
		name  string
		conc  int
		chunk int  // c when 0
		size  bool // Size is given
		base  func(srv *anaplantest.Server, gate chan struct{}) http.RoundTripper
		src   func(ctx context.Context, cancel func(), gate chan struct{}) io.Reader
		check func(t *testing.T, err error)
	}
	var tests []failure
	for _, conc := range []int{1, 4} {
		for _, at := range []int{100, c + 100} {
			tests = append(tests, failure{
				name: fmt.Sprintf("reader fails after %d bytes", at), conc: conc, size: true,
				src: func(context.Context, func(), chan struct{}) io.Reader {
					return io.MultiReader(bytes.NewReader(data(at)), iotest.ErrReader(boom))
				},
				check: func(t *testing.T, err error) {
					if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading the data to upload") {
						t.Errorf("error %v, want the reader's", err)
					}
				},
			})
		}
		tests = append(tests, failure{
			// Staged: the buffer the failed read was to fill is given back too.
			name: fmt.Sprintf("reader fails after %d bytes, Size not given", c+100), conc: conc,
			src: func(context.Context, func(), chan struct{}) io.Reader {
				return io.MultiReader(bytes.NewReader(data(c+100)), iotest.ErrReader(boom))
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading the data to upload") {
					t.Errorf("error %v, want the reader's", err)
				}
			},
		}, failure{
			name: "chunk 1 refused while its body waits for the source", conc: conc, size: true,
			// The 400 comes before the server reads the body (a Go server
			// answers at once when more than 256 KiB of it are unread, and
			// closes the connection); the source gives chunk 1's data only
			// once the client has that answer, and slowly: the chunk's
			// request is over before the chunk is staged.
			chunk: 1 << 20,
			base: func(srv *anaplantest.Server, gate chan struct{}) http.RoundTripper {
				srv.FailNext(1, anaplantest.Fault{Status: http.StatusBadRequest, Path: "PUT " + modelPath + "/files/" + fileID + "/chunks/1"})
				var once sync.Once
				return answerHook{next: srv.Client().Transport, on: func(req *http.Request, resp *http.Response) {
					if resp.StatusCode == http.StatusBadRequest && strings.HasSuffix(req.URL.Path, "/chunks/1") {
						once.Do(func() { close(gate) })
					}
				}}
			},
			src: func(_ context.Context, _ func(), gate chan struct{}) io.Reader {
				return &gatedReader{r: bytes.NewReader(data(3 << 20)), after: 1<<20 + 10, gate: gate, wait: 5 * time.Second, trickle: true}
			},
			check: func(t *testing.T, err error) {
				var ae *anaplan.APIError
				if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "chunk 1") {
					t.Errorf("error %v, want the 400 of chunk 1", err)
				}
			},
		}, failure{
			name: "cancelled while chunk 1's source waits", conc: conc, size: true,
			src: func(ctx context.Context, cancel func(), _ chan struct{}) io.Reader {
				return io.MultiReader(bytes.NewReader(data(c+10)), readerFunc(func([]byte) (int, error) {
					cancel()
					<-ctx.Done()
					return 0, ctx.Err()
				}))
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped after") {
					t.Errorf("error %v, want the cancellation", err)
				}
			},
		})
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("concurrency=%d/%s", tt.conc, tt.name), func(t *testing.T) {
			gate := make(chan struct{})
			var base func(*anaplantest.Server) http.RoundTripper
			if tt.base != nil {
				base = func(srv *anaplantest.Server) http.RoundTripper { return tt.base(srv, gate) }
			}
			f := newSizedFixture(t, base)
			chunk := cmp.Or(tt.chunk, c)
			ignore, buffers := goleak.IgnoreCurrent(), anaplan.ChunkBuffersOutForTest()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				o := &anaplan.UploadOptions{ChunkSize: chunk, Concurrency: tt.conc}
				if tt.size {
					o.Size = 3 * int64(chunk)
				}
				_, err := f.m.Upload(ctx, fileID, tt.src(ctx, cancel, gate), o)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Upload still running after 10 s")
			}
			tt.check(t, err)
			if got := f.content(t); string(got) != "kept" {
				t.Errorf("the file now holds %d bytes", len(got))
			}
			if n := f.srv.Calls("POST " + modelPath + "/files/" + fileID + "/complete"); n != 0 {
				t.Errorf("a failed upload was completed %d times", n)
			}
			noLeaks(t, ignore, buffers)
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestUploadSizedWaitsForTheTransportToCloseTheBody: the body of chunk 0's
// first request, answered early and kept unread by the transport until
// Upload has returned, still reads as chunk 0 (from the staged bytes; the
// source is not read after Upload returns), and its buffer is given back
// only once that body is closed.
func TestUploadSizedWaitsForTheTransportToCloseTheBody(t *testing.T) {
	srv, early, c := earlyAnswerClient(t)

	const chunk = sizedChunk
	want := data(3*chunk + 7)
	buffers := anaplan.ChunkBuffersOutForTest()
	src := &countingReader{r: bytes.NewReader(want)}
	_, err := c.Model(testWS, testModel).Upload(context.Background(), fileID, opaqueReader{src},
		&anaplan.UploadOptions{ChunkSize: chunk, Concurrency: 1, Size: int64(len(want))})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if got, _ := srv.FileContent(testWS, testModel, fileID); !bytes.Equal(got, want) {
		t.Fatalf("the server holds %d bytes, not the data uploaded", len(got))
	}
	held := early.heldBody(t)
	if n := anaplan.ChunkBuffersOutForTest(); n <= buffers {
		t.Errorf("chunk 0's buffer was given back while the transport still held a body over it")
	}
	read := src.count()
	late, err := io.ReadAll(held)
	_ = held.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(late, want[:chunk]) {
		t.Errorf("the body of chunk 0's first request, read after Upload returned, holds %d other bytes (at offset %d of the file, want 0)", len(late), bytes.Index(want, late))
	}
	if src.count() != read {
		t.Error("the source was read after Upload returned")
	}
	deadline := time.Now().Add(5 * time.Second)
	for anaplan.ChunkBuffersOutForTest() > buffers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := anaplan.ChunkBuffersOutForTest(); n > buffers {
		t.Errorf("%d chunk buffers not given back after the last body closed", n-buffers)
	}
}
