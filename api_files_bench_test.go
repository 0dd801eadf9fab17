package anaplan_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// The Integration API benchmarks of BENCHMARKS.md. They move a 256 MiB file
// through anaplantest, which runs in a child process (this test binary
// again, running TestIntegrationBenchServer) so that the file it stores
// does not count in this process's memory. Each iteration moves the file
// four times, interleaved: with a plain http.Client (one PUT of the whole
// file, one GET of it) and with Upload and Download at default settings.
//
//	go test -run '^$' -bench BenchmarkIntegrationTransfer -benchtime 3x .

const (
	benchFileSize = 256 << 20
	benchServer   = "ANAPLAN_BENCH_SERVER"
)

// benchInfo is what the child process tells its parent.
type benchInfo struct {
	URL, CertPEM, User, Password, Workspace, Model, File string
}

// TestIntegrationBenchServer is the child process of the benchmarks: a fake
// Anaplan serving until its standard input closes.
func TestIntegrationBenchServer(t *testing.T) {
	if os.Getenv(benchServer) != "1" {
		t.Skip("the benchmarks' server process; runs only when they start it")
	}
	srv := anaplantest.NewServer()
	defer srv.Close()
	info := benchInfo{URL: srv.URL(), CertPEM: string(srv.CertificatePEM()), User: "bench@example.com", Password: "bench-password",
		Workspace: "WS", Model: "M", File: "113000000001"}
	srv.AddUser(info.User, info.Password)
	srv.AddFile(info.Workspace, info.Model, anaplantest.File{ID: info.File, Name: "big.csv"})
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
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

func BenchmarkIntegrationTransfer(b *testing.B) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIntegrationBenchServer$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchServer+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	var info benchInfo
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&info); err != nil {
		b.Fatalf("reading the server's address: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(info.CertPEM))
	newTransport := func() *http.Transport {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		return tr
	}
	ctx := context.Background()
	ptr, str := newTransport(), newTransport()
	defer ptr.CloseIdleConnections()
	defer str.CloseIdleConnections()
	plain := &http.Client{Transport: ptr}
	api := info.URL + "/2/0"
	c, err := anaplan.New(ctx,
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: info.URL, API: api}),
		anaplan.WithHTTPClient(&http.Client{Transport: str}),
		anaplan.WithBasic(info.User, info.Password))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	tok, err := c.Token(ctx)
	if err != nil {
		b.Fatal(err)
	}
	m := c.Model(info.Workspace, info.Model)
	fileURL := api + "/workspaces/" + info.Workspace + "/models/" + info.Model + "/files/" + info.File

	plainPut := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, fileURL, newPattern(benchFileSize))
		req.ContentLength = benchFileSize
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Authorization", "AnaplanAuthToken "+tok.Value)
		resp, err := plain.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PUT: %s", resp.Status)
		}
		return nil
	}
	plainGet := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fileURL+"/chunks/0", nil)
		req.Header.Set("Authorization", "AnaplanAuthToken "+tok.Value)
		resp, err := plain.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n != benchFileSize {
			err = fmt.Errorf("GET: %d bytes", n)
		}
		return err
	}
	sdkUpload := func() error {
		_, err := m.Upload(ctx, info.File, newPattern(benchFileSize), nil)
		return err
	}
	sdkDownload := func() error {
		n, err := m.Download(ctx, info.File, io.Discard, nil)
		if err == nil && n != benchFileSize {
			err = fmt.Errorf("Download: %d bytes", n)
		}
		return err
	}

	var times [4]time.Duration // plain up, sdk up, plain down, sdk down
	var peaks [4]peak
	b.SetBytes(benchFileSize * 4)
	b.ResetTimer()
	for range b.N {
		// The plain GET reads the one-chunk file the plain PUT wrote; the
		// SDK's Download reads the chunks its Upload wrote.
		for i, f := range []func() error{plainPut, plainGet, sdkUpload, sdkDownload} {
			slot := []int{0, 2, 1, 3}[i]
			start := time.Now()
			p, err := measure(f)
			times[slot] += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			peaks[slot].rss = max(peaks[slot].rss, p.rss)
			peaks[slot].heap = max(peaks[slot].heap, p.heap)
		}
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(benchFileSize*b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(times[0]), "plain-up-MB/s")
	b.ReportMetric(mbps(times[1]), "sdk-up-MB/s")
	b.ReportMetric(mbps(times[2]), "plain-down-MB/s")
	b.ReportMetric(mbps(times[3]), "sdk-down-MB/s")
	b.ReportMetric(times[0].Seconds()/times[1].Seconds(), "up-ratio")
	b.ReportMetric(times[2].Seconds()/times[3].Seconds(), "down-ratio")
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(mib(peaks[1].rss), "sdk-up-peak-rss-MiB")
	b.ReportMetric(mib(peaks[3].rss), "sdk-down-peak-rss-MiB")
	b.ReportMetric(mib(peaks[1].heap), "sdk-up-peak-heap-MiB")
	b.ReportMetric(mib(peaks[3].heap), "sdk-down-peak-heap-MiB")
	b.ReportMetric(mib(peaks[0].rss), "plain-up-peak-rss-MiB")
	b.ReportMetric(mib(peaks[2].rss), "plain-down-peak-rss-MiB")
}
