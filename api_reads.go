package anaplan

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Large-volume reads of views and lists (readRequests): start a read
// request, poll it, fetch its pages 0…n-1 in order (while it is still
// running, as far as availablePages allows), and delete it.

// The export types of a view read (ReadOptions.ExportType).
const (
	ReadTabularMultiColumn  = "TABULAR_MULTI_COLUMN" // the default
	ReadTabularSingleColumn = "TABULAR_SINGLE_COLUMN"
	ReadGridAllPages        = "GRID_ALL_PAGES"
)

// Defaults of ReadOptions.
const (
	DefaultReadRestarts = 2         // requests started again after one ends unsuccessful or expires
	DefaultMaxPageBytes = 256 << 20 // the largest page accepted
	maxReadRestarts     = 100
)

// ErrReadNotDeleted is matched (errors.Is) by the error of a read that
// wrote everything but could not delete its read request afterwards. The
// data in the writer is complete; Anaplan reclaims the request after 30
// minutes without activity, and until then it takes space in the model.
var ErrReadNotDeleted = errors.New("anaplan: the read request could not be deleted")

// ReadOptions tune ReadView, ReadList and their row iterators. The zero
// value (or nil) is fine.
type ReadOptions struct {
	// ExportType is the layout of a view read: ReadTabularMultiColumn
	// (default), ReadTabularSingleColumn or ReadGridAllPages. Lists have
	// no export type: ReadList refuses one.
	ExportType string
	// Concurrency is the number of pages fetched at once, from 1 to
	// MaxConcurrency (default DefaultConcurrency). Pages are written in
	// order: the next one streams straight to w, the others wait in
	// buffers, so memory used is about Concurrency-1 pages (plus 64 KiB),
	// however large the result. With an http.Client of your own, keep at
	// least Concurrency idle connections a host (MaxIdleConnsPerHost;
	// http.DefaultTransport keeps 2), or connections are reopened.
	Concurrency int
	// PollInterval is the first wait between status requests while no
	// new page is available (default 1 s); it grows by half each time
	// nothing new comes, up to MaxPollInterval (default 10 s), and starts
	// again from PollInterval when a poll brings new pages.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Restarts is how many times a read is started again after its
	// request ends unsuccessful (COMPLETE with "successful": false) or is
	// reclaimed by Anaplan meanwhile (default DefaultReadRestarts;
	// negative: never). A restarted read fetches the pages again and
	// checks that they hold the bytes already written before writing
	// more; if the data changed in between, the read fails with an error
	// saying so, and w holds the first read's prefix.
	Restarts int
	// MaxPageBytes bounds one page (default DefaultMaxPageBytes); a larger
	// page fails the read rather than exhaust memory.
	MaxPageBytes int64
	// Progress, when set, is called after every status request and every
	// page written, from the goroutine that called the read. It must not
	// block for long.
	Progress func(ReadProgress)
}

// ReadProgress reports how far a large-volume read has come.
type ReadProgress struct {
	RequestID      string // the read request in use
	State          string // its requestState: NOT_STARTED, IN_PROGRESS, COMPLETE…
	AvailablePages int    // pages Anaplan has ready, as of the last status
	TotalPages     int    // -1 until the request is COMPLETE
	Pages          int    // pages of this request written (or checked, after a restart)
	Bytes          int64  // bytes written to w so far
	Restarts       int    // times the read was started again
}

func (o *ReadOptions) resolved() (ReadOptions, error) {
	var v ReadOptions
	if o != nil {
		v = *o
	}
	c, err := concurrency("ReadOptions", v.Concurrency)
	if err != nil {
		return v, err
	}
	v.Concurrency = c
	if v.PollInterval <= 0 {
		v.PollInterval = time.Second
	}
	if v.MaxPollInterval <= 0 {
		v.MaxPollInterval = 10 * time.Second
	}
	v.MaxPollInterval = max(v.MaxPollInterval, v.PollInterval)
	switch {
	case v.Restarts == 0:
		v.Restarts = DefaultReadRestarts
	case v.Restarts < 0:
		v.Restarts = 0
	case v.Restarts > maxReadRestarts:
		return v, errorf("anaplan: ReadOptions.Restarts %d is out of range: use at most %d, 0 for the default (%d), or a negative value for none", v.Restarts, maxReadRestarts, DefaultReadRestarts)
	}
	switch {
	case v.MaxPageBytes == 0:
		v.MaxPageBytes = DefaultMaxPageBytes
	case v.MaxPageBytes < 0:
		return v, errorf("anaplan: ReadOptions.MaxPageBytes %d is negative: use 0 for the default (%d MiB)", v.MaxPageBytes, DefaultMaxPageBytes>>20)
	}
	return v, nil
}

// readTarget is what a read reads: a view or a list.
type readTarget struct {
	what string // "view 102000000001" or "list 101000000001", for messages
	url  string // …/views/{v}/readRequests or …/lists/{l}/readRequests
	body []byte // the start request's body; nil for lists
}

// ReadView reads the view viewID with a large-volume read request and
// writes it to w as one CSV document: the header once, then every row of
// every page in page order. It returns the number of bytes written.
//
// Pages are fetched while Anaplan is still producing the rest, Concurrency
// at a time, and written in order: the next page streams from the
// connection to w while the following ones wait in buffers, so memory
// stays bounded by Concurrency-1 pages however large the view. A page
// that repeats the header (some do) has it dropped; a body cut short is
// fetched again from where it stopped. A request that ends unsuccessful is
// started again (see ReadOptions.Restarts). The request is deleted at the
// end, also after an error or a cancelled ctx; the error then wraps ctx's
// error, and w holds a prefix of the document.
func (m *ModelHandle) ReadView(ctx context.Context, viewID string, w io.Writer, opts *ReadOptions) (int64, error) {
	o, err := opts.resolved()
	if err != nil {
		return 0, err
	}
	et := o.ExportType
	if et == "" {
		et = ReadTabularMultiColumn
	}
	body, _ := json.Marshal(map[string]string{"exportType": et}) // a map of strings always encodes
	return m.read(ctx, readTarget{what: "view " + viewID, url: m.base + "/views/" + url.PathEscape(viewID) + "/readRequests", body: body}, w, o)
}

// ReadList reads the list listID with a large-volume read request and writes
// it to w as one CSV document (the header, whose first column is the item
// name, then Parent, Code, subsets and properties, then every item), as
// ReadView does for a view.
func (m *ModelHandle) ReadList(ctx context.Context, listID string, w io.Writer, opts *ReadOptions) (int64, error) {
	o, err := opts.resolved()
	if err != nil {
		return 0, err
	}
	if o.ExportType != "" {
		return 0, errorf("anaplan: ReadList: lists have no export type (ReadOptions.ExportType %q is for views): leave it empty", o.ExportType)
	}
	return m.read(ctx, readTarget{what: "list " + listID, url: m.base + "/lists/" + url.PathEscape(listID) + "/readRequests"}, w, o)
}

// ReadViewRows reads the view viewID as ReadView does and yields its CSV
// records, parsed with encoding/csv: the header first, then every row.
// Each record is a new slice. Iteration stops at the first error, yielded
// with a nil record. Breaking out of the loop stops the read and deletes
// the request before the loop statement ends.
func (m *ModelHandle) ReadViewRows(ctx context.Context, viewID string, opts *ReadOptions) iter.Seq2[[]string, error] {
	return readRecords(ctx, func(ctx context.Context, w io.Writer) error {
		_, err := m.ReadView(ctx, viewID, w, opts)
		return err
	})
}

// ReadListRows reads the list listID as ReadList does and yields its CSV
// records as ReadViewRows does.
func (m *ModelHandle) ReadListRows(ctx context.Context, listID string, opts *ReadOptions) iter.Seq2[[]string, error] {
	return readRecords(ctx, func(ctx context.Context, w io.Writer) error {
		_, err := m.ReadList(ctx, listID, w, opts)
		return err
	})
}

// readRecords runs read into a pipe and parses what comes out of it.
func readRecords(ctx context.Context, read func(context.Context, io.Writer) error) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(read(ctx, pw)) // nil: the reader sees io.EOF
		}()
		defer func() {
			cancel()
			_ = pr.Close() // unblocks a write under way
			<-done         // the request is deleted once read returns
		}()
		cr := csv.NewReader(&readBOMSkipper{r: pr})
		cr.FieldsPerRecord = -1 // GRID_ALL_PAGES mixes page lines with rows
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// readBOMSkipper drops a UTF-8 byte order mark at the start of a stream.
type readBOMSkipper struct {
	r    io.Reader
	done bool
	head []byte
}

func (b *readBOMSkipper) Read(p []byte) (int, error) {
	if !b.done {
		b.done = true
		head := make([]byte, 3)
		n, err := io.ReadFull(b.r, head)
		head = head[:n]
		if !bytes.HasPrefix(head, readBOM) {
			b.head = head
		}
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return 0, err
		}
	}
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	return b.r.Read(p)
}

var readBOM = []byte{0xEF, 0xBB, 0xBF}

// read runs a read to its end, starting it again when its request fails.
func (m *ModelHandle) read(ctx context.Context, t readTarget, w io.Writer, o ReadOptions) (int64, error) {
	if w == nil {
		return 0, errorf("anaplan: reading %s needs a writer for the CSV: pass io.Discard to fetch and drop it", t.what)
	}
	s := newReadSink(w, o.Restarts > 0)
	prog := ReadProgress{TotalPages: -1}
	for attempt := 0; ; attempt++ {
		err := m.readOnce(ctx, t, s, o, &prog)
		var rf *readFailure
		if errors.As(err, &rf) && attempt < o.Restarts && ctx.Err() == nil {
			s.restart()
			prog.Restarts++
			continue
		}
		switch {
		case err == nil:
			return s.n, nil
		case ctx.Err() != nil && !errors.Is(err, ErrReadNotDeleted):
			return s.n, errorf("anaplan: read of %s stopped after %d bytes: %w", t.what, s.n, context.Cause(ctx))
		case rf != nil && attempt > 0:
			return s.n, errorf("anaplan: reading %s failed %d times (the last time: %w); w holds the first %d bytes", t.what, attempt+1, err, s.n)
		case rf != nil:
			return s.n, fmt.Errorf("%w; w holds the first %d bytes: read again (ReadOptions.Restarts < 0 turned restarts off)", err, s.n)
		}
		return s.n, err
	}
}

// readFailure is a request that ended without its data: it ended
// unsuccessful, or Anaplan reclaimed it. Another request may succeed.
type readFailure struct {
	what, requestID string
	reason          string
	err             error // the answer that showed it, if any
}

func (e *readFailure) Error() string {
	msg := "anaplan: reading " + e.what + ": read request " + e.requestID + " " + e.reason
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *readFailure) Unwrap() error { return e.err }

// readStatus is a read request's answer: to the start, a poll or the delete.
type readStatus struct {
	RequestID      string `json:"requestId"`
	RequestState   string `json:"requestState"`
	AvailablePages int    `json:"availablePages"`
	Successful     bool   `json:"successful"`
}

// readAnswer holds a read request under whichever key Anaplan uses.
type readAnswer struct {
	View *readStatus `json:"viewReadRequest"`
	List *readStatus `json:"listReadRequest"`
	Any  *readStatus `json:"readRequest"`
}

func (a *readAnswer) status() *readStatus {
	switch {
	case a.View != nil:
		return a.View
	case a.List != nil:
		return a.List
	}
	return a.Any
}

// readOnce starts one read request, reads it to its end into s, and
// deletes it.
func (m *ModelHandle) readOnce(parent context.Context, t readTarget, s *readSink, o ReadOptions, prog *ReadProgress) (err error) {
	rid, state, err := m.startRead(parent, t)
	if err != nil {
		return err
	}
	reqURL := t.url + "/" + url.PathEscape(rid)
	defer func() {
		if derr := m.deleteRead(parent, reqURL); derr != nil && err == nil {
			err = fmt.Errorf("%w: read of %s complete (%d bytes), but DELETE of read request %s failed: %w", ErrReadNotDeleted, t.what, s.n, rid, derr)
		}
	}()
	*prog = ReadProgress{RequestID: rid, State: state, TotalPages: -1, Bytes: s.n, Restarts: prog.Restarts}
	// s is written by the page whose turn it is: its count is read only
	// between two pages' turns.
	report := func() {
		if o.Progress != nil {
			o.Progress(*prog)
		}
	}
	report()

	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	conc := o.Concurrency
	fetches := make([]*pageFetch, conc) // page n's fetch is fetches[n%conc]
	free := make(chan []byte, conc)     // page buffers to reuse
	pw := &pageWriter{s: s, limit: o.MaxPageBytes}
	next, written, avail, complete := 0, 0, 0, false
	interval := o.PollInterval
	timer := time.NewTimer(0) // the first poll is immediate
	defer timer.Stop()
	for {
		for next < avail && next-written < conc {
			pf := &pageFetch{n: next, turn: make(chan struct{}), done: make(chan error, 1)}
			select {
			case pf.buf = <-free:
			default:
			}
			if next == written {
				close(pf.turn) // the next page to write streams straight to w
			}
			fetches[next%conc] = pf
			wg.Go(func() {
				pf.done <- m.fetchPage(ctx, reqURL, pf, pw, o.MaxPageBytes)
				select {
				case free <- pf.buf[:0]:
				default:
				}
			})
			next++
		}
		if complete && written == avail {
			if s.replaying() {
				return errorf("anaplan: reading %s again after a failed request: the result is now shorter than the %d bytes already written, so the data changed in between; w holds the first read's prefix", t.what, s.n)
			}
			return nil
		}
		var head <-chan error
		if written < next {
			head = fetches[written%conc].done
		}
		var tick <-chan time.Time
		if !complete && next == avail {
			tick = timer.C // poll only when every available page is under way
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-head:
			var we *readWriteError
			switch {
			case err == nil:
			case errors.Is(err, errReadChanged):
				return errorf("anaplan: reading %s again after a failed request: page %d differs from what the first read wrote, so the data changed in between; w holds the first read's prefix (%d bytes)", t.what, written, s.n)
			case errors.As(err, &we):
				return errorf("anaplan: writing %s: %w", t.what, we.err)
			default:
				if ae := (*APIError)(nil); errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
					return &readFailure{what: t.what, requestID: rid, reason: "was gone when page " + strconv.Itoa(written) + " was fetched (Anaplan reclaims a request after 30 minutes without activity)", err: err}
				}
				return errorf("anaplan: reading %s: page %d of read request %s: %w", t.what, written, rid, err)
			}
			written++
			prog.Pages, prog.Bytes = written, s.n
			if written < next {
				close(fetches[written%conc].turn)
			}
			report()
		case <-tick:
			st, err := m.pollRead(ctx, reqURL)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if ae := (*APIError)(nil); errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
					return &readFailure{what: t.what, requestID: rid, reason: "was gone when polled (Anaplan reclaims a request after 30 minutes without activity)", err: err}
				}
				return errorf("anaplan: reading %s: status of read request %s: %w", t.what, rid, err)
			}
			if st.AvailablePages < avail || st.AvailablePages < 0 {
				return errorf("anaplan: reading %s: read request %s reports %d pages available after %d: the answer cannot be followed", t.what, rid, st.AvailablePages, avail)
			}
			if st.AvailablePages > avail {
				avail, interval = st.AvailablePages, o.PollInterval
			} else {
				interval = min(interval*3/2, o.MaxPollInterval)
			}
			prog.State, prog.AvailablePages = st.RequestState, avail
			switch st.RequestState {
			case "COMPLETE":
				if !st.Successful {
					report()
					return &readFailure{what: t.what, requestID: rid, reason: "ended unsuccessful (COMPLETE, successful: false)"}
				}
				complete, prog.TotalPages = true, avail
			case "CANCELLED", "CANCELLING":
				report()
				return errorf("anaplan: reading %s: read request %s was cancelled (%s) by someone else: start the read again", t.what, rid, st.RequestState)
			}
			timer.Reset(interval)
			report()
		}
	}
}

// startRead POSTs a read request and returns its ID and state.
func (m *ModelHandle) startRead(ctx context.Context, t readTarget) (string, string, error) {
	ctype := ""
	if t.body != nil {
		ctype = "application/json"
	}
	req, err := m.c.newRequest(ctx, http.MethodPost, t.url, t.body, ctype)
	if err != nil {
		return "", "", err
	}
	var a readAnswer
	if err := m.c.doJSON(req, &a, true); err != nil {
		return "", "", errorf("anaplan: starting the read of %s: %w", t.what, err)
	}
	st := a.status()
	if st == nil || st.RequestID == "" {
		return "", "", errorf("anaplan: starting the read of %s: the answer holds no requestId", t.what)
	}
	return st.RequestID, st.RequestState, nil
}

// pollRead GETs a read request's status.
func (m *ModelHandle) pollRead(ctx context.Context, reqURL string) (*readStatus, error) {
	var a readAnswer
	if err := m.c.getJSON(ctx, reqURL, &a, true); err != nil {
		return nil, err
	}
	st := a.status()
	if st == nil {
		return nil, errors.New("the answer holds no read request")
	}
	return st, nil
}

// deleteRead DELETEs a read request, on a context that outlives the
// caller's by up to cancelTimeout, so that a cancelled read still cleans
// up. A request already gone (404) is fine.
func (m *ModelHandle) deleteRead(parent context.Context, reqURL string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), cancelTimeout)
	defer cancel()
	req, err := m.c.newRequest(ctx, http.MethodDelete, reqURL, nil, "")
	if err != nil {
		return err
	}
	resp, err := m.c.send(req, true)
	if err != nil {
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
			return nil
		}
		return err
	}
	drain(resp.Body)
	return nil
}

// pageFetch is one page on its way: fetched at once, held in buf until
// its turn comes (turn closed: every earlier page is written), then
// written, the rest of it streaming straight from the connection to w.
type pageFetch struct {
	n      int
	turn   chan struct{}
	done   chan error // the fetch's end, once the page is written
	buf    []byte
	passed int64 // bytes of the page given to the pageWriter
}

// readWriteError is a failure of the caller's writer: never retried.
type readWriteError struct{ err error }

func (e *readWriteError) Error() string { return e.err.Error() }
func (e *readWriteError) Unwrap() error { return e.err }

// readStreamChunk is the size of the reads once a page streams to w.
const readStreamChunk = 64 << 10

// fetchPage GETs page pf.n and writes it through pw when its turn comes.
// A body cut short is fetched again, skipping what was already written:
// twice at most in a row without progress (a slow w that lets the
// transport's idle limit end the answer makes progress each time); status
// codes and network errors before an answer are the transport's to retry.
func (m *ModelHandle) fetchPage(ctx context.Context, reqURL string, pf *pageFetch, pw *pageWriter, limit int64) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		before := pf.passed
		req, err := m.c.newRequest(ctx, http.MethodGet, reqURL+"/pages/"+strconv.Itoa(pf.n), nil, "")
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/csv")
		resp, err := m.c.send(req, true)
		if err != nil {
			return err
		}
		err = pf.consume(ctx, resp, pw, limit)
		var we *readWriteError
		if err == nil || errors.As(err, &we) || errors.Is(err, errPageTooLarge) || errors.Is(err, errReadChanged) || ctx.Err() != nil {
			return err
		}
		lastErr = err
		if pf.passed > before {
			attempt = -1 // progress: the page ends in a bounded number of tries
		}
	}
	return fmt.Errorf("reading the page failed three times in a row: %w", lastErr)
}

var errPageTooLarge = errors.New("page too large")

func pageTooLarge(limit int64) error {
	return fmt.Errorf("%w: the page is larger than ReadOptions.MaxPageBytes (%d bytes): raise it", errPageTooLarge, limit)
}

// consume reads and closes one answer's body: into pf.buf until the
// page's turn, then through pw. The transport has already undone any gzip.
func (pf *pageFetch) consume(ctx context.Context, resp *http.Response, pw *pageWriter, limit int64) error {
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return pageTooLarge(limit)
	}
	body := io.Reader(resp.Body)
	if pf.passed > 0 { // a retry: what was written already is skipped
		if _, err := io.CopyN(io.Discard, body, pf.passed); err != nil {
			return err
		}
	}
	buf := pf.buf[:0]
	defer func() { pf.buf = buf[:0] }()
	streaming := false
	var total int64 = pf.passed
	for {
		if !streaming {
			select {
			case <-pf.turn:
				streaming = true
				if pf.passed == 0 {
					pw.begin()
				}
				if err := pf.pass(pw, buf); err != nil {
					return err
				}
				buf = buf[:0]
			default:
			}
		}
		if len(buf) == cap(buf) {
			// Grow: a streaming page only needs a chunk; a page of known
			// length gets room for the rest of it and an eighth more, so
			// that the buffer serves later pages of about the same size
			// without growing again; otherwise double.
			want := readStreamChunk
			switch {
			case streaming:
			case resp.ContentLength >= 0:
				rest := int(resp.ContentLength - total)
				want = rest + rest/8 + 1
			default:
				want = max(cap(buf), readStreamChunk)
			}
			nb := make([]byte, len(buf), len(buf)+want)
			copy(nb, buf)
			buf = nb
		}
		k, err := body.Read(buf[len(buf):cap(buf)])
		total += int64(k)
		if total > limit {
			return pageTooLarge(limit)
		}
		buf = buf[:len(buf)+k]
		if streaming && len(buf) > 0 {
			if werr := pf.pass(pw, buf); werr != nil {
				return werr
			}
			buf = buf[:0]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !streaming {
		select {
		case <-pf.turn:
		case <-ctx.Done():
			return ctx.Err()
		}
		if pf.passed == 0 {
			pw.begin()
		}
		if err := pf.pass(pw, buf); err != nil {
			return err
		}
	}
	return pw.end()
}

// pass gives b to the pageWriter and counts it.
func (pf *pageFetch) pass(pw *pageWriter, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	pf.passed += int64(len(b))
	return pw.write(b)
}

// pageWriter writes pages as one CSV document: a page that starts with
// the header of the first page has it dropped, and a page that does not
// end with a line end gets one before the next page's rows. Pages come in
// pieces, one page at a time (begin, write…, end), from one goroutine at a
// time.
type pageWriter struct {
	s      *readSink
	limit  int64
	header []byte // the first record of the first page with data, without BOM or line end
	known  bool

	// the page under way
	inFirst bool   // its first record is still being gathered
	first   []byte // what of it has come
	quoted  bool   // inside a quoted field of the first record

	wrote     bool // anything written so far
	last      byte // the last byte written
	pendingNL bool // the page before ended without a line end
}

func (p *pageWriter) begin() {
	p.inFirst, p.first, p.quoted = true, p.first[:0], false
	p.pendingNL = p.wrote && p.last != '\n'
}

func (p *pageWriter) write(b []byte) error {
	if p.inFirst {
		end := -1
		for i, c := range b {
			if c == '"' {
				p.quoted = !p.quoted
			} else if c == '\n' && !p.quoted {
				end = i + 1
				break
			}
		}
		if end < 0 {
			if int64(len(p.first)+len(b)) > p.limit {
				return pageTooLarge(p.limit)
			}
			p.first = append(p.first, b...)
			return nil
		}
		p.first = append(p.first, b[:end]...)
		b = b[end:]
		if err := p.firstRecord(); err != nil {
			return err
		}
	}
	return p.emit(b)
}

// end finishes a page.
func (p *pageWriter) end() error {
	if p.inFirst {
		return p.firstRecord()
	}
	return nil
}

// firstRecord decides about the first record of a page: the header the
// first time, dropped later when it repeats the header.
func (p *pageWriter) firstRecord() error {
	p.inFirst = false
	if len(p.first) == 0 {
		return nil
	}
	rec := trimRecordEnd(bytes.TrimPrefix(p.first, readBOM))
	if !p.known {
		p.header, p.known = bytes.Clone(rec), true
	} else if bytes.Equal(rec, p.header) {
		return nil
	}
	return p.emit(p.first)
}

func (p *pageWriter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if p.pendingNL {
		p.pendingNL = false
		if err := p.s.write([]byte{'\n'}); err != nil {
			return err
		}
	}
	p.wrote, p.last = true, b[len(b)-1]
	return p.s.write(b)
}

func trimRecordEnd(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// errReadChanged: a restarted read's data differs from what was written.
var errReadChanged = errors.New("the data changed between two read requests")

// readSink is the caller's writer, counting and (when restarts are
// possible) checksumming what it is given. After a restart, the first n
// bytes of the new request are compared with what was written (by length
// and CRC-32C, which the CPU computes at memory speed) instead of being
// written again.
type readSink struct {
	w      io.Writer
	n      int64
	verify bool
	h      hash.Hash32 // of the n bytes written

	replay int64       // bytes of the new request still to compare
	rh     hash.Hash32 // of the new request's bytes compared so far
	want   uint32
}

var readCRCTable = crc32.MakeTable(crc32.Castagnoli)

func newReadSink(w io.Writer, verify bool) *readSink {
	return &readSink{w: w, verify: verify, h: crc32.New(readCRCTable), rh: crc32.New(readCRCTable)}
}

// restart prepares for a new request whose data starts with what was
// written.
func (s *readSink) restart() {
	s.replay, s.want = s.n, s.h.Sum32()
	s.rh.Reset()
}

func (s *readSink) replaying() bool { return s.replay > 0 }

func (s *readSink) write(p []byte) error {
	if s.replay > 0 {
		k := min(int64(len(p)), s.replay)
		_, _ = s.rh.Write(p[:k])
		s.replay -= k
		p = p[k:]
		if s.replay == 0 && s.rh.Sum32() != s.want {
			return errReadChanged
		}
	}
	if len(p) == 0 {
		return nil
	}
	k, err := s.w.Write(p)
	s.n += int64(k)
	if s.verify {
		_, _ = s.h.Write(p[:k])
	}
	if err == nil && k < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return &readWriteError{err}
	}
	return nil
}
