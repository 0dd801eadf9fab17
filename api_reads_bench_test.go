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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// The large-volume read benchmark of docs/reads.md: a view of 1,000,000
// rows (about 120 MB of CSV) read through anaplantest, which runs in a
// child process (this test binary again, running TestReadBenchServer) so
// that the pages it keeps do not count in this process's memory. Each
// iteration reads the view three times, in turn: with a plain http.Client
// (start, one status request, pages 0…n-1 one after the other into
// io.Discard, delete), with ReadView at default settings into io.Discard,
// and with ReadViewRows (records parsed by encoding/csv).
//
// ratio is plain time ÷ ReadView time over all iterations, median-ratio
// the median of the iterations' ratios (steadier on a loaded machine).
//
//	go test -run '^$' -bench BenchmarkReadView -benchtime 5x .

const (
	readBenchRows     = 1_000_000
	readBenchPageRows = 10_000 // about 1.2 MB a page
	readBenchServer   = "ANAPLAN_READ_BENCH_SERVER"
)

// TestReadBenchServer is the child process of the read benchmark: a fake
// Anaplan serving until its standard input closes.
func TestReadBenchServer(t *testing.T) {
	if os.Getenv(readBenchServer) != "1" {
		t.Skip("the read benchmark's server process; runs only when it starts it")
	}
	srv := anaplantest.NewServer(anaplantest.WithTokenTTL(24 * time.Hour))
	defer srv.Close()
	info := benchInfo{URL: srv.URL(), CertPEM: string(srv.CertificatePEM()), User: "bench@example.com", Password: "bench-password",
		Workspace: "WS", Model: "M", File: "102000000001"}
	srv.AddUser(info.User, info.Password)
	srv.SetReadSource(info.Workspace, info.Model, info.File,
		[]string{"Item", "Parent", "Code", "Revenue", "Comment"},
		func(yield func([]string) bool) {
			row := make([]string, 5)
			row[4] = "a text line item of moderate length, as planning models have"
			for i := range readBenchRows {
				row[0] = "Product " + strconv.Itoa(i)
				row[1] = "Category " + strconv.Itoa(i/1000)
				row[2] = "P" + strconv.Itoa(1_000_000+i)
				row[3] = strconv.FormatFloat(float64(i)*1.25, 'f', 2, 64)
				if !yield(row) {
					return
				}
			}
		})
	// Every page is available at the first status request, so that the
	// comparison is of the clients, not of polling; KeepPages encodes the
	// rows once rather than for every request.
	srv.SetReadBehaviour(info.Workspace, info.Model, info.File,
		anaplantest.ReadBehaviour{PageRows: readBenchPageRows, PagesPerPoll: readBenchRows, KeepPages: true})
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func BenchmarkReadView(b *testing.B) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadBenchServer$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), readBenchServer+"=1")
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
	// Both clients get the transport the SDK uses by default
	// (http.DefaultTransport with 16 idle connections a host, not 2),
	// trusting the fake's certificate.
	newTransport := func() *http.Transport {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
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
	viewURL := api + "/workspaces/" + info.Workspace + "/models/" + info.Model + "/views/" + info.File + "/readRequests"

	do := func(method, u, accept string, body io.Reader, out io.Writer) (int64, error) {
		req, _ := http.NewRequestWithContext(ctx, method, u, body)
		req.Header.Set("Authorization", "AnaplanAuthToken "+tok.Value)
		req.Header.Set("Accept", accept)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := plain.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s %s: %s", method, u, resp.Status)
		}
		return io.Copy(out, resp.Body)
	}
	var size int64 // bytes of the CSV, as the plain client counts them
	plainRead := func() error {
		var start, status strings.Builder
		if _, err := do(http.MethodPost, viewURL, "application/json", strings.NewReader(`{"exportType":"TABULAR_MULTI_COLUMN"}`), &start); err != nil {
			return err
		}
		var s struct {
			R struct {
				ID             string `json:"requestId"`
				State          string `json:"requestState"`
				AvailablePages int    `json:"availablePages"`
			} `json:"viewReadRequest"`
		}
		if err := json.Unmarshal([]byte(start.String()), &s); err != nil {
			return err
		}
		u := viewURL + "/" + s.R.ID
		if _, err := do(http.MethodGet, u, "application/json", nil, &status); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(status.String()), &s); err != nil || s.R.State != "COMPLETE" {
			return fmt.Errorf("status %q: %v", s.R.State, err)
		}
		var n int64
		for p := range s.R.AvailablePages {
			k, err := do(http.MethodGet, u+"/pages/"+strconv.Itoa(p), "text/csv", nil, io.Discard)
			if err != nil {
				return err
			}
			n += k
		}
		if _, err := do(http.MethodDelete, u, "application/json", nil, io.Discard); err != nil {
			return err
		}
		size = n
		return nil
	}
	sdkRead := func() error {
		n, err := m.ReadView(ctx, info.File, io.Discard, nil)
		if err == nil && n != size {
			err = fmt.Errorf("ReadView: %d bytes, the plain client read %d", n, size)
		}
		return err
	}
	sdkRows := func() error {
		rows := 0
		for _, err := range m.ReadViewRows(ctx, info.File, nil) {
			if err != nil {
				return err
			}
			rows++
		}
		if rows != readBenchRows+1 {
			return fmt.Errorf("ReadViewRows: %d records, want %d", rows, readBenchRows+1)
		}
		return nil
	}
	// One read before the clock starts: the fake encodes the rows, and
	// both transports open their connections.
	if err := plainRead(); err != nil {
		b.Fatal(err)
	}
	if err := sdkRead(); err != nil {
		b.Fatal(err)
	}

	var times [3]time.Duration // plain, ReadView, ReadViewRows
	var peaks [3]peak
	ratios := make([]float64, 0, b.N) // plain ÷ ReadView, iteration by iteration
	b.SetBytes(size * 3)
	b.ResetTimer()
	for i := range b.N {
		// Alternate which client goes first, so that neither always
		// follows the other's garbage.
		order := []int{0, 1, 2}
		if i%2 == 1 {
			order = []int{1, 0, 2}
		}
		var took [3]time.Duration
		for _, k := range order {
			f := []func() error{plainRead, sdkRead, sdkRows}[k]
			start := time.Now()
			p, err := measure(f)
			took[k] = time.Since(start)
			times[k] += took[k]
			if err != nil {
				b.Fatal(err)
			}
			peaks[k].rss = max(peaks[k].rss, p.rss)
			peaks[k].heap = max(peaks[k].heap, p.heap)
		}
		ratios = append(ratios, took[0].Seconds()/took[1].Seconds())
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size*int64(b.N)) / d.Seconds() / 1e6 }
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(float64(size)/1e6, "csv-MB")
	b.ReportMetric(mbps(times[0]), "plain-MB/s")
	b.ReportMetric(mbps(times[1]), "sdk-MB/s")
	b.ReportMetric(mbps(times[2]), "rows-MB/s")
	b.ReportMetric(times[0].Seconds()/times[1].Seconds(), "ratio")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
	b.ReportMetric(mib(peaks[1].rss), "sdk-peak-rss-MiB")
	b.ReportMetric(mib(peaks[1].heap), "sdk-peak-heap-MiB")
	b.ReportMetric(mib(peaks[2].rss), "rows-peak-rss-MiB")
	b.ReportMetric(mib(peaks[0].rss), "plain-peak-rss-MiB")
}
