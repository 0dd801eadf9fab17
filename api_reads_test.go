package anaplan_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

const (
	readTestView = "102000000007"
	readTestList = "101000000003"
)

// readFixture is a fake Anaplan and a client whose transport records the
// largest number of page requests in flight at once.
type readFixture struct {
	srv      *anaplantest.Server
	m        *anaplan.ModelHandle
	inFlight atomic.Int64
	maxPages atomic.Int64

	mu  sync.Mutex
	cut map[string]int // page path suffix ("/pages/3") → bytes after which its next answer's body breaks

	// With gatePolls, every status request after the first waits
	// (5 s at most) until one more page body has been read to its end:
	// Anaplan producing pages slower than the client downloads them.
	gatePolls bool
	polls     atomic.Int64
	pageRead  chan struct{}
}

var readPollPath = regexp.MustCompile(`/readRequests/[^/]+$`)

// eofSignal signals once when a body has been read to its end.
type eofSignal struct {
	io.ReadCloser
	once sync.Once
	c    chan struct{}
}

func (b *eofSignal) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() {
			select {
			case b.c <- struct{}{}:
			default: // nobody gates on them: drop
			}
		})
	}
	return n, err
}

// cutBody breaks the body of the next answer for a page after n bytes.
func (f *readFixture) cutBody(page, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut == nil {
		f.cut = map[string]int{}
	}
	f.cut["/pages/"+strconv.Itoa(page)] = n
}

func (f *readFixture) takeCut(path string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for suffix, n := range f.cut {
		if strings.HasSuffix(path, suffix) {
			delete(f.cut, suffix)
			return n, true
		}
	}
	return 0, false
}

// readBrokenBody yields n bytes of a body, then fails as a dropped connection.
type readBrokenBody struct {
	io.ReadCloser
	left int
}

func (b *readBrokenBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= k
	return k, err
}

func newReadFixture(t testing.TB) *readFixture {
	t.Helper()
	f := &readFixture{srv: anaplantest.New(t)}
	f.srv.AddUser(testUser, testPassword)
	f.srv.AddWorkspace(anaplantest.Workspace{ID: testWS, Name: "Finance"})
	f.srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget"})
	next := f.srv.Client().Transport
	f.pageRead = make(chan struct{}, 10_000)
	rt := readRoundTrip(func(req *http.Request) (*http.Response, error) {
		if f.gatePolls && req.Method == http.MethodGet && readPollPath.MatchString(req.URL.Path) && f.polls.Add(1) > 1 {
			select {
			case <-f.pageRead:
			case <-time.After(5 * time.Second):
			}
		}
		if !strings.Contains(req.URL.Path, "/pages/") {
			return next.RoundTrip(req)
		}
		n := f.inFlight.Add(1)
		for {
			m := f.maxPages.Load()
			if n <= m || f.maxPages.CompareAndSwap(m, n) {
				break
			}
		}
		defer f.inFlight.Add(-1)
		resp, err := next.RoundTrip(req)
		if n, ok := f.takeCut(req.URL.Path); ok && err == nil {
			resp.Body = &readBrokenBody{ReadCloser: resp.Body, left: n}
		}
		if err == nil {
			resp.Body = &eofSignal{ReadCloser: resp.Body, c: f.pageRead}
		}
		return resp, err
	})
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(f.srv.Endpoints()),
		anaplan.WithHTTPClient(&http.Client{Transport: rt}),
		anaplan.WithFastRetriesForTest(),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	f.m = c.Model(testWS, testModel)
	return f
}

type readRoundTrip func(*http.Request) (*http.Response, error)

func (f readRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// readTestRows makes n rows; some have fields that need quoting, line ends
// included, so that a page boundary is not simply a line.
func readTestRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		name := "Item " + strconv.Itoa(i)
		switch i % 7 {
		case 3:
			name = "Item, \"quoted\" " + strconv.Itoa(i)
		case 5:
			name = "Item\non two lines " + strconv.Itoa(i)
		}
		rows[i] = []string{name, "Parent " + strconv.Itoa(i/10), strconv.Itoa(i * 3)}
	}
	return rows
}

func readSliceSource(rows [][]string) anaplantest.ReadSource {
	return func(yield func([]string) bool) {
		for _, r := range rows {
			if !yield(r) {
				return
			}
		}
	}
}

// readCSVDoc is the CSV document a read of header and rows must write.
func readCSVDoc(header []string, rows [][]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(header)
	_ = w.WriteAll(rows)
	return b.String()
}

var readHeader = []string{"Item, with comma", "Parent", "Value"}

// readProgressLog records ReadProgress calls.
type readProgressLog struct {
	mu    sync.Mutex
	calls []anaplan.ReadProgress
}

func (p *readProgressLog) add(r anaplan.ReadProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, r)
}

func (p *readProgressLog) last() anaplan.ReadProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		return anaplan.ReadProgress{}
	}
	return p.calls[len(p.calls)-1]
}

func fastReadPolls(o *anaplan.ReadOptions) *anaplan.ReadOptions {
	if o == nil {
		o = &anaplan.ReadOptions{}
	}
	o.PollInterval, o.MaxPollInterval = time.Millisecond, 2*time.Millisecond
	return o
}

func TestReadPages(t *testing.T) {
	tests := []struct {
		name        string
		list        bool
		rows        int
		b           anaplantest.ReadBehaviour
		opts        anaplan.ReadOptions
		header      []string
		wantPages   int
		wantExport  string
		earlyPages  bool // pages must be fetched while the request is in progress
		maxInFlight int64
	}{
		{name: "several pages over several polls", rows: 95, b: anaplantest.ReadBehaviour{PageRows: 10}, wantPages: 10, wantExport: "TABULAR_MULTI_COLUMN", earlyPages: true, maxInFlight: 4},
		{name: "header repeated on every page", rows: 95, b: anaplantest.ReadBehaviour{PageRows: 10, RepeatHeader: true}, wantPages: 10, wantExport: "TABULAR_MULTI_COLUMN", earlyPages: true, maxInFlight: 4},
		{name: "header with a quoted line end, repeated", rows: 40, header: []string{"a\nb", "c\"d", ""}, b: anaplantest.ReadBehaviour{PageRows: 7, RepeatHeader: true, PagesPerPoll: 2}, wantPages: 6, wantExport: "TABULAR_MULTI_COLUMN", earlyPages: true, maxInFlight: 4},
		{name: "all pages at once, two in flight", rows: 200, b: anaplantest.ReadBehaviour{PageRows: 10, PagesPerPoll: 100}, opts: anaplan.ReadOptions{Concurrency: 2}, wantPages: 20, wantExport: "TABULAR_MULTI_COLUMN", maxInFlight: 2},
		{name: "one page in flight", rows: 50, b: anaplantest.ReadBehaviour{PageRows: 10, PagesPerPoll: 3, RepeatHeader: true}, opts: anaplan.ReadOptions{Concurrency: 1}, wantPages: 5, wantExport: "TABULAR_MULTI_COLUMN", earlyPages: true, maxInFlight: 1},
		{name: "gzipped pages", rows: 95, b: anaplantest.ReadBehaviour{PageRows: 10, Gzip: true, RepeatHeader: true}, wantPages: 10, wantExport: "TABULAR_MULTI_COLUMN", earlyPages: true, maxInFlight: 4},
		{name: "one page", rows: 3, wantPages: 1, wantExport: "TABULAR_MULTI_COLUMN", maxInFlight: 1},
		{name: "no rows", rows: 0, wantPages: 1, wantExport: "TABULAR_MULTI_COLUMN", maxInFlight: 1},
		{name: "single column", rows: 30, b: anaplantest.ReadBehaviour{PageRows: 10}, opts: anaplan.ReadOptions{ExportType: anaplan.ReadTabularSingleColumn}, wantPages: 3, wantExport: "TABULAR_SINGLE_COLUMN", earlyPages: true, maxInFlight: 4},
		{name: "list", list: true, rows: 95, header: []string{"", "Parent", "Code"}, b: anaplantest.ReadBehaviour{PageRows: 10, RepeatHeader: true}, wantPages: 10, earlyPages: true, maxInFlight: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newReadFixture(t)
			f.gatePolls = tc.earlyPages
			header := tc.header
			if header == nil {
				header = readHeader
			}
			rows := readTestRows(tc.rows)
			id := readTestView
			if tc.list {
				id = readTestList
			}
			f.srv.SetReadSource(testWS, testModel, id, header, readSliceSource(rows))
			f.srv.SetReadBehaviour(testWS, testModel, id, tc.b)
			var prog readProgressLog
			opts := tc.opts
			opts.Progress = prog.add
			var out bytes.Buffer
			var n int64
			var err error
			if tc.list {
				n, err = f.m.ReadList(context.Background(), id, &out, fastReadPolls(&opts))
			} else {
				n, err = f.m.ReadView(context.Background(), id, &out, fastReadPolls(&opts))
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			want := readCSVDoc(header, rows)
			if diff := cmp.Diff(want, out.String()); diff != "" {
				t.Errorf("CSV written (-want +got):\n%s", diff)
			}
			if n != int64(len(want)) {
				t.Errorf("read returned %d bytes, want %d", n, len(want))
			}
			reqs := f.srv.ReadRequests(testWS, testModel)
			if len(reqs) != 1 {
				t.Fatalf("%d read requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if !r.Deleted || r.State != "COMPLETE" || !r.Successful {
				t.Errorf("request at the end: %+v, want deleted, COMPLETE, successful", r)
			}
			if r.TotalPages != tc.wantPages || r.PagesServed != tc.wantPages {
				t.Errorf("pages: %d in the result, %d served; want %d each", r.TotalPages, r.PagesServed, tc.wantPages)
			}
			if wantGz := map[bool]int{true: tc.wantPages}[tc.b.Gzip]; r.PagesGzipped != wantGz {
				t.Errorf("%d pages sent gzipped, want %d", r.PagesGzipped, wantGz)
			}
			if r.ExportType != tc.wantExport {
				t.Errorf("exportType sent %q, want %q", r.ExportType, tc.wantExport)
			}
			step := max(tc.b.PagesPerPoll, 1)
			if wantPolls := (tc.wantPages + step - 1) / step; r.Polls < wantPolls {
				t.Errorf("%d polls, want at least %d", r.Polls, wantPolls)
			}
			if got := f.maxPages.Load(); got > tc.maxInFlight || got < 1 {
				t.Errorf("at most %d pages in flight, want 1 to %d", got, tc.maxInFlight)
			}
			if tc.earlyPages && r.PagesServedInProgress == 0 {
				t.Errorf("no page was fetched while the request was in progress")
			}
			last := prog.last()
			if wantLast := (anaplan.ReadProgress{RequestID: r.ID, State: "COMPLETE", AvailablePages: tc.wantPages, TotalPages: tc.wantPages, Pages: tc.wantPages, Bytes: n}); last != wantLast {
				t.Errorf("last progress %+v, want %+v", last, wantLast)
			}
		})
	}
}

func TestReadRestarts(t *testing.T) {
	rows := readTestRows(100)
	want := readCSVDoc(readHeader, rows)
	tests := []struct {
		name       string
		failNext   int
		restarts   int
		changes    bool // the data differs from one request to the next
		wantErr    string
		wantReqs   int
		wantFailed int
	}{
		{name: "restarted once", failNext: 1, wantReqs: 2, wantFailed: 1},
		{name: "restarted twice", failNext: 2, wantReqs: 3, wantFailed: 2},
		{name: "fails every time", failNext: 10, restarts: 1, wantErr: "failed 2 times", wantReqs: 2, wantFailed: 2},
		{name: "no restarts", failNext: 1, restarts: -1, wantErr: "ended unsuccessful (COMPLETE, successful: false)", wantReqs: 1, wantFailed: 1},
		{name: "data changed", failNext: 1, changes: true, wantErr: "the data changed in between", wantReqs: 2, wantFailed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newReadFixture(t)
			var calls atomic.Int64
			f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, func(yield func([]string) bool) {
				k := calls.Add(1)
				for i, r := range rows {
					if tc.changes && k > 1 && i == 5 {
						r = []string{"changed", r[1], r[2]}
					}
					if !yield(r) {
						return
					}
				}
			})
			f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10, FailNext: tc.failNext, FailAfterPages: 4, RepeatHeader: true})
			var prog readProgressLog
			var out bytes.Buffer
			n, err := f.m.ReadView(context.Background(), readTestView, &out, fastReadPolls(&anaplan.ReadOptions{Restarts: tc.restarts, Progress: prog.add}))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadView: %v", err)
				}
				if diff := cmp.Diff(want, out.String()); diff != "" {
					t.Errorf("CSV written (-want +got):\n%s", diff)
				}
				if got := prog.last().Restarts; got != tc.wantReqs-1 {
					t.Errorf("progress reports %d restarts, want %d", got, tc.wantReqs-1)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadView error %v, want one saying %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(want, out.String()) || out.Len() == 0 {
					t.Errorf("after the failure w holds %d bytes that are not a prefix of the data", out.Len())
				}
			}
			if n != int64(out.Len()) {
				t.Errorf("ReadView returned %d, wrote %d", n, out.Len())
			}
			reqs := f.srv.ReadRequests(testWS, testModel)
			failed := 0
			for _, r := range reqs {
				if !r.Deleted {
					t.Errorf("request %s not deleted: %+v", r.ID, r)
				}
				if r.State == "COMPLETE" && !r.Successful {
					failed++
				}
			}
			if len(reqs) != tc.wantReqs || failed != tc.wantFailed {
				t.Errorf("%d requests of which %d failed, want %d and %d", len(reqs), failed, tc.wantReqs, tc.wantFailed)
			}
		})
	}
}

// A page whose body breaks off is fetched again and continues where it
// stopped, whether it was streaming to w (the next page in order) or
// waiting in its buffer; a break inside the header is no different.
func TestReadBodyCutShort(t *testing.T) {
	rows := readTestRows(120)
	tests := []struct {
		name string
		conc int
		cuts map[int]int // page → bytes before the break
	}{
		{name: "streaming page, in its header", conc: 1, cuts: map[int]int{0: 10, 4: 30}},
		{name: "streaming pages, mid-row", conc: 1, cuts: map[int]int{2: 97, 3: 1}},
		{name: "buffered pages", conc: 4, cuts: map[int]int{1: 50, 2: 200, 3: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newReadFixture(t)
			f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
			f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10, PagesPerPoll: 100, RepeatHeader: true})
			for p, n := range tc.cuts {
				f.cutBody(p, n)
			}
			var out bytes.Buffer
			if _, err := f.m.ReadView(context.Background(), readTestView, &out, fastReadPolls(&anaplan.ReadOptions{Concurrency: tc.conc})); err != nil {
				t.Fatalf("ReadView: %v", err)
			}
			if diff := cmp.Diff(readCSVDoc(readHeader, rows), out.String()); diff != "" {
				t.Errorf("CSV written (-want +got):\n%s", diff)
			}
			r := f.srv.ReadRequests(testWS, testModel)
			if len(r) != 1 || r[0].PagesServed != r[0].TotalPages+len(tc.cuts) {
				t.Errorf("requests %+v, want one with %d pages served (%d fetched again)", r, r[0].TotalPages+len(tc.cuts), len(tc.cuts))
			}
			if len(f.cut) != 0 {
				t.Errorf("cuts not reached: %v", f.cut)
			}
		})
	}
}

// A large read (100 pages, several MB) whose request fails at page 50 is
// started again: the second request's first pages are checked against
// what was written, and only the rest is written. With restarts off, the
// error says what happened and w holds what was written before.
func TestReadLargeFailsMidway(t *testing.T) {
	rows := readTestRows(20_000)
	want := readCSVDoc(readHeader, rows)
	for _, restarts := range []int{0, -1} {
		t.Run(fmt.Sprint("restarts=", restarts), func(t *testing.T) {
			f := newReadFixture(t)
			f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
			f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 200, PagesPerPoll: 10, RepeatHeader: true, FailNext: 1, FailAfterPages: 50})
			var out bytes.Buffer
			n, err := f.m.ReadView(context.Background(), readTestView, &out, fastReadPolls(&anaplan.ReadOptions{Restarts: restarts}))
			reqs := f.srv.ReadRequests(testWS, testModel)
			for _, r := range reqs {
				if !r.Deleted {
					t.Errorf("request %+v not deleted", r)
				}
			}
			if restarts == 0 {
				if err != nil {
					t.Fatalf("ReadView: %v", err)
				}
				if out.String() != want || n != int64(len(want)) {
					t.Errorf("wrote %d bytes (returned %d), want the %d of the whole view", out.Len(), n, len(want))
				}
				if len(reqs) != 2 || reqs[0].Successful || reqs[0].AvailablePages != 50 || reqs[1].PagesServed != 100 {
					t.Errorf("requests %+v, want a failed one with 50 pages, then one with all 100 served", reqs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "ended unsuccessful") || !strings.Contains(err.Error(), "Restarts") {
				t.Fatalf("ReadView error %v, want one saying the request ended unsuccessful and restarts are off", err)
			}
			// The pages written before the failure showed stay; none after.
			if prefix := readCSVDoc(readHeader, rows[:50*200]); out.Len() == 0 || !strings.HasPrefix(prefix, out.String()) || n != int64(out.Len()) {
				t.Errorf("w holds %d bytes (returned %d), want a prefix of the %d of the first 50 pages", out.Len(), n, len(prefix))
			}
		})
	}
}

// slowWriter pauses on its first writes, longer than the client's idle
// limit, as a slow disk or consumer would.
type slowWriter struct {
	bytes.Buffer
	pauses int
	pause  time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.pauses > 0 {
		w.pauses--
		time.Sleep(w.pause)
	}
	return w.Buffer.Write(p)
}

// A writer slower than the transport's idle limit makes the streaming
// page's answer end again and again; each time the page is fetched again
// from where it stopped, and the read completes.
func TestReadSlowWriter(t *testing.T) {
	f := newReadFixture(t)
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(f.srv.Endpoints()),
		anaplan.WithHTTPClient(f.srv.Client()),
		anaplan.WithIdleTimeout(50*time.Millisecond),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows := readTestRows(3000)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 3000})
	w := &slowWriter{pauses: 6, pause: 150 * time.Millisecond}
	if _, err := c.Model(testWS, testModel).ReadView(context.Background(), readTestView, w, fastReadPolls(&anaplan.ReadOptions{Concurrency: 1})); err != nil {
		t.Fatalf("ReadView: %v", err)
	}
	if diff := cmp.Diff(readCSVDoc(readHeader, rows), w.String()); diff != "" {
		t.Errorf("CSV written (-want +got):\n%s", diff)
	}
	r := f.srv.ReadRequests(testWS, testModel)
	t.Logf("the page was served %d times", r[0].PagesServed)
}

// A request reclaimed by Anaplan mid-read (30 minutes without activity on
// the fake's clock) is started again, and the read completes.
func TestReadExpiredRequest(t *testing.T) {
	f := newReadFixture(t)
	rows := readTestRows(100)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10})
	var once sync.Once
	opts := fastReadPolls(&anaplan.ReadOptions{Concurrency: 1, Progress: func(p anaplan.ReadProgress) {
		if p.Pages == 3 && p.Restarts == 0 {
			once.Do(func() { f.srv.Advance(anaplantest.ReadRequestIdleTTL + time.Minute) })
		}
	}})
	var out bytes.Buffer
	if _, err := f.m.ReadView(context.Background(), readTestView, &out, opts); err != nil {
		t.Fatalf("ReadView: %v", err)
	}
	if diff := cmp.Diff(readCSVDoc(readHeader, rows), out.String()); diff != "" {
		t.Errorf("CSV written (-want +got):\n%s", diff)
	}
	reqs := f.srv.ReadRequests(testWS, testModel)
	if len(reqs) != 2 || !reqs[0].Expired || !reqs[1].Deleted || reqs[1].Expired {
		t.Errorf("requests %+v, want the first expired and the second deleted", reqs)
	}
}

// Page 0 (and every page number divisible by 100) keeps a request alive;
// other pages do not, and a status request is no activity.
func TestReadRequestIdleTimer(t *testing.T) {
	f := newReadFixture(t)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(readTestRows(300)))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 1, PagesPerPoll: 300})
	var tok string // the fake's tokens live 35 minutes on its clock: a new one for each step
	base := f.srv.Endpoints().API + "/workspaces/" + testWS + "/models/" + testModel + "/views/" + readTestView + "/readRequests"
	do := func(method, u string) int {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(`{"exportType":"TABULAR_MULTI_COLUMN"}`))
		req.Header.Set("Authorization", "AnaplanAuthToken "+tok)
		req.Header.Set("Accept", "text/csv")
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	tok = f.token(t)
	if code := do(http.MethodPost, base); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	rid := f.srv.ReadRequests(testWS, testModel)[0].ID
	u := base + "/" + rid
	steps := []struct {
		advance time.Duration
		method  string
		path    string
		want    int
	}{
		{0, http.MethodGet, "", 200},
		{20 * time.Minute, http.MethodGet, "/pages/100", 200}, // resets the timer
		{20 * time.Minute, http.MethodGet, "/pages/7", 200},   // 40 min after start, 20 after page 100
		{5 * time.Minute, http.MethodGet, "", 200},            // a poll: no activity
		{6 * time.Minute, http.MethodGet, "/pages/8", 404},    // 31 min after page 100
		{0, http.MethodDelete, "", 404},
	}
	for i, s := range steps {
		f.srv.Advance(s.advance)
		tok = f.token(t)
		if code := do(s.method, u+s.path); code != s.want {
			t.Errorf("step %d: %s %s answered %d, want %d", i, s.method, s.path, code, s.want)
		}
	}
	if r := f.srv.ReadRequests(testWS, testModel)[0]; !r.Expired || r.Deleted {
		t.Errorf("request %+v, want expired", r)
	}
}

func (f *readFixture) token(t *testing.T) string {
	t.Helper()
	c, err := anaplan.New(context.Background(), anaplan.WithEndpoints(f.srv.Endpoints()),
		anaplan.WithHTTPClient(f.srv.Client()), anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// A read cancelled midway returns the context's error, leaves a prefix in
// w, and deletes its request (CANCELLED, as it was still running).
func TestReadCancelled(t *testing.T) {
	f := newReadFixture(t)
	rows := readTestRows(200)
	want := readCSVDoc(readHeader, rows)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := fastReadPolls(&anaplan.ReadOptions{Progress: func(p anaplan.ReadProgress) {
		if p.Pages == 5 {
			cancel()
		}
	}})
	var out bytes.Buffer
	n, err := f.m.ReadView(ctx, readTestView, &out, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadView error %v, want context.Canceled", err)
	}
	if n != int64(out.Len()) || n == 0 || n >= int64(len(want)) || !strings.HasPrefix(want, out.String()) {
		t.Errorf("after cancelling: returned %d, wrote %d bytes, want a proper prefix of the %d", n, out.Len(), len(want))
	}
	reqs := f.srv.ReadRequests(testWS, testModel)
	if len(reqs) != 1 || !reqs[0].Deleted || reqs[0].State != "CANCELLED" {
		t.Errorf("requests %+v, want one, deleted while running (CANCELLED)", reqs)
	}
}

func TestReadRows(t *testing.T) {
	rows := readTestRows(75)
	for _, list := range []bool{false, true} {
		t.Run(fmt.Sprint("list=", list), func(t *testing.T) {
			f := newReadFixture(t)
			id := readTestView
			if list {
				id = readTestList
			}
			f.srv.SetReadSource(testWS, testModel, id, readHeader, readSliceSource(rows))
			f.srv.SetReadBehaviour(testWS, testModel, id, anaplantest.ReadBehaviour{PageRows: 10, RepeatHeader: list})
			seq := f.m.ReadViewRows(context.Background(), id, fastReadPolls(nil))
			if list {
				seq = f.m.ReadListRows(context.Background(), id, fastReadPolls(nil))
			}
			var got [][]string
			for rec, err := range seq {
				if err != nil {
					t.Fatalf("row %d: %v", len(got), err)
				}
				got = append(got, rec)
			}
			if diff := cmp.Diff(append([][]string{readHeader}, rows...), got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if r := f.srv.ReadRequests(testWS, testModel); len(r) != 1 || !r[0].Deleted {
				t.Errorf("requests %+v, want one, deleted", r)
			}
		})
	}
}

// Breaking out of the row loop stops the read; the request is deleted by
// the time the loop statement ends.
func TestReadRowsBreak(t *testing.T) {
	f := newReadFixture(t)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(readTestRows(500)))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10})
	k := 0
	for _, err := range f.m.ReadViewRows(context.Background(), readTestView, fastReadPolls(nil)) {
		if err != nil {
			t.Fatal(err)
		}
		if k++; k == 25 {
			break
		}
	}
	reqs := f.srv.ReadRequests(testWS, testModel)
	if len(reqs) != 1 || !reqs[0].Deleted || reqs[0].State != "CANCELLED" {
		t.Errorf("requests %+v, want one, deleted while running", reqs)
	}
}

// A UTF-8 byte order mark before the header is not part of the first
// field, and a page that repeats the header with its mark has both dropped.
func TestReadRowsByteOrderMark(t *testing.T) {
	f := newReadFixture(t)
	header := []string{"\ufeffName", "Code"}
	rows := [][]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	f.srv.SetReadSource(testWS, testModel, readTestList, header, readSliceSource(rows))
	f.srv.SetReadBehaviour(testWS, testModel, readTestList, anaplantest.ReadBehaviour{PageRows: 1, RepeatHeader: true})
	var got [][]string
	for rec, err := range f.m.ReadListRows(context.Background(), readTestList, fastReadPolls(nil)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	want := append([][]string{{"Name", "Code"}}, rows...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

type readDiskFullWriter struct{ after int }

func (w *readDiskFullWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestReadErrors(t *testing.T) {
	f := newReadFixture(t)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(readTestRows(100)))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10})
	ctx := context.Background()
	tests := []struct {
		name     string
		read     func() error
		want     string
		wantReqs int // requests started
	}{
		{name: "unknown view", read: func() error {
			_, err := f.m.ReadView(ctx, "102000000999", io.Discard, fastReadPolls(nil))
			return err
		}, want: "404"},
		{name: "export type on a list", read: func() error {
			_, err := f.m.ReadList(ctx, readTestList, io.Discard, &anaplan.ReadOptions{ExportType: anaplan.ReadGridAllPages})
			return err
		}, want: "lists have no export type"},
		{name: "concurrency out of range", read: func() error {
			_, err := f.m.ReadView(ctx, readTestView, io.Discard, &anaplan.ReadOptions{Concurrency: anaplan.MaxConcurrency + 1})
			return err
		}, want: "ReadOptions.Concurrency 65 is out of range"},
		{name: "nil writer", read: func() error {
			_, err := f.m.ReadView(ctx, readTestView, nil, nil)
			return err
		}, want: "needs a writer"},
		{name: "page too large", read: func() error {
			_, err := f.m.ReadView(ctx, readTestView, io.Discard, fastReadPolls(&anaplan.ReadOptions{MaxPageBytes: 100}))
			return err
		}, want: "larger than ReadOptions.MaxPageBytes (100 bytes)", wantReqs: 1},
		{name: "writer fails", read: func() error {
			_, err := f.m.ReadView(ctx, readTestView, &readDiskFullWriter{after: 1000}, fastReadPolls(nil))
			return err
		}, want: "disk full", wantReqs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.srv.ReadRequests(testWS, testModel))
			err := tc.read()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			reqs := f.srv.ReadRequests(testWS, testModel)[before:]
			if len(reqs) != tc.wantReqs {
				t.Fatalf("%d requests started, want %d", len(reqs), tc.wantReqs)
			}
			for _, r := range reqs {
				if !r.Deleted {
					t.Errorf("request %+v not deleted", r)
				}
			}
		})
	}
	var ae *anaplan.APIError
	_, err := f.m.ReadView(ctx, "102000000999", io.Discard, nil)
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Hint == "" {
		t.Errorf("unknown view: %v, want a 404 *APIError with the no-access hint", err)
	}
}

// A read that wrote everything but could not delete its request says so
// with ErrReadNotDeleted; the data is complete.
func TestReadDeleteFails(t *testing.T) {
	f := newReadFixture(t)
	rows := readTestRows(30)
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, readSliceSource(rows))
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: 10})
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusInternalServerError, Path: "DELETE /2/0/workspaces/"})
	var out bytes.Buffer
	_, err := f.m.ReadView(context.Background(), readTestView, &out, fastReadPolls(nil))
	if !errors.Is(err, anaplan.ErrReadNotDeleted) {
		t.Fatalf("ReadView error %v, want ErrReadNotDeleted", err)
	}
	if out.String() != readCSVDoc(readHeader, rows) {
		t.Errorf("the data written is not complete")
	}
}

// Reading 50 MB in 64 KiB pages keeps the live heap within a few pages:
// memory does not grow with the result.
func TestReadMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 50 MB")
	}
	f := newReadFixture(t)
	const total = 50 << 20
	row := []string{"", "Parent item with a longish name", "1234567.89", "a text value that pads the row out"}
	rowLen := len(strings.Join(row, ",")) + 8
	nrows := total / rowLen
	pageRows := (64 << 10) / rowLen
	f.srv.SetReadSource(testWS, testModel, readTestView, readHeader, func(yield func([]string) bool) {
		r := make([]string, len(row))
		copy(r, row)
		for i := range nrows {
			r[0] = fmt.Sprintf("Item %07d", i)
			if !yield(r) {
				return
			}
		}
	})
	// The fake keeps the pages it made, so that they are in the baseline.
	f.srv.SetReadBehaviour(testWS, testModel, readTestView, anaplantest.ReadBehaviour{PageRows: pageRows, PagesPerPoll: 50, KeepPages: true})
	opts := fastReadPolls(nil)
	warm, err := f.m.ReadView(context.Background(), readTestView, io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	if warm < total*9/10 {
		t.Fatalf("read %d bytes, want about %d", warm, total)
	}

	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() int64 { metrics.Read(sample); return int64(sample[0].Value.Uint64()) }
	base := live()
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			peak.Store(max(peak.Load(), live()))
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	})
	n, err := f.m.ReadView(context.Background(), readTestView, io.Discard, opts)
	close(stop)
	wg.Wait()
	if err != nil || n != warm {
		t.Fatalf("second read: %d bytes, %v; want %d", n, err, warm)
	}
	above := peak.Load() - base
	t.Logf("read %d MB in %d pages; live heap peak %.1f MiB above the baseline", n>>20, nrows/pageRows+1, float64(above)/(1<<20))
	// 4 pages of 64 KiB in flight, plus the transport's and the fake's
	// buffers: far below the 50 MB read.
	if above > 8<<20 {
		t.Errorf("live heap grew by %d bytes during a %d-byte read, want under 8 MiB", above, n)
	}
}
