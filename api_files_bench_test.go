package anaplan_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// The Integration API benchmarks of BENCHMARKS.md. The servers run in a
// child process (this test binary again, running TestIntegrationBenchServer)
// so that what they store and their CPU time's allocations do not count in
// this process's memory: anaplantest (the fake Anaplan), a bare TLS server
// (a sink for PUTs and a source for GETs: the physical floor), and a static
// server replaying pre-rendered list pages of 50,000 files.
//
// The SDK is used as users get it: anaplan.New with WithEndpoints and
// WithBasic only (its default transport, the real clock, default options);
// the servers' certificates are trusted through SSL_CERT_FILE, set before
// the process first loads the system roots. The plain client is
// http.DefaultClient.
//
//	go test -run '^$' -bench 'BenchmarkTransfer|BenchmarkList' -benchtime 3x -count 3 .

const (
	benchServer = "ANAPLAN_BENCH_SERVER"
	benchFiles  = 50_000 // files of the listing benchmark
)

// benchInfo is what the child process tells its parent.
type benchInfo struct {
	URL, User, Password, Workspace, Model, File string
	Bare, Static                                string // the bare TLS server, the static list server
	CertPEM                                     string // every server's certificate
}

// TestIntegrationBenchServer is the child process of the benchmarks: the
// servers, serving until its standard input closes.
func TestIntegrationBenchServer(t *testing.T) {
	if os.Getenv(benchServer) != "1" {
		t.Skip("the benchmarks' server process; runs only when they start it")
	}
	srv := anaplantest.NewServer()
	defer srv.Close()
	info := benchInfo{URL: srv.URL(), User: "bench@example.com", Password: "bench-password",
		Workspace: "WS", Model: "M", File: "113000000001"}
	srv.AddUser(info.User, info.Password)
	srv.AddFile(info.Workspace, info.Model, anaplantest.File{ID: info.File, Name: "big.csv"})

	// The bare server: PUT /sink reads the body into nothing, GET
	// /source?n=N writes N bytes of the pattern.
	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_, _ = io.Copy(w, newPattern(n))
	}))
	bare.StartTLS()
	defer bare.Close()
	info.Bare = bare.URL

	// The static list server: pages rendered once, replayed by offset.
	pages := listPages(benchFiles, anaplan.MaxPageSize)
	static := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(pages[off/anaplan.MaxPageSize])))
		_, _ = w.Write(pages[off/anaplan.MaxPageSize])
	}))
	static.StartTLS()
	defer static.Close()
	info.Static = static.URL

	info.CertPEM = string(srv.CertificatePEM()) + certPEM(bare) + certPEM(static)
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func certPEM(s *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

// listPages renders the pages of a list of n files as Anaplan sends them
// (the fake's fields), plus one empty page past the end.
func listPages(n, size int) [][]byte {
	var pages [][]byte
	for off := 0; off <= n; off += size {
		var files []map[string]any
		for i := off; i < min(off+size, n); i++ {
			files = append(files, map[string]any{"id": strconv.Itoa(113000000000 + i), "name": "File " + strconv.Itoa(i) + ".csv",
				"chunkCount": 1, "delimiter": `"`, "encoding": "UTF-8", "firstDataRow": 2, "format": "txt", "headerRow": 1, "separator": ","})
		}
		body := map[string]any{"meta": map[string]any{"paging": map[string]any{"currentPageSize": len(files), "offset": off, "totalSize": n}},
			"status": map[string]any{"code": 200, "message": "Success"}}
		if len(files) > 0 {
			body["files"] = files
		}
		b, _ := json.Marshal(body)
		pages = append(pages, b)
	}
	return pages
}

// benchEnv is the child process's servers and a client of them, shared by
// every benchmark of the run.
type benchEnv struct {
	info benchInfo
	c    *anaplan.Client
	tok  string
	m    *anaplan.ModelHandle
}

var (
	benchOnce sync.Once
	benchE    *benchEnv
	benchErr  error
	// benchStdin is the child's standard input: closed when this process exits.
	benchStdin io.WriteCloser
)

// startBench starts the servers' process once for the run. It ends when
// this process exits, which closes its standard input.
func startBench(b *testing.B) *benchEnv {
	b.Helper()
	benchOnce.Do(func() { benchE, benchErr = newBenchEnv() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchE
}

func newBenchEnv() (*benchEnv, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIntegrationBenchServer$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchServer+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	benchStdin = stdin // kept open (and from the finalizer) until this process exits
	var info benchInfo
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&info); err != nil {
		return nil, fmt.Errorf("reading the servers' addresses: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	// Trust the servers as a user's program trusts its CAs: through the
	// system roots, which Go reads from SSL_CERT_FILE when first needed.
	f, err := os.CreateTemp("", "anaplan-bench-*.pem")
	if err != nil {
		return nil, err
	}
	_, _ = f.WriteString(info.CertPEM)
	_ = f.Close()
	os.Setenv("SSL_CERT_FILE", f.Name())
	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: info.URL, API: info.URL + "/2/0"}),
		anaplan.WithBasic(info.User, info.Password))
	if err != nil {
		return nil, fmt.Errorf("%w (the system roots were loaded before SSL_CERT_FILE was set: run the transfer and list benchmarks apart from the others)", err)
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	return &benchEnv{info: info, c: c, tok: tok.Value, m: c.Model(info.Workspace, info.Model)}, nil
}

// patternReader yields n bytes cycling through a 1 MiB random block: data
// that does not compress, made without holding the file in memory.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

var benchBlock = randomData(1 << 20)

func newPattern(n int64) *patternReader { return &patternReader{block: benchBlock, left: n} }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(int64(len(b)), p.left)], p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

// peak measures the memory a function uses above what the process held
// before: the resident set size's high-water mark (Linux) and the Go heap,
// sampled every millisecond.
type peak struct {
	rss, heap int64 // bytes above the baseline; rss is -1 when unknown
}

func measure(f func() error) (peak, error) {
	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := procStatus("VmRSS")
	hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 { metrics.Read(sample); return int64(sample[0].Value.Uint64()) }
	baseHeap := heap()
	var maxHeap int64
	var maxRSS int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			maxHeap = max(maxHeap, heap())
			if !hwmReset {
				maxRSS = max(maxRSS, procStatus("VmRSS"))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	err := f()
	close(stop)
	wg.Wait()
	p := peak{rss: -1, heap: maxHeap - baseHeap}
	switch {
	case baseRSS < 0:
	case hwmReset:
		p.rss = procStatus("VmHWM") - baseRSS
	default:
		p.rss = maxRSS - baseRSS
	}
	return p, err
}

// procStatus reads a "kB" line of /proc/self/status, in bytes; -1 when
// unavailable.
func procStatus(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return n << 10
		}
	}
	return -1
}

// benchBytes is 256 MiB of the pattern in memory, made once, for uploads
// from a *bytes.Reader.
var benchBytes = sync.OnceValue(func() []byte {
	b := make([]byte, 256<<20)
	for off := 0; off < len(b); off += len(benchBlock) {
		copy(b[off:], benchBlock)
	}
	return b
})

// plainPut PUTs n bytes of the pattern to u with http.DefaultClient.
func plainPut(ctx context.Context, u, tok string, n int64) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, u, newPattern(n))
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "AnaplanAuthToken "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PUT: %s", resp.Status)
	}
	return nil
}

// plainGet GETs u into io.Discard with http.DefaultClient, expecting n bytes.
func plainGet(ctx context.Context, u, tok string, n int64) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "AnaplanAuthToken "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	k, err := io.Copy(io.Discard, resp.Body)
	if err == nil && k != n {
		err = fmt.Errorf("GET: %d bytes, want %d", k, n)
	}
	return err
}

// BenchmarkTransfer moves files of 16, 64 and 256 MiB, each iteration
// running, interleaved so that load from elsewhere falls on all alike:
//
//	bare-up / bare-down     http.DefaultClient to the bare TLS server (the floor)
//	plain-up / plain-down   http.DefaultClient to anaplantest (one PUT of the
//	                        whole file, one GET of it)
//	sdk-up / sdk-down       ModelHandle.Upload / Download at default settings
//	sdk-up-bytes            Upload from a *bytes.Reader (sent without staging)
//	sdk-up-sized            sdk-up's stream with UploadOptions.Size set (each
//	                        chunk sent while it is read)
//
// It reports MB/s of each, ratios plain ÷ SDK time (up-ratio,
// up-bytes-ratio, up-sized-ratio, down-ratio, target ≥ 0.9), the SDK as a
// fraction of the floor, and the peak memory of the SDK's transfers above
// the process's baseline.
func BenchmarkTransfer(b *testing.B) {
	e := startBench(b)
	ctx := context.Background()
	fileURL := e.info.URL + "/2/0/workspaces/" + e.info.Workspace + "/models/" + e.info.Model + "/files/" + e.info.File
	for _, size := range []int64{16 << 20, 64 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("MiB=%d", size>>20), func(b *testing.B) {
			ops := []struct {
				name string
				f    func() error
			}{
				{"bare-up", func() error { return plainPut(ctx, e.info.Bare+"/sink", "", size) }},
				{"bare-down", func() error {
					return plainGet(ctx, e.info.Bare+"/source?n="+strconv.FormatInt(size, 10), "", size)
				}},
				// The plain GET reads the one-chunk file the plain PUT wrote;
				// the SDK's Download reads the chunks its Upload wrote.
				{"plain-up", func() error { return plainPut(ctx, fileURL, e.tok, size) }},
				{"plain-down", func() error { return plainGet(ctx, fileURL+"/chunks/0", e.tok, size) }},
				{"sdk-up", func() error {
					_, err := e.m.Upload(ctx, e.info.File, newPattern(size), nil)
					return err
				}},
				// The same upload from a *bytes.Reader: sent without staging.
				{"sdk-up-bytes", func() error {
					_, err := e.m.Upload(ctx, e.info.File, bytes.NewReader(benchBytes()[:size]), nil)
					return err
				}},
				{"sdk-down", func() error {
					n, err := e.m.Download(ctx, e.info.File, io.Discard, nil)
					if err == nil && n != size {
						err = fmt.Errorf("Download: %d bytes", n)
					}
					return err
				}},
				// sdk-up's opaque stream, its length given: each chunk's
				// PUT starts before the chunk is read.
				{"sdk-up-sized", func() error {
					_, err := e.m.Upload(ctx, e.info.File, newPattern(size), &anaplan.UploadOptions{Size: size})
					return err
				}},
			}
			times := make([]time.Duration, len(ops))
			peaks := make([]peak, len(ops))
			// One untimed round: connections, buffers and the server's
			// storage warm, as in a program that moves more than one file.
			for _, op := range ops {
				if err := op.f(); err != nil {
					b.Fatalf("%s: %v", op.name, err)
				}
			}
			b.SetBytes(size * int64(len(ops)))
			b.ResetTimer()
			for range b.N {
				for i, op := range ops {
					start := time.Now()
					err := op.f()
					times[i] += time.Since(start)
					if err != nil {
						b.Fatalf("%s: %v", op.name, err)
					}
				}
			}
			b.StopTimer()
			// Peak memory, in one more (untimed) run of each SDK transfer
			// after a GC and debug.FreeOSMemory: with the buffers kept
			// between calls dropped, the worst case.
			for i, op := range ops {
				if strings.HasPrefix(op.name, "sdk") {
					p, err := measure(op.f)
					if err != nil {
						b.Fatalf("%s: %v", op.name, err)
					}
					peaks[i] = p
				}
			}
			for i, op := range ops {
				b.ReportMetric(float64(size*int64(b.N))/times[i].Seconds()/1e6, op.name+"-MB/s")
				b.ReportMetric(times[i].Seconds()*1e3/float64(b.N), op.name+"-ms")
			}
			b.ReportMetric(times[2].Seconds()/times[4].Seconds(), "up-ratio")
			b.ReportMetric(times[2].Seconds()/times[5].Seconds(), "up-bytes-ratio")
			b.ReportMetric(times[2].Seconds()/times[7].Seconds(), "up-sized-ratio")
			b.ReportMetric(times[3].Seconds()/times[6].Seconds(), "down-ratio")
			b.ReportMetric(times[0].Seconds()/times[4].Seconds(), "up-of-floor")
			b.ReportMetric(times[0].Seconds()/times[5].Seconds(), "up-bytes-of-floor")
			b.ReportMetric(times[0].Seconds()/times[7].Seconds(), "up-sized-of-floor")
			b.ReportMetric(times[1].Seconds()/times[6].Seconds(), "down-of-floor")
			mib := func(n int64) float64 { return float64(n) / (1 << 20) }
			b.ReportMetric(mib(peaks[4].rss), "sdk-up-peak-rss-MiB")
			b.ReportMetric(mib(peaks[5].rss), "sdk-up-bytes-peak-rss-MiB")
			b.ReportMetric(mib(peaks[7].rss), "sdk-up-sized-peak-rss-MiB")
			b.ReportMetric(mib(peaks[6].rss), "sdk-down-peak-rss-MiB")
			b.ReportMetric(mib(peaks[4].heap), "sdk-up-peak-heap-MiB")
			b.ReportMetric(mib(peaks[7].heap), "sdk-up-sized-peak-heap-MiB")
			b.ReportMetric(mib(peaks[6].heap), "sdk-down-peak-heap-MiB")
		})
	}
}

// BenchmarkTransferConcurrency uploads and downloads 64 MiB with 1, 2, 4
// and 8 chunks in flight (8 MiB chunks), for the choice of
// DefaultConcurrency: MB/s and peak memory above the baseline.
func BenchmarkTransferConcurrency(b *testing.B) {
	e := startBench(b)
	ctx := context.Background()
	const size = 64 << 20
	for _, n := range []int{1, 2, 4, 8} {
		b.Run("inflight="+strconv.Itoa(n), func(b *testing.B) {
			up := func() error {
				_, err := e.m.Upload(ctx, e.info.File, newPattern(size), &anaplan.UploadOptions{Concurrency: n})
				return err
			}
			down := func() error {
				_, err := e.m.Download(ctx, e.info.File, io.Discard, &anaplan.DownloadOptions{Concurrency: n})
				return err
			}
			if err := up(); err != nil {
				b.Fatal(err)
			}
			var tUp, tDown time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := up(); err != nil {
					b.Fatal(err)
				}
				tUp += time.Since(start)
				start = time.Now()
				if err := down(); err != nil {
					b.Fatal(err)
				}
				tDown += time.Since(start)
			}
			b.StopTimer()
			pUp, err := measure(up) // untimed, as in BenchmarkTransfer
			if err != nil {
				b.Fatal(err)
			}
			pDown, err := measure(down)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(size*b.N)/tUp.Seconds()/1e6, "up-MB/s")
			b.ReportMetric(float64(size*b.N)/tDown.Seconds()/1e6, "down-MB/s")
			b.ReportMetric(float64(pUp.rss)/(1<<20), "up-peak-rss-MiB")
			b.ReportMetric(float64(pDown.rss)/(1<<20), "down-peak-rss-MiB")
		})
	}
}

// BenchmarkListFiles lists 50,000 files, pages of 5,000 replayed by the
// static server, with ModelHandle.Files and with a plain json.Decoder of
// the same pages over http.DefaultClient (the baseline), interleaved. It
// reports each side's ns and allocations per item, and ratio = plain ÷ SDK
// time (target ≥ 0.95).
func BenchmarkListFiles(b *testing.B) {
	e := startBench(b)
	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: e.info.URL, API: e.info.Static + "/2/0"}),
		anaplan.WithBasic(e.info.User, e.info.Password))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	m := c.Model(e.info.Workspace, e.info.Model)
	base := e.info.Static + "/2/0/workspaces/" + e.info.Workspace + "/models/" + e.info.Model + "/files"
	plain := func() (int, error) {
		n := 0
		for off := 0; ; {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"?limit=5000&offset="+strconv.Itoa(off), nil)
			req.Header.Set("Authorization", "AnaplanAuthToken "+e.tok)
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return n, err
			}
			var page struct {
				Meta struct {
					Paging struct{ TotalSize int } `json:"paging"`
				} `json:"meta"`
				Files []anaplan.File `json:"files"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				return n, err
			}
			for _, f := range page.Files {
				sinkFile = f
				n++
			}
			off += len(page.Files)
			if len(page.Files) == 0 || off >= page.Meta.Paging.TotalSize {
				return n, nil
			}
		}
	}
	sdk := func() (int, error) {
		n := 0
		for f, err := range m.Files(ctx) {
			if err != nil {
				return n, err
			}
			sinkFile = f
			n++
		}
		return n, nil
	}
	sides := []func() (int, error){plain, sdk}
	for _, f := range sides { // warm the connections
		if n, err := f(); err != nil || n != benchFiles {
			b.Fatalf("listed %d, %v", n, err)
		}
	}
	var times [2]time.Duration
	var mallocs, bytes [2]uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for i := range b.N {
		for k := range sides {
			j := (k + i) % 2 // alternate which goes first
			runtime.ReadMemStats(&ms)
			m0, b0 := ms.Mallocs, ms.TotalAlloc
			start := time.Now()
			n, err := sides[j]()
			times[j] += time.Since(start)
			runtime.ReadMemStats(&ms)
			mallocs[j] += ms.Mallocs - m0
			bytes[j] += ms.TotalAlloc - b0
			if err != nil || n != benchFiles {
				b.Fatalf("listed %d, %v", n, err)
			}
		}
	}
	b.StopTimer()
	items := float64(benchFiles * b.N)
	b.ReportMetric(float64(times[0].Nanoseconds())/items, "plain-ns/item")
	b.ReportMetric(float64(times[1].Nanoseconds())/items, "sdk-ns/item")
	b.ReportMetric(float64(mallocs[0])/items, "plain-allocs/item")
	b.ReportMetric(float64(mallocs[1])/items, "sdk-allocs/item")
	b.ReportMetric(float64(bytes[0])/items, "plain-B/item")
	b.ReportMetric(float64(bytes[1])/items, "sdk-B/item")
	b.ReportMetric(times[0].Seconds()/times[1].Seconds(), "ratio")
}

var sinkFile anaplan.File

// BenchmarkFakeListPage is anaplantest alone serving one page of 5,000
// files (to a plain client that reads it into io.Discard) from models of
// 5,000 and of 50,000 files: a page costs O(page), so the two match.
func BenchmarkFakeListPage(b *testing.B) {
	for _, n := range []int{5_000, 50_000} {
		b.Run("files="+strconv.Itoa(n), func(b *testing.B) {
			srv := anaplantest.New(b)
			srv.AddUser(basicUser, basicPassword)
			for i := range n {
				srv.AddFile("WS", "M", anaplantest.File{ID: strconv.Itoa(113000000000 + i), Name: "f.csv"})
			}
			ctx := context.Background()
			c, err := anaplan.New(ctx, anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()),
				anaplan.WithBasic(basicUser, basicPassword))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			tok, err := c.Token(ctx)
			if err != nil {
				b.Fatal(err)
			}
			u := srv.URL() + "/2/0/workspaces/WS/models/M/files?limit=5000&offset=0"
			hc := srv.Client()
			b.ResetTimer()
			for range b.N {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				req.Header.Set("Authorization", "AnaplanAuthToken "+tok.Value)
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
