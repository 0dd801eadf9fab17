package anaplantest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the Integration API beyond /2/0/users/me: workspaces, models,
// files moved in chunks, imports, exports, processes and actions that run as
// tasks. Everything is held in memory.

// MaxPageSize is the largest page the Integration API serves (and the
// default; see SetMaxPageSize).
const MaxPageSize = 5000

// DefaultChunkSize is how AddFile and exports cut content into download
// chunks when File.ChunkSize is zero.
const DefaultChunkSize = 1 << 20

// maxChunkBytes bounds one request body (a chunk, or a whole file sent with
// PUT …/files/{fileID}), so that a runaway client cannot exhaust memory.
const maxChunkBytes = 1 << 30

// Workspace is a workspace of the fake tenant. See AddWorkspace.
type Workspace struct {
	ID            string
	Name          string
	SizeAllowance int64 // bytes; 0 means 1 GiB
	Inactive      bool
}

// Model is a model of the fake tenant. See AddModel.
type Model struct {
	ID    string
	Name  string
	State string // activeState: "" means UNLOCKED
	// Users, when not empty, are the only users (by login) who see the
	// model: for everyone else it is absent from lists and every request
	// about it answers 404, as Anaplan does for a model one cannot access.
	Users []string
}

// File is a file of a model: an import's data source or an export's output.
// See AddFile.
type File struct {
	ID   string
	Name string
	// Content is the file's data, cut into chunks of ChunkSize bytes
	// (DefaultChunkSize when zero) for download.
	Content   []byte
	ChunkSize int
}

// Import is an import action of a model. See AddImport.
type Import struct {
	ID     string
	Name   string
	FileID string // importDataSourceId: the file it reads
	Type   string // importType: "" means MODULE_DATA
	Task   TaskBehaviour
}

// Export is an export action of a model. When one of its tasks completes,
// the file with the export's ID (created when absent, named after the
// export) holds Content, as in Anaplan. See AddExport.
type Export struct {
	ID      string
	Name    string
	Format  string // exportFormat: "" means text/csv
	Content []byte
	Task    TaskBehaviour
}

// Process is a process of a model: it runs Actions (IDs of the model's
// imports, exports and actions) and reports one nested result for each,
// built from their TaskBehaviour. See AddProcess.
type Process struct {
	ID      string
	Name    string
	Actions []string
	Task    TaskBehaviour
}

// Action is any other action of a model (delete, optimizer…). See AddAction.
type Action struct {
	ID   string
	Name string
	Type string // actionType: "" means DELETE_BY_SELECTION
	Task TaskBehaviour
}

// TaskBehaviour says how the tasks of an action run.
type TaskBehaviour struct {
	// Polls is how many status requests answer IN_PROGRESS before the task
	// completes; 0 completes on the first. A negative value never
	// completes: such a task ends only when cancelled.
	Polls int
	// Fail makes the task complete with "successful": false.
	Fail bool
	// Dump, when not nil, is the failure dump the task offers
	// (failureDumpAvailable: true) at …/tasks/{taskID}/dump, or for a
	// process's nested result at …/tasks/{taskID}/dumps/{objectID}.
	Dump []byte
	// Message is the result's detail text; empty gives a plausible one.
	Message string
}

// Task is the fake's record of a task, for assertions. See Tasks.
type Task struct {
	ID       string
	Kind     string // "imports", "exports", "processes" or "actions"
	ActionID string
	Locale   string // the localeName it was started with
	State    string // NOT_STARTED, IN_PROGRESS, COMPLETE, CANCELLING, CANCELLED
	Polls    int    // status requests answered so far
}

// integration is the Integration API's state, with its own lock.
type integration struct {
	mu         sync.Mutex
	maxPage    int
	bareTaskID bool
	workspaces []*wsState
	tasks      map[string]*taskState
	nextTask   int
}

type wsState struct {
	Workspace
	models []*modelState
}

type modelState struct {
	Model
	ws        *wsState
	files     []*fileState
	fileIndex map[string]*fileState // files by ID
	imports   []*Import
	exports   []*Export
	processes []*Process
	actions   []*Action
}

type fileState struct {
	id, name string
	chunks   [][]byte // committed content, as downloaded
	upload   *uploadState
	// stored is set when chunks are buffers of the chunk pool (uploaded
	// content), so that they go back to it once replaced and unread.
	stored *storedChunks
}

// storedChunks is uploaded content held in buffers of the chunk pool. It
// is counted while GETs write it out (unlocked), and its buffers go back to
// the pool only once it is replaced and no GET writes it any more: a buffer
// is never reused while a response is written from it. Guarded by the
// integration's mutex.
type storedChunks struct {
	bufs    [][]byte
	readers int
	retired bool
}

// retire marks content replaced, and recycles it when nobody reads it.
func (sc *storedChunks) retire() {
	if sc == nil {
		return
	}
	sc.retired = true
	sc.recycle()
}

func (sc *storedChunks) recycle() {
	if !sc.retired || sc.readers > 0 {
		return
	}
	for _, b := range sc.bufs {
		putChunkBuf(b)
	}
	sc.bufs = nil
}

// The chunk pool: buffers of uploaded chunks, by exact size, recycled from
// content that was replaced, so that a file uploaded again and again (as
// benchmarks do) is stored without a new allocation per chunk request. A
// sync.Pool per size lets the garbage collector empty it; at most
// maxPoolSizes sizes are pooled.
const maxPoolSizes = 64

var chunkPool struct {
	mu    sync.Mutex
	sizes map[int]*sync.Pool
}

func chunkPoolOf(n int, create bool) *sync.Pool {
	chunkPool.mu.Lock()
	defer chunkPool.mu.Unlock()
	p := chunkPool.sizes[n]
	if p == nil && create && len(chunkPool.sizes) < maxPoolSizes {
		if chunkPool.sizes == nil {
			chunkPool.sizes = map[int]*sync.Pool{}
		}
		p = new(sync.Pool)
		chunkPool.sizes[n] = p
	}
	return p
}

// getChunkBuf returns a buffer of n bytes (not zeroed when recycled).
func getChunkBuf(n int) []byte {
	if n >= 64<<10 {
		if p := chunkPoolOf(n, false); p != nil {
			if b, ok := p.Get().(*[]byte); ok {
				return (*b)[:n]
			}
		}
	}
	return make([]byte, n)
}

func putChunkBuf(b []byte) {
	if cap(b) < 64<<10 || len(b) != cap(b) {
		return
	}
	if p := chunkPoolOf(cap(b), true); p != nil {
		p.Put(&b)
	}
}

type uploadState struct {
	declared int // chunkCount announced; -1 when unknown
	chunks   map[int][]byte
}

type taskState struct {
	Task
	seq       int // start order
	ws, model string
	created   time.Time
	result    map[string]any // set on completion

	// What the action was when the task started: a later SetTaskBehaviour
	// (or AddProcess) changes tasks started after it only.
	behaviour TaskBehaviour
	nested    []nestedRun // a process's actions
}

// nestedRun is one action of a process, as it was when the process's task
// started.
type nestedRun struct {
	kind, id  string
	behaviour TaskBehaviour
}

// cloneBehaviour copies b, its dump included, so that the caller's later
// changes to the slice do not reach a task.
func cloneBehaviour(b TaskBehaviour) TaskBehaviour {
	if b.Dump != nil {
		b.Dump = bytes.Clone(b.Dump)
	}
	return b
}

// registerIntegration adds the Integration API routes beyond /2/0/users/me.
func (s *Server) registerIntegration(mux *http.ServeMux) {
	s.integration = &integration{maxPage: MaxPageSize, tasks: map[string]*taskState{}}

	const m = "/2/0/workspaces/{workspaceID}/models/{modelID}"
	routes := map[string]http.HandlerFunc{
		"GET /2/0/workspaces":                      s.handleWorkspaces,
		"GET /2/0/workspaces/{workspaceID}":        s.handleWorkspace,
		"GET /2/0/models":                          s.handleModels,
		"GET /2/0/models/{modelID}":                s.handleModel,
		"GET /2/0/workspaces/{workspaceID}/models": s.handleModels,
		"GET " + m:                                                            s.handleModel,
		"GET " + m + "/files":                                                 s.handleList("files"),
		"POST " + m + "/files/{fileID}":                                       s.handleUploadStart,
		"PUT " + m + "/files/{fileID}":                                        s.handleUploadWhole,
		"PUT " + m + "/files/{fileID}/chunks/{chunkID}":                       s.handleChunkPut,
		"POST " + m + "/files/{fileID}/complete":                              s.handleUploadComplete,
		"GET " + m + "/files/{fileID}/chunks":                                 s.handleChunkList,
		"GET " + m + "/files/{fileID}/chunks/{chunkID}":                       s.handleChunkGet,
		"GET " + m + "/processes/{processID}/tasks/{taskID}/dumps/{objectID}": s.handleDump("processes"),
	}
	for _, kind := range []string{"imports", "exports", "processes", "actions"} {
		base := m + "/" + kind
		task := base + "/{" + idParam(kind) + "}/tasks"
		routes["GET "+base] = s.handleList(kind)
		routes["POST "+task] = s.handleTaskStart(kind)
		routes["GET "+task] = s.handleTaskList(kind)
		routes["GET "+task+"/{taskID}"] = s.handleTaskGet(kind)
		routes["DELETE "+task+"/{taskID}"] = s.handleTaskCancel(kind)
		routes["GET "+task+"/{taskID}/dump"] = s.handleDump(kind)
	}
	for pattern, h := range routes {
		mux.HandleFunc(pattern, s.authenticated(h))
	}
}

// integ returns the server's Integration API state.
func (s *Server) integ() *integration { return s.integration }

// ---- helpers for tests

// SetMaxPageSize sets the largest page the list endpoints serve (default and
// upper bound MaxPageSize), so that tests see paging with a few items.
func (s *Server) SetMaxPageSize(n int) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.maxPage = min(max(n, 1), MaxPageSize)
}

// SetBareTaskAnswers makes starting a task answer {"taskId":…} instead of
// {"task":{"taskId":…}}: Anaplan's examples show both.
func (s *Server) SetBareTaskAnswers(bare bool) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.bareTaskID = bare
}

// AddWorkspace adds a workspace, or replaces the name and settings of one
// with the same ID (its models stay).
func (s *Server) AddWorkspace(w Workspace) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.workspaceLocked(w.ID).Workspace = w
}

// AddModel adds a model to a workspace (created when absent), or replaces
// the name and settings of one with the same ID (its files and actions stay).
func (s *Server) AddModel(workspaceID string, m Model) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	m.Users = slices.Clone(m.Users)
	in.modelLocked(workspaceID, m.ID).Model = m
}

// AddFile adds a file to a model (created when absent, with its workspace),
// or replaces one with the same ID. Content is copied.
func (s *Server) AddFile(workspaceID, modelID string, f File) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	fs := in.fileLocked(in.modelLocked(workspaceID, modelID), f.ID, f.Name)
	fs.name = f.Name
	fs.stored.retire()
	fs.chunks, fs.stored = cutChunks(bytes.Clone(f.Content), f.ChunkSize), nil
	fs.upload = nil
}

// FileContent returns a copy of a file's content as last completed (by an
// upload, an export or AddFile), and whether the file exists.
func (s *Server) FileContent(workspaceID, modelID, fileID string) ([]byte, bool) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.findModelLocked(workspaceID, modelID)
	if m == nil {
		return nil, false
	}
	f := m.file(fileID)
	if f == nil {
		return nil, false
	}
	return bytes.Join(f.chunks, nil), true
}

// FileChunks returns how many chunks a file's content is held in (as the
// last upload sent them), or -1 when there is no such file.
func (s *Server) FileChunks(workspaceID, modelID, fileID string) int {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	if m := in.findModelLocked(workspaceID, modelID); m != nil {
		if f := m.file(fileID); f != nil {
			return len(f.chunks)
		}
	}
	return -1
}

// AddImport adds an import to a model (created when absent), or replaces one
// with the same ID.
func (s *Server) AddImport(workspaceID, modelID string, i Import) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.modelLocked(workspaceID, modelID)
	m.imports = upsert(m.imports, &i, func(x *Import) string { return x.ID })
}

// AddExport adds an export to a model (created when absent), or replaces one
// with the same ID. Content is copied.
func (s *Server) AddExport(workspaceID, modelID string, e Export) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	e.Content = bytes.Clone(e.Content)
	m := in.modelLocked(workspaceID, modelID)
	m.exports = upsert(m.exports, &e, func(x *Export) string { return x.ID })
}

// AddProcess adds a process to a model (created when absent), or replaces
// one with the same ID.
func (s *Server) AddProcess(workspaceID, modelID string, p Process) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	p.Actions = slices.Clone(p.Actions)
	m := in.modelLocked(workspaceID, modelID)
	m.processes = upsert(m.processes, &p, func(x *Process) string { return x.ID })
}

// AddAction adds an action to a model (created when absent), or replaces one
// with the same ID.
func (s *Server) AddAction(workspaceID, modelID string, a Action) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.modelLocked(workspaceID, modelID)
	m.actions = upsert(m.actions, &a, func(x *Action) string { return x.ID })
}

// SetTaskBehaviour changes how tasks started from now on run for the import,
// export, process or action actionID of a model; a task already started
// keeps the behaviour (and, for a process, the actions and their behaviours)
// it started with. It reports whether such an action exists.
func (s *Server) SetTaskBehaviour(workspaceID, modelID, actionID string, b TaskBehaviour) bool {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.findModelLocked(workspaceID, modelID)
	if m == nil {
		return false
	}
	if p := m.behaviour(actionID); p != nil {
		*p = b
		return true
	}
	return false
}

// Tasks returns the tasks started in a model, oldest first.
func (s *Server) Tasks(workspaceID, modelID string) []Task {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	var ts []*taskState
	for _, t := range in.tasks {
		if t.ws == workspaceID && t.model == modelID {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b *taskState) int { return a.seq - b.seq })
	out := make([]Task, len(ts))
	for i, t := range ts {
		out[i] = t.Task
	}
	return out
}

// ---- state lookups (callers hold in.mu)

func (in *integration) workspaceLocked(id string) *wsState {
	for _, w := range in.workspaces {
		if w.ID == id {
			return w
		}
	}
	w := &wsState{Workspace: Workspace{ID: id, Name: id}}
	in.workspaces = append(in.workspaces, w)
	return w
}

func (in *integration) modelLocked(wsID, id string) *modelState {
	w := in.workspaceLocked(wsID)
	for _, m := range w.models {
		if m.ID == id {
			return m
		}
	}
	m := &modelState{Model: Model{ID: id, Name: id}, ws: w}
	w.models = append(w.models, m)
	return m
}

func (in *integration) fileLocked(m *modelState, id, name string) *fileState {
	if f := m.file(id); f != nil {
		return f
	}
	f := &fileState{id: id, name: name}
	m.files = append(m.files, f)
	if m.fileIndex == nil {
		m.fileIndex = map[string]*fileState{}
	}
	m.fileIndex[id] = f
	return f
}

func (in *integration) findModelLocked(wsID, id string) *modelState {
	for _, w := range in.workspaces {
		if w.ID != wsID {
			continue
		}
		for _, m := range w.models {
			if m.ID == id {
				return m
			}
		}
	}
	return nil
}

func (m *modelState) visibleTo(u *user) bool {
	return len(m.Users) == 0 || (u != nil && slices.Contains(m.Users, u.name))
}

func (m *modelState) file(id string) *fileState {
	return m.fileIndex[id]
}

// behaviour returns the TaskBehaviour of any action of the model.
func (m *modelState) behaviour(id string) *TaskBehaviour {
	for _, x := range m.imports {
		if x.ID == id {
			return &x.Task
		}
	}
	for _, x := range m.exports {
		if x.ID == id {
			return &x.Task
		}
	}
	for _, x := range m.processes {
		if x.ID == id {
			return &x.Task
		}
	}
	for _, x := range m.actions {
		if x.ID == id {
			return &x.Task
		}
	}
	return nil
}

// action finds the action id of one kind, and its behaviour.
func (m *modelState) action(kind, id string) (*TaskBehaviour, bool) {
	find := func(n int, get func(int) (string, *TaskBehaviour)) (*TaskBehaviour, bool) {
		for i := range n {
			if xid, b := get(i); xid == id {
				return b, true
			}
		}
		return nil, false
	}
	switch kind {
	case "imports":
		return find(len(m.imports), func(i int) (string, *TaskBehaviour) { return m.imports[i].ID, &m.imports[i].Task })
	case "exports":
		return find(len(m.exports), func(i int) (string, *TaskBehaviour) { return m.exports[i].ID, &m.exports[i].Task })
	case "processes":
		return find(len(m.processes), func(i int) (string, *TaskBehaviour) { return m.processes[i].ID, &m.processes[i].Task })
	case "actions":
		return find(len(m.actions), func(i int) (string, *TaskBehaviour) { return m.actions[i].ID, &m.actions[i].Task })
	}
	return nil, false
}

func upsert[T any](list []*T, v *T, id func(*T) string) []*T {
	for i, x := range list {
		if id(x) == id(v) {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

// cutChunks splits b into chunks of size n (DefaultChunkSize when n <= 0) without
// copying. Empty content is one empty chunk, as Anaplan keeps it.
func cutChunks(b []byte, n int) [][]byte {
	if n <= 0 {
		n = DefaultChunkSize
	}
	if len(b) == 0 {
		return [][]byte{{}}
	}
	out := make([][]byte, 0, (len(b)+n-1)/n)
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k:k])
		b = b[k:]
	}
	return out
}

// ---- handlers

// modelFor finds the model of the request's path for its user, or answers
// 404 and returns nil. Callers hold in.mu.
func (in *integration) modelFor(w http.ResponseWriter, r *http.Request) *modelState {
	wsID, id := r.PathValue("workspaceID"), r.PathValue("modelID")
	var m *modelState
	if wsID == "" {
		for _, ws := range in.workspaces {
			for _, x := range ws.models {
				if x.ID == id {
					m = x
				}
			}
		}
	} else {
		m = in.findModelLocked(wsID, id)
	}
	if m == nil || !m.visibleTo(userFrom(r.Context())) {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return nil
	}
	return m
}

// page answers one page of a list as {"meta":{"paging":…},"<key>":[…]}.
// Like Anaplan, it leaves the key out when the page is empty.
func (in *integration) page(w http.ResponseWriter, r *http.Request, key string, items []map[string]any) {
	in.pageOf(w, r, key, len(items), func(i int) map[string]any { return items[i] })
}

// pageOf is page for a list of total items of which only those of the page
// asked for are built (item(i) for each), so that serving a page costs
// O(page), not O(list).
func (in *integration) pageOf(w http.ResponseWriter, r *http.Request, key string, total int, item func(i int) map[string]any) {
	q := r.URL.Query()
	limit, offset := in.maxPage, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeAPIError(w, r, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, in.maxPage)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeAPIError(w, r, http.StatusBadRequest, "offset must be a non-negative integer")
			return
		}
		offset = n
	}
	lo := min(offset, total)
	hi := min(lo+limit, total)
	pg := make([]map[string]any, 0, hi-lo)
	for i := lo; i < hi; i++ {
		pg = append(pg, item(i))
	}
	paging := map[string]any{"currentPageSize": len(pg), "offset": offset, "totalSize": total}
	link := func(off int) string {
		u := *r.URL
		v := u.Query()
		v.Set("limit", strconv.Itoa(limit))
		v.Set("offset", strconv.Itoa(off))
		u.RawQuery = v.Encode()
		return u.RequestURI()
	}
	if hi < total {
		paging["next"] = link(hi)
	}
	if lo > 0 {
		paging["previous"] = link(max(lo-limit, 0))
	}
	body := map[string]any{"meta": map[string]any{"paging": paging}}
	if len(pg) > 0 {
		body[key] = pg
	}
	writeAPI(w, http.StatusOK, body)
}

func workspaceJSON(w *wsState) map[string]any {
	size := w.SizeAllowance
	if size == 0 {
		size = 1 << 30
	}
	var used int64
	for _, m := range w.models {
		for _, f := range m.files {
			for _, c := range f.chunks {
				used += int64(len(c))
			}
		}
	}
	return map[string]any{"id": w.ID, "name": w.Name, "active": !w.Inactive, "sizeAllowance": size, "currentSize": used}
}

func (s *Server) modelJSON(m *modelState) map[string]any {
	state := m.State
	if state == "" {
		state = "UNLOCKED"
	}
	return map[string]any{
		"id": m.ID, "name": m.Name, "activeState": state,
		"currentWorkspaceId": m.ws.ID, "currentWorkspaceName": m.ws.Name,
		"modelUrl": s.srv.URL + "/models/" + m.ID,
	}
}

func (s *Server) handleWorkspaces(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.pageOf(w, r, "workspaces", len(in.workspaces), func(i int) map[string]any { return workspaceJSON(in.workspaces[i]) })
}

func (s *Server) handleWorkspace(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, ws := range in.workspaces {
		if ws.ID == r.PathValue("workspaceID") {
			writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("workspace")}, "workspace": workspaceJSON(ws)})
			return
		}
	}
	writeAPIError(w, r, http.StatusNotFound, "Not Found")
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	u := userFrom(r.Context())
	wsID := r.PathValue("workspaceID")
	found := wsID == ""
	var models []*modelState
	for _, ws := range in.workspaces {
		if wsID != "" && ws.ID != wsID {
			continue
		}
		found = true
		for _, m := range ws.models {
			if m.visibleTo(u) {
				models = append(models, m)
			}
		}
	}
	if !found {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	in.pageOf(w, r, "models", len(models), func(i int) map[string]any { return s.modelJSON(models[i]) })
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	if m := in.modelFor(w, r); m != nil {
		writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("model")}, "model": s.modelJSON(m)})
	}
}

func fileJSON(f *fileState) map[string]any {
	return map[string]any{
		"id": f.id, "name": f.name, "chunkCount": len(f.chunks),
		"delimiter": `"`, "encoding": "UTF-8", "firstDataRow": 2, "format": "txt", "headerRow": 1, "separator": ",",
	}
}

func (s *Server) handleList(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		m := in.modelFor(w, r)
		if m == nil {
			return
		}
		var total int
		var item func(i int) map[string]any
		switch kind {
		case "files":
			total, item = len(m.files), func(i int) map[string]any { return fileJSON(m.files[i]) }
		case "imports":
			total, item = len(m.imports), func(i int) map[string]any {
				x := m.imports[i]
				return map[string]any{"id": x.ID, "name": x.Name, "importDataSourceId": x.FileID, "importType": orDefault(x.Type, "MODULE_DATA")}
			}
		case "exports":
			total, item = len(m.exports), func(i int) map[string]any {
				x := m.exports[i]
				return map[string]any{"id": x.ID, "name": x.Name, "exportFormat": orDefault(x.Format, "text/csv"), "exportType": "GRID_CURRENT_PAGE", "encoding": "UTF-8", "layout": "GRID_CURRENT_PAGE"}
			}
		case "processes":
			total, item = len(m.processes), func(i int) map[string]any {
				x := m.processes[i]
				return map[string]any{"id": x.ID, "name": x.Name}
			}
		case "actions":
			total, item = len(m.actions), func(i int) map[string]any {
				x := m.actions[i]
				return map[string]any{"id": x.ID, "name": x.Name, "actionType": orDefault(x.Type, "DELETE_BY_SELECTION")}
			}
		}
		in.pageOf(w, r, kind, total, item)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fileFor finds the model and file of the request, or answers 404. Callers
// hold in.mu.
func (in *integration) fileFor(w http.ResponseWriter, r *http.Request) *fileState {
	m := in.modelFor(w, r)
	if m == nil {
		return nil
	}
	f := m.file(r.PathValue("fileID"))
	if f == nil {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
	}
	return f
}

func (s *Server) handleUploadStart(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChunkCount *int `json:"chunkCount"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.ChunkCount == nil || *body.ChunkCount < -1 {
		writeAPIError(w, r, http.StatusBadRequest, `send {"chunkCount":N} with the number of chunks, or -1 when it is not known yet`)
		return
	}
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fileFor(w, r)
	if f == nil {
		return
	}
	f.upload = &uploadState{declared: *body.ChunkCount, chunks: map[int][]byte{}}
	writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("file")}, "file": fileJSON(f)})
}

// readChunk reads a request body into exactly one allocation when its length
// is announced, gunzipping it when sent as application/x-gzip.
func readChunk(r *http.Request) ([]byte, error) {
	var b []byte
	if n := r.ContentLength; n >= 0 {
		if n > maxChunkBytes {
			return nil, fmt.Errorf("a chunk may hold at most %d bytes", maxChunkBytes)
		}
		b = getChunkBuf(int(n))
		if _, err := io.ReadFull(r.Body, b); err != nil {
			putChunkBuf(b)
			return nil, errors.New("the body ended before its Content-Length")
		}
	} else {
		var err error
		b, err = io.ReadAll(io.LimitReader(r.Body, maxChunkBytes+1))
		if err != nil {
			return nil, errors.New("the body could not be read")
		}
		if len(b) > maxChunkBytes {
			return nil, fmt.Errorf("a chunk may hold at most %d bytes", maxChunkBytes)
		}
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	switch ct {
	case "application/octet-stream", "":
		return b, nil
	case "application/x-gzip", "application/gzip":
		defer putChunkBuf(b) // only the decompressed data is kept
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, errors.New("the body is not gzip data although Content-Type says application/x-gzip")
		}
		var out bytes.Buffer
		if _, err := io.Copy(&out, io.LimitReader(zr, maxChunkBytes+1)); err != nil || zr.Close() != nil {
			return nil, errors.New("the gzip data is corrupt")
		}
		if out.Len() > maxChunkBytes {
			return nil, fmt.Errorf("a chunk may hold at most %d bytes", maxChunkBytes)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("Content-Type %q is not accepted: send application/octet-stream or application/x-gzip", ct)
}

func (s *Server) handleChunkPut(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("chunkID"))
	if err != nil || n < 0 {
		writeAPIError(w, r, http.StatusBadRequest, "chunk IDs are 0, 1, 2…")
		return
	}
	data, err := readChunk(r)
	if err != nil {
		writeAPIError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fileFor(w, r)
	if f == nil {
		return
	}
	up := f.upload
	switch {
	case up == nil:
		writeAPIError(w, r, http.StatusBadRequest, `no upload in progress: start one with POST …/files/{fileID} {"chunkCount":N}`)
		return
	case up.declared >= 0 && n >= up.declared:
		writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("chunk %d is beyond the %d chunks announced", n, up.declared))
		return
	}
	up.chunks[n] = data
	if up.declared > 0 && len(up.chunks) == up.declared {
		f.commit()
	}
	w.WriteHeader(http.StatusNoContent)
}

// commit makes the upload's chunks the file's content. The caller has
// checked that they are complete.
func (f *fileState) commit() {
	up := f.upload
	chunks := make([][]byte, len(up.chunks))
	for i := range chunks {
		chunks[i] = up.chunks[i]
	}
	if len(chunks) == 0 {
		chunks = [][]byte{{}}
	}
	f.store(chunks)
	f.upload = nil
}

// store makes uploaded chunks the file's content; the content it replaces
// goes back to the chunk pool once nobody reads it.
func (f *fileState) store(chunks [][]byte) {
	f.stored.retire()
	f.chunks, f.stored = chunks, &storedChunks{bufs: chunks}
}

func (s *Server) handleUploadComplete(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID         string `json:"id"`
		ChunkCount *int   `json:"chunkCount"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeAPIError(w, r, http.StatusBadRequest, `send the file's metadata as JSON, at least {"id":"<fileID>"}`)
		return
	}
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fileFor(w, r)
	if f == nil {
		return
	}
	if body.ID != "" && body.ID != f.id {
		writeAPIError(w, r, http.StatusBadRequest, "the id in the body is not the file's")
		return
	}
	up := f.upload
	if up == nil {
		writeAPIError(w, r, http.StatusBadRequest, `no upload in progress: start one with POST …/files/{fileID} {"chunkCount":-1}`)
		return
	}
	for i := range len(up.chunks) {
		if _, ok := up.chunks[i]; !ok {
			writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("chunk %d is missing: chunks must be numbered from 0 without gaps", i))
			return
		}
	}
	if body.ChunkCount != nil && *body.ChunkCount != len(up.chunks) {
		writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("chunkCount says %d but %d chunks were uploaded", *body.ChunkCount, len(up.chunks)))
		return
	}
	f.commit()
	writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("file")}, "file": fileJSON(f)})
}

// handleUploadWhole serves PUT …/files/{fileID}: the whole file in one body.
func (s *Server) handleUploadWhole(w http.ResponseWriter, r *http.Request) {
	data, err := readChunk(r)
	if err != nil {
		writeAPIError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fileFor(w, r)
	if f == nil {
		return
	}
	f.store([][]byte{data})
	f.upload = nil
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleChunkList(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fileFor(w, r)
	if f == nil {
		return
	}
	chunks := make([]map[string]any, len(f.chunks))
	for i := range chunks {
		chunks[i] = map[string]any{"id": strconv.Itoa(i), "name": "Chunk " + strconv.Itoa(i)}
	}
	writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("chunk")}, "chunks": chunks})
}

func (s *Server) handleChunkGet(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	f := in.fileFor(w, r)
	if f == nil {
		in.mu.Unlock()
		return
	}
	n, err := strconv.Atoi(r.PathValue("chunkID"))
	if err != nil || n < 0 || n >= len(f.chunks) {
		in.mu.Unlock()
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	data := f.chunks[n] // chunks are never modified in place: safe to write unlocked
	sc := f.stored      // counted, so that data is not recycled while written
	if sc != nil {
		sc.readers++
	}
	in.mu.Unlock()
	if sc != nil {
		defer func() {
			in.mu.Lock()
			sc.readers--
			sc.recycle()
			in.mu.Unlock()
		}()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// ---- tasks

func (s *Server) handleTaskStart(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			LocaleName string `json:"localeName"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.LocaleName == "" {
			writeAPIError(w, r, http.StatusBadRequest, `send {"localeName":"en_US"} (or another locale) to start a task`)
			return
		}
		now := s.Now()
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		m := in.modelFor(w, r)
		if m == nil {
			return
		}
		id := r.PathValue(idParam(kind))
		b, ok := m.action(kind, id)
		if !ok {
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		in.nextTask++
		t := &taskState{
			Task:    Task{ID: strings.ToUpper(randomHex(16)), Kind: kind, ActionID: id, Locale: body.LocaleName, State: "NOT_STARTED"},
			seq:     in.nextTask,
			ws:      m.ws.ID,
			model:   m.ID,
			created: now,
		}
		if b != nil {
			t.behaviour = cloneBehaviour(*b)
		}
		if kind == "processes" {
			for _, aid := range in.processActions(m, id) {
				if nb := m.behaviour(aid); nb != nil {
					t.nested = append(t.nested, nestedRun{kind: m.kindOf(aid), id: aid, behaviour: cloneBehaviour(*nb)})
				}
			}
		}
		in.tasks[t.ID] = t
		if in.bareTaskID {
			writeAPI(w, http.StatusOK, map[string]any{"taskId": t.ID})
			return
		}
		writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("task")}, "task": in.taskJSON(m, t)})
	}
}

func idParam(kind string) string {
	switch kind {
	case "imports":
		return "importID"
	case "exports":
		return "exportID"
	case "processes":
		return "processID"
	}
	return "actionID"
}

// taskFor finds the task of the request, or answers 404. Callers hold in.mu.
func (in *integration) taskFor(w http.ResponseWriter, r *http.Request, kind string) (*modelState, *taskState) {
	m := in.modelFor(w, r)
	if m == nil {
		return nil, nil
	}
	t := in.tasks[r.PathValue("taskID")]
	if t == nil || t.ws != m.ws.ID || t.model != m.ID || t.Kind != kind || t.ActionID != r.PathValue(idParam(kind)) {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return nil, nil
	}
	return m, t
}

func (s *Server) handleTaskList(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		m := in.modelFor(w, r)
		if m == nil {
			return
		}
		id := r.PathValue(idParam(kind))
		if _, ok := m.action(kind, id); !ok {
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		var ts []*taskState
		for _, t := range in.tasks {
			if t.ws == m.ws.ID && t.model == m.ID && t.Kind == kind && t.ActionID == id {
				ts = append(ts, t)
			}
		}
		slices.SortFunc(ts, func(a, b *taskState) int { return a.seq - b.seq })
		items := make([]map[string]any, len(ts))
		for i, t := range ts {
			items[i] = map[string]any{"taskId": t.ID, "taskState": t.State, "creationTime": t.created.UnixMilli()}
		}
		in.page(w, r, "tasks", items)
	}
}

func (s *Server) handleTaskGet(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		m, t := in.taskFor(w, r, kind)
		if t == nil {
			return
		}
		t.Polls++
		switch t.State {
		case "NOT_STARTED", "IN_PROGRESS":
			if b := t.behaviour; b.Polls < 0 || t.Polls <= b.Polls {
				t.State = "IN_PROGRESS"
			} else {
				in.completeLocked(m, t)
			}
		case "CANCELLING":
			t.State = "CANCELLED"
		}
		writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("task")}, "task": in.taskJSON(m, t)})
	}
}

func (s *Server) handleTaskCancel(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		m, t := in.taskFor(w, r, kind)
		if t == nil {
			return
		}
		if t.State == "NOT_STARTED" || t.State == "IN_PROGRESS" {
			t.State = "CANCELLING"
		}
		writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"schema": s.schema("task")}, "task": in.taskJSON(m, t)})
	}
}

func (s *Server) handleDump(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		_, t := in.taskFor(w, r, kind)
		if t == nil {
			in.mu.Unlock()
			return
		}
		var dump []byte
		if t.State == "COMPLETE" {
			if obj := r.PathValue("objectID"); obj == "" {
				dump = t.behaviour.Dump
			} else {
				for _, n := range t.nested {
					if n.id == obj {
						dump = n.behaviour.Dump
					}
				}
			}
		}
		in.mu.Unlock()
		if dump == nil {
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Content-Length", strconv.Itoa(len(dump)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(dump)
	}
}

func (in *integration) processActions(m *modelState, id string) []string {
	for _, p := range m.processes {
		if p.ID == id {
			return p.Actions
		}
	}
	return nil
}

// completeLocked runs the task's effect and records its result.
func (in *integration) completeLocked(m *modelState, t *taskState) {
	t.State = "COMPLETE"
	bh := t.behaviour
	res := in.resultLocked(m, t.Kind, t.ActionID, bh)
	if t.Kind == "processes" {
		ok := !bh.Fail
		var nested []map[string]any
		for _, n := range t.nested {
			nested = append(nested, in.resultLocked(m, n.kind, n.id, n.behaviour))
			ok = ok && !n.behaviour.Fail
		}
		res["successful"] = ok
		res["failureDumpAvailable"] = false
		if nested != nil {
			res["nestedResults"] = nested
		}
	}
	t.result = res
}

// kindOf says which kind of action id is.
func (m *modelState) kindOf(id string) string {
	for _, kind := range []string{"imports", "exports", "processes", "actions"} {
		if _, ok := m.action(kind, id); ok {
			return kind
		}
	}
	return ""
}

// resultLocked builds the result of running action id once, and applies
// the action's effect (an export writes its file).
func (in *integration) resultLocked(m *modelState, kind, id string, b TaskBehaviour) map[string]any {
	msg := b.Message
	switch kind {
	case "imports":
		for _, x := range m.imports {
			if x.ID != id {
				continue
			}
			if msg == "" {
				lines := 0
				if f := m.file(x.FileID); f != nil {
					for _, c := range f.chunks {
						lines += bytes.Count(c, []byte{'\n'})
					}
				}
				msg = fmt.Sprintf("%s: %d lines read", x.Name, lines)
			}
		}
	case "exports":
		for _, x := range m.exports {
			if x.ID != id {
				continue
			}
			if !b.Fail {
				f := in.fileLocked(m, x.ID, x.Name)
				f.chunks, f.upload = cutChunks(x.Content, DefaultChunkSize), nil
			}
			if msg == "" {
				msg = fmt.Sprintf("%s: %d bytes exported", x.Name, len(x.Content))
			}
		}
	}
	if msg == "" {
		msg = "Completed"
		if b.Fail {
			msg = "Failed"
		}
	}
	return map[string]any{
		"objectId":             id,
		"successful":           !b.Fail,
		"failureDumpAvailable": b.Dump != nil,
		"details":              []map[string]any{{"localMessageText": msg, "occurrences": 0, "type": "generalMessage", "values": []string{}}},
	}
}

func (in *integration) taskJSON(m *modelState, t *taskState) map[string]any {
	progress := 0.0
	step := ""
	switch t.State {
	case "IN_PROGRESS":
		if b := t.behaviour; b.Polls > 0 {
			progress = min(float64(t.Polls)/float64(b.Polls+1), 0.99)
		}
		step = "Running"
	case "COMPLETE":
		progress, step = 1, "Complete."
	case "CANCELLING", "CANCELLED":
		step = "Cancelled."
	}
	j := map[string]any{
		"taskId": t.ID, "taskState": t.State, "creationTime": t.created.UnixMilli(),
		"progress": progress, "currentStep": step,
	}
	if t.result != nil {
		j["result"] = t.result
	}
	return j
}
