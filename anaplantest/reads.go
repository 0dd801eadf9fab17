package anaplantest

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the large-volume reads of views and lists (readRequests):
// start, poll, pages, delete. The rows come from a ReadSource set per view
// or list with SetReadSource; ReadBehaviour says how requests run (page
// size, pages a poll, a repeated header, failures, gzip).

// Defaults of ReadBehaviour.
const (
	DefaultReadPageRows = 1000             // rows a page holds
	ReadRequestIdleTTL  = 30 * time.Minute // a read request left alone this long is reclaimed
)

// ReadSource produces the rows of a view or list for large-volume reads: it
// calls yield with each row in order, without the header, and stops early
// when yield returns false. yield copies what it needs, so the source may
// reuse its slice between rows.
//
// It is called once when a read request starts (the request then holds a
// snapshot, as Anaplan's does), or once for all requests with
// ReadBehaviour.KeepPages. It runs outside the fake's locks, so it may
// call the Server's methods (to read a fake model's cells, say). The fake
// writes the rows as they are: the source decides the layout an ExportType
// asks for.
type ReadSource func(yield func(row []string) bool)

// ReadBehaviour says how the read requests of a view or list run. The zero
// value is usable: pages of DefaultReadPageRows rows, one more page
// available with each status request, the header on page 0 only.
type ReadBehaviour struct {
	// PageRows is the number of rows a page holds (default
	// DefaultReadPageRows).
	PageRows int
	// PagesPerPoll is the number of pages that become available with each
	// status request (default 1), so that a client sees availablePages
	// grow while the request is IN_PROGRESS. Once every page is available
	// the request is COMPLETE.
	PagesPerPoll int
	// RepeatHeader starts every page with the header, not only page 0.
	RepeatHeader bool
	// FailNext makes the next FailNext requests end COMPLETE with
	// "successful": false, once FailAfterPages pages are available (or
	// every page, when the result has fewer).
	FailNext       int
	FailAfterPages int
	// Gzip sends pages gzipped (Content-Encoding: gzip) to clients that
	// accept it.
	Gzip bool
	// KeepPages reads the source once and serves the same pages to every
	// later request, until SetReadSource or SetReadBehaviour is called for
	// the object again: for benchmarks and large fixed data, where
	// encoding the rows for every request would cost more than serving
	// them.
	KeepPages bool
}

// ReadRequest is the fake's record of a read request, for assertions. See
// ReadRequests.
type ReadRequest struct {
	ID         string
	Kind       string // "views" or "lists"
	ObjectID   string // the view or list
	ExportType string // as sent; "" for lists
	State      string // NOT_STARTED, IN_PROGRESS, COMPLETE, CANCELLED
	Successful bool
	// AvailablePages is what the last status answer said; TotalPages is
	// the number of pages of the result.
	AvailablePages, TotalPages int
	Polls                      int // status requests answered
	PagesServed                int // page requests answered with a page
	PagesGzipped               int // of those, pages sent gzipped
	PagesServedInProgress      int // of those, pages served while the request was still IN_PROGRESS
	Deleted                    bool
	Expired                    bool // reclaimed after ReadRequestIdleTTL without activity
}

// readsState is the large-volume reads' state, with its own lock. Callers
// of the Integration API's lock (in.mu) never hold rs.mu while taking it.
type readsState struct {
	mu       sync.Mutex
	objects  map[readKey]*readObject
	requests map[string]*readReq
	seq      int
}

type readKey struct{ ws, model, object string }

type readObject struct {
	header []string
	src    ReadSource
	b      ReadBehaviour
	kept   *readPages // KeepPages: the pages made once
	gen    int        // changes with every SetReadSource and SetReadBehaviour
}

// readPages is a result encoded as CSV, page by page. It is never modified
// once made, so it can be written out without the lock.
type readPages struct {
	header []byte   // the header record, with its line end
	pages  [][]byte // the rows of each page, without the header
}

type readReq struct {
	ReadRequest
	key        readKey
	seq        int
	pages      *readPages
	b          ReadBehaviour
	fail       bool
	lastActive time.Time
}

// registerReads adds the readRequests routes of views and lists.
func (s *Server) registerReads(mux *http.ServeMux) {
	s.reads.objects = map[readKey]*readObject{}
	s.reads.requests = map[string]*readReq{}
	const m = "/2/0/workspaces/{workspaceID}/models/{modelID}"
	for _, kind := range []string{"views", "lists"} {
		base := m + "/" + kind + "/{objectID}/readRequests"
		mux.HandleFunc("POST "+base, s.authenticated(s.handleReadStart(kind)))
		mux.HandleFunc("GET "+base+"/{requestID}", s.authenticated(s.handleReadStatus(kind)))
		mux.HandleFunc("GET "+base+"/{requestID}/pages/{page}", s.authenticated(s.handleReadPage(kind)))
		mux.HandleFunc("DELETE "+base+"/{requestID}", s.authenticated(s.handleReadDelete(kind)))
	}
}

// ---- helpers for tests

// SetReadSource makes the view or list objectID of a model (created when
// absent, with its workspace) readable with readRequests: header is the
// CSV header, src produces the rows. A nil src removes the object. Requests
// already started keep what they read.
func (s *Server) SetReadSource(workspaceID, modelID, objectID string, header []string, src ReadSource) {
	in := s.integ()
	in.mu.Lock()
	in.modelLocked(workspaceID, modelID)
	in.mu.Unlock()
	rs := &s.reads
	rs.mu.Lock()
	defer rs.mu.Unlock()
	k := readKey{workspaceID, modelID, objectID}
	if src == nil {
		delete(rs.objects, k)
		return
	}
	o := rs.objects[k]
	if o == nil {
		o = &readObject{}
		rs.objects[k] = o
	}
	o.header, o.src, o.kept = slices.Clone(header), src, nil
	o.gen++
}

// SetReadBehaviour sets how read requests of the view or list objectID
// started from now on run. It reports whether SetReadSource made the object
// readable.
func (s *Server) SetReadBehaviour(workspaceID, modelID, objectID string, b ReadBehaviour) bool {
	rs := &s.reads
	rs.mu.Lock()
	defer rs.mu.Unlock()
	o := rs.objects[readKey{workspaceID, modelID, objectID}]
	if o == nil {
		return false
	}
	o.b, o.kept = b, nil
	o.gen++
	return true
}

// ReadRequests returns the read requests started in a model, oldest first,
// deleted and expired ones included.
func (s *Server) ReadRequests(workspaceID, modelID string) []ReadRequest {
	now := s.Now()
	rs := &s.reads
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*readReq
	for _, r := range rs.requests {
		if r.key.ws == workspaceID && r.key.model == modelID {
			rs.expireLocked(r, now)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *readReq) int { return a.seq - b.seq })
	recs := make([]ReadRequest, len(out))
	for i, r := range out {
		recs[i] = r.ReadRequest
	}
	return recs
}

// ---- handlers

// readModel checks that the request's model exists for its user; it
// answers 404 and returns false otherwise.
func (s *Server) readModel(w http.ResponseWriter, r *http.Request) bool {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.modelFor(w, r) != nil
}

// exportTypes are the exportType values a view read accepts: the
// documented ones, and TABULAR_SINGLE_ITEMS, which one source names in
// place of TABULAR_SINGLE_COLUMN.
var exportTypes = []string{"TABULAR_MULTI_COLUMN", "TABULAR_SINGLE_COLUMN", "TABULAR_SINGLE_ITEMS", "GRID_ALL_PAGES"}

func (s *Server) handleReadStart(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeAPIError(w, r, http.StatusBadRequest, "cannot read the request body")
			return
		}
		var v struct {
			ExportType string `json:"exportType"`
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &v); err != nil {
				writeAPIError(w, r, http.StatusBadRequest, "the body is not JSON: send {\"exportType\":\"TABULAR_MULTI_COLUMN\"} for a view, nothing or {} for a list")
				return
			}
		}
		if kind == "views" && !slices.Contains(exportTypes, v.ExportType) {
			writeAPIError(w, r, http.StatusBadRequest, "exportType must be one of "+strings.Join(exportTypes, ", "))
			return
		}
		if !s.readModel(w, r) {
			return
		}
		now := s.Now()
		k := readKey{r.PathValue("workspaceID"), r.PathValue("modelID"), r.PathValue("objectID")}
		rs := &s.reads
		rs.mu.Lock()
		o := rs.objects[k]
		if o == nil {
			// No source set: a view or list of the model's data (AddModelData),
			// rendered now as it stands.
			rs.mu.Unlock()
			header, rows, ok := s.modelDataRecords(kind, k, v.ExportType)
			if !ok {
				writeAPIError(w, r, http.StatusNotFound, "Not Found")
				return
			}
			s.SetReadSource(k.ws, k.model, k.object, header, func(yield func([]string) bool) {
				for _, row := range rows {
					if !yield(row) {
						return
					}
				}
			})
			rs.mu.Lock()
			if o = rs.objects[k]; o == nil {
				rs.mu.Unlock()
				writeAPIError(w, r, http.StatusNotFound, "Not Found")
				return
			}
		}
		b, gen := o.b, o.gen
		var pages *readPages
		if b.KeepPages {
			pages = o.kept
		}
		header, src := o.header, o.src
		fail := b.FailNext > 0
		if fail {
			o.b.FailNext--
		}
		rs.seq++
		req := &readReq{
			ReadRequest: ReadRequest{ID: strings.ToUpper(randomHex(16)), Kind: kind, ObjectID: k.object, ExportType: v.ExportType, State: "NOT_STARTED"},
			key:         k, seq: rs.seq, b: b, fail: fail, lastActive: now,
		}
		rs.requests[req.ID] = req
		rs.mu.Unlock()

		if pages == nil {
			// The snapshot is made outside the lock: a source may be slow,
			// or call the server.
			pages = encodePages(header, src, b.PageRows)
		}
		rs.mu.Lock()
		if b.KeepPages && o.gen == gen && o.kept == nil {
			o.kept = pages
		}
		req.pages = pages
		req.TotalPages = len(pages.pages)
		answer := s.readJSON(r, req, false)
		rs.mu.Unlock()
		writeAPI(w, http.StatusOK, answer)
	}
}

// encodePages reads src into pages of pageRows rows.
func encodePages(header []string, src ReadSource, pageRows int) *readPages {
	if pageRows <= 0 {
		pageRows = DefaultReadPageRows
	}
	p := &readPages{}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(header) // writing to a bytes.Buffer cannot fail
	cw.Flush()
	p.header = bytes.Clone(buf.Bytes())
	buf.Reset()
	rows := 0
	cut := func() {
		cw.Flush()
		p.pages = append(p.pages, bytes.Clone(buf.Bytes()))
		buf.Reset()
		rows = 0
	}
	if src != nil {
		src(func(row []string) bool {
			_ = cw.Write(row)
			if rows++; rows == pageRows {
				cut()
			}
			return true
		})
	}
	if rows > 0 || len(p.pages) == 0 {
		cut() // the last, partial page; an empty result is one page with the header
	}
	return p
}

// requestFor finds the read request of the path; it answers 404 and
// returns nil when there is none (or it expired). Callers hold rs.mu.
func (s *Server) requestFor(w http.ResponseWriter, r *http.Request, kind string, now time.Time) *readReq {
	rs := &s.reads
	req := rs.requests[r.PathValue("requestID")]
	k := readKey{r.PathValue("workspaceID"), r.PathValue("modelID"), r.PathValue("objectID")}
	if req == nil || req.Kind != kind || req.key != k || req.Deleted || rs.expireLocked(req, now) {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return nil
	}
	return req
}

// expireLocked reclaims a request left alone for ReadRequestIdleTTL and
// reports whether it is gone.
func (rs *readsState) expireLocked(req *readReq, now time.Time) bool {
	if req.Expired {
		return true
	}
	if req.Deleted || now.Sub(req.lastActive) <= ReadRequestIdleTTL {
		return false
	}
	req.Expired, req.pages = true, nil
	return true
}

// readJSON is a request's answer object, under its key (viewReadRequest or
// listReadRequest). Callers hold rs.mu.
func (s *Server) readJSON(r *http.Request, req *readReq, status bool) map[string]any {
	u := s.srv.URL + "/2/0/workspaces/" + req.key.ws + "/models/" + req.key.model + "/" + req.Kind + "/" + req.ObjectID + "/readRequests/" + req.ID
	o := map[string]any{"requestId": req.ID, "requestState": req.State, "url": u}
	key := "viewReadRequest"
	if req.Kind == "lists" {
		key = "listReadRequest"
	}
	if status {
		idKey := "viewId"
		if req.Kind == "lists" {
			idKey = "listId"
		}
		if n, err := strconv.ParseInt(req.ObjectID, 10, 64); err == nil {
			o[idKey] = n // Anaplan sends the ID as a number here
		} else {
			o[idKey] = req.ObjectID
		}
		o["availablePages"] = req.AvailablePages
		o["successful"] = req.Successful
	}
	return map[string]any{"meta": map[string]any{"schema": s.schema(key)}, key: o}
}

// lockRequest finds the read request of the path in the request's model
// (see readModel and requestFor) and returns it with rs.mu held, or nil
// once it has answered 404, and the server's time it was looked up at. The
// caller calls unlock either way.
func (s *Server) lockRequest(w http.ResponseWriter, r *http.Request, kind string) (req *readReq, now time.Time, unlock func()) {
	if !s.readModel(w, r) {
		return nil, time.Time{}, func() {}
	}
	now = s.Now()
	rs := &s.reads
	rs.mu.Lock()
	return s.requestFor(w, r, kind, now), now, rs.mu.Unlock
}

func (s *Server) handleReadStatus(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, _, unlock := s.lockRequest(w, r, kind)
		defer unlock()
		if req == nil {
			return
		}
		req.Polls++
		if req.State == "NOT_STARTED" || req.State == "IN_PROGRESS" {
			step := req.b.PagesPerPoll
			if step <= 0 {
				step = 1
			}
			total := req.TotalPages
			req.AvailablePages = min(req.AvailablePages+step, total)
			switch {
			case req.fail && req.AvailablePages >= min(req.b.FailAfterPages, total):
				req.State, req.Successful = "COMPLETE", false
			case req.AvailablePages == total:
				req.State, req.Successful = "COMPLETE", true
			default:
				req.State = "IN_PROGRESS"
			}
		}
		writeAPI(w, http.StatusOK, s.readJSON(r, req, true))
	}
}

func (s *Server) handleReadPage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !acceptsCSV(r.Header.Get("Accept")) {
			writeAPIError(w, r, http.StatusNotAcceptable, "pages are CSV: send Accept: text/csv")
			return
		}
		req, now, unlock := s.lockRequest(w, r, kind)
		if req == nil {
			unlock()
			return
		}
		n, err := strconv.Atoi(r.PathValue("page"))
		if err != nil || n < 0 || n >= req.AvailablePages {
			unlock()
			writeAPIError(w, r, http.StatusNotFound, "page "+r.PathValue("page")+" is not available")
			return
		}
		if n%100 == 0 {
			req.lastActive = now // as Anaplan: a page number divisible by 100 keeps the request alive
		}
		req.PagesServed++
		if req.State == "IN_PROGRESS" {
			req.PagesServedInProgress++
		}
		pages, repeat := req.pages, req.b.RepeatHeader
		gz := req.b.Gzip && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
		if gz {
			req.PagesGzipped++
		}
		unlock()

		var header []byte
		if n == 0 || repeat {
			header = pages.header
		}
		page := pages.pages[n]
		w.Header().Set("Content-Type", "text/csv")
		if gz {
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(http.StatusOK)
			zw := gzip.NewWriter(w)
			_, _ = zw.Write(header)
			_, _ = zw.Write(page)
			_ = zw.Close()
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(header)+len(page)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(header)
		_, _ = w.Write(page)
	}
}

// acceptsCSV reports whether an Accept header takes text/csv.
func acceptsCSV(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv", "text/*", "*/*":
			return true
		}
	}
	return false
}

func (s *Server) handleReadDelete(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, _, unlock := s.lockRequest(w, r, kind)
		defer unlock()
		if req == nil {
			return
		}
		if req.State != "COMPLETE" {
			req.State = "CANCELLED"
		}
		req.Deleted, req.pages = true, nil
		writeAPI(w, http.StatusOK, s.readJSON(r, req, true))
	}
}

// modelDataRecords renders a view or list of the model data (AddModelData)
// as a large-volume read has it: the header and the rows.
func (s *Server) modelDataRecords(kind string, k readKey, exportType string) (header []string, rows [][]string, ok bool) {
	collect := func(rec []string) bool {
		if header == nil {
			header = slices.Clone(rec)
		} else {
			rows = append(rows, slices.Clone(rec))
		}
		return true
	}
	var err error
	if kind == "views" {
		err = s.ViewRows(k.ws, k.model, k.object, exportType, collect)
	} else {
		err = s.ListRows(k.ws, k.model, k.object, collect)
	}
	return header, rows, err == nil && header != nil
}
