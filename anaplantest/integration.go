package anaplantest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
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

// DownloadChunkSize is how AddFile and exports cut content into download
// chunks when File.ChunkSize is zero. It is the fake's choice, unrelated to
// anaplan.DefaultChunkSize (the size of the chunks the SDK uploads).
const DownloadChunkSize = 1 << 20

// DefaultChunkSize is the former name of DownloadChunkSize.
//
// Deprecated: use DownloadChunkSize; anaplan.DefaultChunkSize, a different
// size, shares this name.
const DefaultChunkSize = DownloadChunkSize

// DumpChunkSize is the size of the chunks a failure dump is served in
// (…/dump/chunks/{n}) when TaskBehaviour.DumpChunkSize is zero: Anaplan's
// chunks of dumps hold up to 10 MB.
const DumpChunkSize = 10_000_000

// DumpLifetime is how long a failure dump stays available after it was last
// fetched, by the server's clock; running the action again replaces it
// sooner, as in Anaplan.
const DumpLifetime = 48 * time.Hour

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
	ID   string
	Name string
	// State is the activeState: "" means UNLOCKED. Starting a task in a
	// model whose State is ARCHIVED answers 422, LOCKED 423, MAINTENANCE or
	// OFFLINE 424, as Anaplan's status table has it.
	State string
	// MemoryUsage is the memoryUsage in bytes that model details report
	// (modelDetails=true); 0 gives a plausible size.
	MemoryUsage int64
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
	// (DownloadChunkSize when zero) for download.
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
	// (failureDumpAvailable: true) at …/tasks/{taskID}/dump, in chunks at
	// …/dump/chunks/{n}, or for a nested result at
	// …/tasks/{taskID}/dumps/{objectID}[/chunks/{n}]. A dump stays
	// available for DumpLifetime after it was last fetched, and until the
	// action runs again; then it answers 404, as in Anaplan.
	Dump []byte
	// DumpChunkSize is the size of the chunks of the task's dumps, its own
	// and its nested results' (DumpChunkSize when zero).
	DumpChunkSize int
	// Message is the result's detail text; empty gives a plausible one.
	Message string
	// Nested are nested results the task reports besides those of a
	// process's actions (Anaplan reports them for imports too), each of
	// which may offer a dump of its own.
	Nested []NestedResult
}

// NestedResult is a nested result of a task. See TaskBehaviour.Nested.
type NestedResult struct {
	ObjectID string // the result's objectId: where its dump is (…/dumps/{objectId})
	Name     string // objectName
	Fail     bool
	Dump     []byte // failureDumpAvailable when not nil
	Message  string
}

// MappingParameter is one mappingParameters entry a task was started with.
type MappingParameter struct {
	ImportID   string // the import of a process it targets; "" for all
	EntityType string // a dimension: "Version", a list's name…
	EntityName string // the item to map to
}

// Task is the fake's record of a task, for assertions. See Tasks.
type Task struct {
	ID       string
	Kind     string // "imports", "exports", "processes" or "actions"
	ActionID string
	Locale   string // the localeName it was started with
	State    string // NOT_STARTED, IN_PROGRESS, COMPLETE, CANCELLING, CANCELLED
	Polls    int    // status requests answered so far
	// MappingParameters are the mappingParameters of the start request.
	MappingParameters []MappingParameter
	// CancelledBy is the ID of the user who cancelled the task, if one did.
	CancelledBy string
}

// integration is the Integration API's state, with its own lock.
type integration struct {
	mu           sync.Mutex
	maxPage      int
	bareTaskID   bool
	instant      bool             // tasks complete at their first poll
	clock        func() time.Time // the server's; in.mu may be held when calling it, s.mu never is
	noDumpChunks bool             // …/dump/chunks is not offered
	workspaces   []*wsState
	tasks        map[string]*taskState
	nextTask     int
}

type wsState struct {
	Workspace
	models []*modelState
}

type modelState struct {
	Model
	ws        *wsState
	created   time.Time
	busy      int // task starts still to refuse with 409
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
	// newID, when set, makes the next upload start create that file
	// instead and answer with it (see AnswerUploadWithNewFile).
	newID string
	// completed is the last body of POST …/complete (see FileCompletion).
	completed map[string]any
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
	nested    []nestedRun // a process's actions, then TaskBehaviour.Nested

	// The failure dumps: fetchable until dumpsGone (the action ran again)
	// or DumpLifetime after dumpsUsed.
	dumpsUsed time.Time
	dumpsGone bool
}

// nestedRun is one nested result of a task: an action of a process, as it
// was when the process's task started, or a TaskBehaviour.Nested entry
// (kind "").
type nestedRun struct {
	kind, id, name string
	behaviour      TaskBehaviour
}

// cloneBehaviour copies b, its dump included, so that the caller's later
// changes to the slice do not reach a task.
func cloneBehaviour(b TaskBehaviour) TaskBehaviour {
	if b.Dump != nil {
		b.Dump = bytes.Clone(b.Dump)
	}
	b.Nested = slices.Clone(b.Nested)
	for i := range b.Nested {
		if b.Nested[i].Dump != nil {
			b.Nested[i].Dump = bytes.Clone(b.Nested[i].Dump)
		}
	}
	return b
}

// registerIntegration adds the Integration API routes beyond /2/0/users/me.
func (s *Server) registerIntegration(mux *http.ServeMux) {
	s.integration = &integration{maxPage: MaxPageSize, tasks: map[string]*taskState{}, clock: s.Now}

	const m = "/2/0/workspaces/{workspaceID}/models/{modelID}"
	routes := map[string]http.HandlerFunc{
		"GET /2/0/workspaces":                      s.handleWorkspaces,
		"GET /2/0/workspaces/{workspaceID}":        s.handleWorkspace,
		"GET /2/0/models":                          s.handleModels,
		"GET /2/0/models/{modelID}":                s.handleModel,
		"GET /2/0/workspaces/{workspaceID}/models": s.handleModels,
		"GET " + m:                                      s.handleModelInWorkspace,
		"GET " + m + "/files":                           s.handleList("files"),
		"POST " + m + "/files/{fileID}":                 s.handleUploadStart,
		"PUT " + m + "/files/{fileID}":                  s.handleUploadWhole,
		"PUT " + m + "/files/{fileID}/chunks/{chunkID}": s.handleChunkPut,
		"POST " + m + "/files/{fileID}/complete":        s.handleUploadComplete,
		"GET " + m + "/files/{fileID}/chunks":           s.handleChunkList,
		"GET " + m + "/files/{fileID}/chunks/{chunkID}": s.handleChunkGet,
	}
	for _, kind := range []string{"imports", "exports", "processes", "actions"} {
		base := m + "/" + kind
		task := base + "/{" + idParam(kind) + "}/tasks"
		routes["GET "+base] = s.handleList(kind)
		routes["POST "+task] = s.handleTaskStart(kind)
		routes["GET "+task] = s.handleTaskList(kind)
		routes["GET "+task+"/{taskID}"] = s.handleTaskGet(kind)
		routes["DELETE "+task+"/{taskID}"] = s.handleTaskCancel(kind)
		// Failure dumps: whole, or in chunks; a nested result's under
		// …/dumps/{objectID}.
		for _, d := range []string{"/{taskID}/dump", "/{taskID}/dumps/{objectID}"} {
			routes["GET "+task+d] = s.handleDump(kind)
			routes["GET "+task+d+"/chunks"] = s.handleDumpChunks(kind)
			routes["GET "+task+d+"/chunks/{chunkID}"] = s.handleDumpChunk(kind)
		}
	}
	for pattern, h := range routes {
		mux.HandleFunc(pattern, s.authenticated(h))
	}
}

// integ returns the server's Integration API state.
func (s *Server) integ() *integration { return s.integration }

// now is the server's clock.
func (in *integration) now() time.Time { return in.clock() }

// withInteg runs f with the Integration API's state locked.
func (s *Server) withInteg(f func(in *integration)) {
	in := s.integ()
	in.mu.Lock()
	defer in.mu.Unlock()
	f(in)
}

// ---- helpers for tests

// editModel runs f on a model (created when absent, with its workspace)
// with the Integration API's state locked.
func (s *Server) editModel(workspaceID, modelID string, f func(in *integration, m *modelState)) {
	s.withInteg(func(in *integration) { f(in, in.modelLocked(workspaceID, modelID)) })
}

// findModel runs f on a model with the Integration API's state locked, and
// reports whether there is such a model.
func (s *Server) findModel(workspaceID, modelID string, f func(m *modelState)) bool {
	ok := false
	s.withInteg(func(in *integration) {
		if m := in.findModelLocked(workspaceID, modelID); m != nil {
			f(m)
			ok = true
		}
	})
	return ok
}

// findFile is findModel for a file of the model.
func (s *Server) findFile(workspaceID, modelID, fileID string, f func(file *fileState)) bool {
	ok := false
	s.findModel(workspaceID, modelID, func(m *modelState) {
		if file := m.file(fileID); file != nil {
			f(file)
			ok = true
		}
	})
	return ok
}

// SetMaxPageSize sets the largest page the list endpoints serve (default and
// upper bound MaxPageSize), so that tests see paging with a few items.
func (s *Server) SetMaxPageSize(n int) {
	s.withInteg(func(in *integration) { in.maxPage = min(max(n, 1), MaxPageSize) })
}

// SetBareTaskAnswers makes starting a task answer {"taskId":…} instead of
// {"task":{"taskId":…}}: Anaplan's examples show both.
func (s *Server) SetBareTaskAnswers(bare bool) {
	s.withInteg(func(in *integration) { in.bareTaskID = bare })
}

// SetInstantTasks makes every task complete at its first status request,
// whatever its TaskBehaviour.Polls says (except tasks that never complete,
// Polls < 0), so that tests of code that runs actions need not wait through
// polls. With the SDK, also pass RunOptions{PollInterval: time.Millisecond}
// to poll fast when a task does take several polls.
func (s *Server) SetInstantTasks(instant bool) {
	s.withInteg(func(in *integration) { in.instant = instant })
}

// SetDumpChunksOffered chooses whether failure dumps are also served in
// chunks (…/dump/chunks, the default) or only whole (…/dump), as some
// deployments have it; without chunks, those paths answer 404.
func (s *Server) SetDumpChunksOffered(offered bool) {
	s.withInteg(func(in *integration) { in.noDumpChunks = !offered })
}

// SetModelBusy makes the next n task starts in a model answer 409 Conflict,
// as Anaplan answers while the model is busy with another action; a refused
// start starts nothing. It reports whether the model exists.
func (s *Server) SetModelBusy(workspaceID, modelID string, n int) bool {
	return s.findModel(workspaceID, modelID, func(m *modelState) { m.busy = max(n, 0) })
}

// AnswerUploadWithNewFile makes the next upload start of a file (POST
// …/files/{fileID}) create a new file newID instead and answer with it, as
// Anaplan has been seen doing: a client that then sent its chunks to fileID
// would leave newID orphaned. It reports whether the file exists.
func (s *Server) AnswerUploadWithNewFile(workspaceID, modelID, fileID, newID string) bool {
	return s.findFile(workspaceID, modelID, fileID, func(f *fileState) { f.newID = newID })
}

// FileCompletion returns the last body a client sent to POST
// …/files/{fileID}/complete for a file, decoded from JSON, and whether there
// was one.
func (s *Server) FileCompletion(workspaceID, modelID, fileID string) (map[string]any, bool) {
	var body map[string]any
	s.findFile(workspaceID, modelID, fileID, func(f *fileState) { body = maps.Clone(f.completed) })
	return body, body != nil
}

// AddWorkspace adds a workspace, or replaces the name and settings of one
// with the same ID (its models stay).
func (s *Server) AddWorkspace(w Workspace) {
	s.withInteg(func(in *integration) { in.workspaceLocked(w.ID).Workspace = w })
}

// AddModel adds a model to a workspace (created when absent), or replaces
// the name and settings of one with the same ID (its files and actions stay).
func (s *Server) AddModel(workspaceID string, m Model) {
	m.Users = slices.Clone(m.Users)
	s.editModel(workspaceID, m.ID, func(_ *integration, ms *modelState) { ms.Model = m })
}

// AddFile adds a file to a model (created when absent, with its workspace),
// or replaces one with the same ID. Content is copied.
func (s *Server) AddFile(workspaceID, modelID string, f File) {
	s.editModel(workspaceID, modelID, func(in *integration, m *modelState) {
		fs := in.fileLocked(m, f.ID, f.Name)
		fs.name = f.Name
		fs.stored.retire()
		fs.chunks, fs.stored = cutChunks(bytes.Clone(f.Content), f.ChunkSize), nil
		fs.upload = nil
	})
}

// FileContent returns a copy of a file's content as last completed (by an
// upload, an export or AddFile), and whether the file exists.
func (s *Server) FileContent(workspaceID, modelID, fileID string) ([]byte, bool) {
	var content []byte
	ok := s.findFile(workspaceID, modelID, fileID, func(f *fileState) { content = bytes.Join(f.chunks, nil) })
	return content, ok
}

// FileChunks returns how many chunks a file's content is held in (as the
// last upload sent them), or -1 when there is no such file.
func (s *Server) FileChunks(workspaceID, modelID, fileID string) int {
	n := -1
	s.findFile(workspaceID, modelID, fileID, func(f *fileState) { n = len(f.chunks) })
	return n
}

// AddImport adds an import to a model (created when absent), or replaces one
// with the same ID.
func (s *Server) AddImport(workspaceID, modelID string, i Import) {
	s.editModel(workspaceID, modelID, func(_ *integration, m *modelState) { m.imports = upsert(m.imports, &i) })
}

// AddExport adds an export to a model (created when absent), or replaces one
// with the same ID. Content is copied.
func (s *Server) AddExport(workspaceID, modelID string, e Export) {
	e.Content = bytes.Clone(e.Content)
	s.editModel(workspaceID, modelID, func(_ *integration, m *modelState) { m.exports = upsert(m.exports, &e) })
}

// AddProcess adds a process to a model (created when absent), or replaces
// one with the same ID.
func (s *Server) AddProcess(workspaceID, modelID string, p Process) {
	p.Actions = slices.Clone(p.Actions)
	s.editModel(workspaceID, modelID, func(_ *integration, m *modelState) { m.processes = upsert(m.processes, &p) })
}

// AddAction adds an action to a model (created when absent), or replaces one
// with the same ID.
func (s *Server) AddAction(workspaceID, modelID string, a Action) {
	s.editModel(workspaceID, modelID, func(_ *integration, m *modelState) { m.actions = upsert(m.actions, &a) })
}

// SetTaskBehaviour changes how tasks started from now on run for the import,
// export, process or action actionID of a model; a task already started
// keeps the behaviour (and, for a process, the actions and their behaviours)
// it started with. It reports whether such an action exists.
func (s *Server) SetTaskBehaviour(workspaceID, modelID, actionID string, b TaskBehaviour) bool {
	found := false
	s.findModel(workspaceID, modelID, func(m *modelState) {
		if a, ok := m.action("", actionID); ok {
			*a.task, found = b, true
		}
	})
	return found
}

// Tasks returns the tasks started in a model, oldest first.
func (s *Server) Tasks(workspaceID, modelID string) []Task {
	var out []Task
	s.withInteg(func(in *integration) {
		ts := in.tasksOf(workspaceID, modelID, "", "")
		out = make([]Task, len(ts))
		for i, t := range ts {
			out[i] = t.Task
		}
	})
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
	m := &modelState{Model: Model{ID: id, Name: id}, ws: w, created: in.now()}
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

// actionKinds are the kinds of action a model has, in the order a lookup
// by ID alone tries them.
var actionKinds = [...]string{"imports", "exports", "processes", "actions"}

// actionRef is an action of a model, whatever its kind.
type actionRef struct {
	kind, id, name string
	task           *TaskBehaviour
}

func (x *Import) ref() actionRef  { return actionRef{"imports", x.ID, x.Name, &x.Task} }
func (x *Export) ref() actionRef  { return actionRef{"exports", x.ID, x.Name, &x.Task} }
func (x *Process) ref() actionRef { return actionRef{"processes", x.ID, x.Name, &x.Task} }
func (x *Action) ref() actionRef  { return actionRef{"actions", x.ID, x.Name, &x.Task} }

// action finds the action id of one kind, or of any kind when kind is ""
// (the first in the order of actionKinds).
func (m *modelState) action(kind, id string) (actionRef, bool) {
	switch kind {
	case "imports":
		return findRef(m.imports, id)
	case "exports":
		return findRef(m.exports, id)
	case "processes":
		return findRef(m.processes, id)
	case "actions":
		return findRef(m.actions, id)
	case "":
		for _, k := range actionKinds {
			if a, ok := m.action(k, id); ok {
				return a, true
			}
		}
	}
	return actionRef{}, false
}

// kindOf says which kind of action id is ("" for none).
func (m *modelState) kindOf(id string) string {
	a, _ := m.action("", id)
	return a.kind
}

func findRef[T interface{ ref() actionRef }](list []T, id string) (actionRef, bool) {
	for _, x := range list {
		if a := x.ref(); a.id == id {
			return a, true
		}
	}
	return actionRef{}, false
}

// upsert replaces the action of list with v's ID, or appends v.
func upsert[T interface{ ref() actionRef }](list []T, v T) []T {
	for i, x := range list {
		if x.ref().id == v.ref().id {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

// cutChunks splits b into chunks of size n (DownloadChunkSize when n <= 0) without
// copying. Empty content is one empty chunk, as Anaplan keeps it.
func cutChunks(b []byte, n int) [][]byte {
	if n <= 0 {
		n = DownloadChunkSize
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

// withModel finds the model of the request's path for its user (or answers
// 404) and runs f with the Integration API's state locked. Handlers that
// check their body first do so before calling it, without the lock.
func (s *Server) withModel(w http.ResponseWriter, r *http.Request, f func(in *integration, m *modelState)) {
	s.withInteg(func(in *integration) {
		if m := in.modelFor(w, r); m != nil {
			f(in, m)
		}
	})
}

// withFile is withModel for the file of the path's {fileID} (see fileFor).
func (s *Server) withFile(w http.ResponseWriter, r *http.Request, f func(in *integration, m *modelState, file *fileState)) {
	s.withInteg(func(in *integration) {
		if m, file := in.fileFor(w, r); file != nil {
			f(in, m, file)
		}
	})
}

// withTask is withModel for the task of the path (see taskFor).
func (s *Server) withTask(w http.ResponseWriter, r *http.Request, kind string, f func(in *integration, m *modelState, t *taskState)) {
	s.withInteg(func(in *integration) {
		if m, t := in.taskFor(w, r, kind); t != nil {
			f(in, m, t)
		}
	})
}

// writeTask answers 200 with a task.
func (s *Server) writeTask(w http.ResponseWriter, in *integration, m *modelState, t *taskState) {
	s.writeObject(w, "task", "task", in.taskJSON(m, t))
}

// chunksJSON lists n chunks as Anaplan lists a file's: IDs "0", "1"…
func chunksJSON(n int) []map[string]any {
	chunks := make([]map[string]any, n)
	for i := range chunks {
		chunks[i] = map[string]any{"id": strconv.Itoa(i), "name": "Chunk " + strconv.Itoa(i)}
	}
	return chunks
}

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
	limit, ok := intParam(q, "limit", in.maxPage, 1)
	if !ok {
		writeAPIError(w, r, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	limit = min(limit, in.maxPage)
	offset, ok := intParam(q, "offset", 0, 0)
	if !ok {
		writeAPIError(w, r, http.StatusBadRequest, "offset must be a non-negative integer")
		return
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

// intParam reads the integer query parameter name: def when it is absent,
// and false when it is not an integer of at least least.
func intParam(q url.Values, name string, def, least int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		return 0, false
	}
	return n, true
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

// modelJSON describes a model; with details (modelDetails=true) it adds
// what Anaplan adds then: memory, serial number, transaction, dates.
// Callers hold in.mu.
func (s *Server) modelJSON(m *modelState, details bool) map[string]any {
	state := m.State
	if state == "" {
		state = "UNLOCKED"
	}
	j := map[string]any{
		"id": m.ID, "name": m.Name, "activeState": state,
		"currentWorkspaceId": m.ws.ID, "currentWorkspaceName": m.ws.Name,
		"modelUrl": s.srv.URL + "/models/" + m.ID,
	}
	if !details {
		return j
	}
	mem := m.MemoryUsage
	if mem == 0 {
		mem = 64 << 20
	}
	running, serial := false, 1000000
	for _, t := range s.integ().tasks {
		if t.ws == m.ws.ID && t.model == m.ID {
			serial++
			running = running || t.State == "IN_PROGRESS"
		}
	}
	created := m.created.UTC().Format("2006-01-02T15:04:05.000Z")
	j["memoryUsage"] = mem
	j["lastSavedSerialNumber"] = serial
	j["modelTransactionRunning"] = running
	j["lastModifiedByUserGuid"] = ""
	j["isoCreationDate"] = created
	j["lastModified"] = created
	j["categoryValues"] = []any{}
	return j
}

// modelDetails reports whether a request asks for model details.
func modelDetails(r *http.Request) bool {
	return strings.EqualFold(r.URL.Query().Get("modelDetails"), "true")
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
			s.writeObject(w, "workspace", "workspace", workspaceJSON(ws))
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
	details := modelDetails(r)
	in.pageOf(w, r, "models", len(models), func(i int) map[string]any { return s.modelJSON(models[i], details) })
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	s.withModel(w, r, func(_ *integration, m *modelState) {
		s.writeObject(w, "model", "model", s.modelJSON(m, modelDetails(r)))
	})
}

// handleModelInWorkspace answers GET /2/0/workspaces/{ws}/models/{m} as
// Anaplan does: 405. A model is described by GET /2/0/models/{m}.
func (s *Server) handleModelInWorkspace(w http.ResponseWriter, r *http.Request) {
	writeAPIError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed: describe a model with GET /2/0/models/{modelId}?modelDetails=true")
}

func fileJSON(f *fileState) map[string]any {
	return map[string]any{
		"id": f.id, "name": f.name, "chunkCount": len(f.chunks),
		"delimiter": `"`, "encoding": "UTF-8", "firstDataRow": 2, "format": "txt", "headerRow": 1, "separator": ",",
	}
}

func (s *Server) handleList(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withModel(w, r, func(in *integration, m *modelState) {
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
		})
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
func (in *integration) fileFor(w http.ResponseWriter, r *http.Request) (*modelState, *fileState) {
	m := in.modelFor(w, r)
	if m == nil {
		return nil, nil
	}
	f := m.file(r.PathValue("fileID"))
	if f == nil {
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
	}
	return m, f
}

func (s *Server) handleUploadStart(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ChunkCount *int `json:"chunkCount"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.ChunkCount == nil || *body.ChunkCount < -1 {
		writeAPIError(w, r, http.StatusBadRequest, `send {"chunkCount":N} with the number of chunks, or -1 when it is not known yet`)
		return
	}
	s.withFile(w, r, func(in *integration, m *modelState, f *fileState) {
		if f.newID != "" {
			// Anaplan made a new file rather than reusing this one.
			nf := in.fileLocked(m, f.newID, f.name)
			f.newID = ""
			f = nf
		}
		f.upload = &uploadState{declared: *body.ChunkCount, chunks: map[int][]byte{}}
		s.writeObject(w, "file", "file", fileJSON(f))
	})
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
	s.withFile(w, r, func(_ *integration, _ *modelState, f *fileState) {
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
	})
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

// handleUploadComplete serves POST …/files/{fileID}/complete. Its body is
// the file's metadata: {"id":"<fileID>"} at least (a string, as Anaplan's
// Postman collection sends it), and the fields of Anaplan's guide
// (name, chunkCount, firstDataRow, headerRow…) are checked when present.
func (s *Server) handleUploadComplete(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var all map[string]any
	var body struct {
		ID           any     `json:"id"`
		Name         *string `json:"name"`
		ChunkCount   *int    `json:"chunkCount"`
		FirstDataRow *int    `json:"firstDataRow"`
		HeaderRow    *int    `json:"headerRow"`
	}
	if err != nil || json.Unmarshal(raw, &all) != nil || json.Unmarshal(raw, &body) != nil {
		writeAPIError(w, r, http.StatusBadRequest, `send the file's metadata as JSON, at least {"id":"<fileID>"}: chunkCount, firstDataRow and headerRow are numbers`)
		return
	}
	s.withFile(w, r, func(_ *integration, _ *modelState, f *fileState) {
		id, ok := body.ID.(string)
		switch {
		case !ok:
			writeAPIError(w, r, http.StatusBadRequest, `the body needs the file's "id", as a string`)
			return
		case id != f.id:
			writeAPIError(w, r, http.StatusBadRequest, "the id in the body is not the file's")
			return
		case body.Name != nil && *body.Name != f.name:
			writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("the name in the body is not the file's (%q)", f.name))
			return
		case body.HeaderRow != nil && *body.HeaderRow < 0, body.FirstDataRow != nil && *body.FirstDataRow < 0,
			body.HeaderRow != nil && body.FirstDataRow != nil && *body.HeaderRow > 0 && *body.FirstDataRow <= *body.HeaderRow:
			writeAPIError(w, r, http.StatusBadRequest, "headerRow and firstDataRow are row numbers from 1 (0: none), the data after the header")
			return
		}
		f.completed = all
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
		s.writeObject(w, "file", "file", fileJSON(f))
	})
}

// handleUploadWhole serves PUT …/files/{fileID}: the whole file in one body.
func (s *Server) handleUploadWhole(w http.ResponseWriter, r *http.Request) {
	data, err := readChunk(r)
	if err != nil {
		writeAPIError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.withFile(w, r, func(_ *integration, _ *modelState, f *fileState) {
		f.store([][]byte{data})
		f.upload = nil
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleChunkList(w http.ResponseWriter, r *http.Request) {
	s.withFile(w, r, func(_ *integration, _ *modelState, f *fileState) {
		s.writeObject(w, "chunk", "chunks", chunksJSON(len(f.chunks)))
	})
}

func (s *Server) handleChunkGet(w http.ResponseWriter, r *http.Request) {
	in := s.integ()
	in.mu.Lock()
	_, f := in.fileFor(w, r)
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
	writeBytes(w, "application/octet-stream", data)
}

// ---- tasks

func (s *Server) handleTaskStart(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			LocaleName        string `json:"localeName"`
			MappingParameters []struct {
				ImportID   string `json:"importId"`
				EntityType string `json:"entityType"`
				EntityName string `json:"entityName"`
			} `json:"mappingParameters"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.LocaleName == "" {
			writeAPIError(w, r, http.StatusBadRequest, `send {"localeName":"en_US"} (or another locale) to start a task`)
			return
		}
		now := s.Now()
		s.withModel(w, r, func(in *integration, m *modelState) {
			id := r.PathValue(idParam(kind))
			a, ok := m.action(kind, id)
			if !ok {
				writeAPIError(w, r, http.StatusNotFound, "Not Found")
				return
			}
			// The model's state, then a busy model: refused, nothing started.
			switch strings.ToUpper(m.State) {
			case "ARCHIVED":
				writeAPIError(w, r, http.StatusUnprocessableEntity, "The model is archived")
				return
			case "LOCKED":
				writeAPIError(w, r, http.StatusLocked, "The model is locked")
				return
			case "MAINTENANCE", "OFFLINE":
				writeAPIError(w, r, http.StatusFailedDependency, "The model is offline for maintenance")
				return
			}
			if m.busy > 0 {
				m.busy--
				writeAPIError(w, r, http.StatusConflict, "The model is busy: another action is running")
				return
			}
			var mps []MappingParameter
			for _, p := range body.MappingParameters {
				switch {
				case kind != "imports" && kind != "processes":
					writeAPIError(w, r, http.StatusBadRequest, "mappingParameters apply to imports and processes only")
					return
				case p.EntityType == "" || p.EntityName == "":
					writeAPIError(w, r, http.StatusBadRequest, `each of mappingParameters needs "entityType" and "entityName"`)
					return
				case p.ImportID != "" && kind == "imports" && p.ImportID != id,
					p.ImportID != "" && kind == "processes" && (!slices.Contains(in.processActions(m, id), p.ImportID) || m.kindOf(p.ImportID) != "imports"):
					writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("mappingParameters: importId %s is not an import of this action", p.ImportID))
					return
				}
				mps = append(mps, MappingParameter(p))
			}
			in.nextTask++
			t := &taskState{
				Task:    Task{ID: strings.ToUpper(randomHex(16)), Kind: kind, ActionID: id, Locale: body.LocaleName, State: "NOT_STARTED", MappingParameters: mps},
				seq:     in.nextTask,
				ws:      m.ws.ID,
				model:   m.ID,
				created: now,
			}
			t.behaviour = cloneBehaviour(*a.task)
			if kind == "processes" {
				for _, aid := range in.processActions(m, id) {
					if na, ok := m.action("", aid); ok {
						t.nested = append(t.nested, nestedRun{kind: na.kind, id: aid, name: na.name, behaviour: cloneBehaviour(*na.task)})
					}
				}
			}
			for _, n := range t.behaviour.Nested {
				t.nested = append(t.nested, nestedRun{id: n.ObjectID, name: n.Name, behaviour: TaskBehaviour{Fail: n.Fail, Dump: n.Dump, Message: n.Message}})
			}
			// Running an action again replaces the dumps of its earlier runs.
			for _, o := range in.tasks {
				if o.ws == t.ws && o.model == t.model && o.Kind == kind && o.ActionID == id {
					o.dumpsGone = true
				}
			}
			in.tasks[t.ID] = t
			if in.bareTaskID {
				writeAPI(w, http.StatusOK, map[string]any{"taskId": t.ID})
				return
			}
			s.writeTask(w, in, m, t)
		})
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

// tasksOf lists the tasks started in a model, oldest first: all of them when
// kind is "", or else those of the action id of kind. Callers hold in.mu.
func (in *integration) tasksOf(wsID, modelID, kind, id string) []*taskState {
	var ts []*taskState
	for _, t := range in.tasks {
		if t.ws == wsID && t.model == modelID && (kind == "" || (t.Kind == kind && t.ActionID == id)) {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b *taskState) int { return a.seq - b.seq })
	return ts
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
		s.withModel(w, r, func(in *integration, m *modelState) {
			id := r.PathValue(idParam(kind))
			if _, ok := m.action(kind, id); !ok {
				writeAPIError(w, r, http.StatusNotFound, "Not Found")
				return
			}
			ts := in.tasksOf(m.ws.ID, m.ID, kind, id)
			items := make([]map[string]any, len(ts))
			for i, t := range ts {
				items[i] = map[string]any{"taskId": t.ID, "taskState": t.State, "creationTime": t.created.UnixMilli()}
			}
			in.page(w, r, "tasks", items)
		})
	}
}

func (s *Server) handleTaskGet(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withTask(w, r, kind, func(in *integration, m *modelState, t *taskState) {
			t.Polls++
			switch t.State {
			case "NOT_STARTED", "IN_PROGRESS":
				if b := t.behaviour; b.Polls < 0 || (t.Polls <= b.Polls && !in.instant) {
					t.State = "IN_PROGRESS"
				} else {
					in.completeLocked(m, t)
					t.dumpsUsed = in.now()
				}
			case "CANCELLING":
				t.State = "CANCELLED"
			}
			s.writeTask(w, in, m, t)
		})
	}
}

func (s *Server) handleTaskCancel(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withTask(w, r, kind, func(in *integration, m *modelState, t *taskState) {
			if t.State == "NOT_STARTED" || t.State == "IN_PROGRESS" {
				t.State = "CANCELLING"
				if u := userFrom(r.Context()); u != nil {
					t.CancelledBy = u.id
				}
			}
			s.writeTask(w, in, m, t)
		})
	}
}

// dumpFor finds the failure dump a request asks for: the task's own
// (…/dump) or a nested result's (…/dumps/{objectID}). It answers 404 itself
// (nil, false) when there is none, or when it is gone: DumpLifetime after
// its last fetch, or once the action ran again. Fetching it keeps it.
// Callers hold in.mu.
func (in *integration) dumpFor(w http.ResponseWriter, r *http.Request, kind string) (dump []byte, chunkSize int, ok bool) {
	_, t := in.taskFor(w, r, kind)
	if t == nil {
		return nil, 0, false
	}
	size := t.behaviour.DumpChunkSize
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
	now := in.now()
	switch {
	case dump == nil:
		writeAPIError(w, r, http.StatusNotFound, "Not Found")
		return nil, 0, false
	case t.dumpsGone || !now.Before(t.dumpsUsed.Add(DumpLifetime)):
		writeAPIError(w, r, http.StatusNotFound, "Not Found: the failure dump is no longer available")
		return nil, 0, false
	}
	t.dumpsUsed = now
	if size <= 0 {
		size = DumpChunkSize
	}
	return dump, size, true
}

func (s *Server) handleDump(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		dump, _, ok := in.dumpFor(w, r, kind)
		in.mu.Unlock()
		if ok {
			writeBytes(w, "text/csv", dump)
		}
	}
}

// writeBytes answers 200 with b as content of type contentType: a file's
// chunk, a dump or a dump's chunk.
func writeBytes(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// handleDumpChunks lists a dump's chunks, as Anaplan lists a file's.
func (s *Server) handleDumpChunks(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.noDumpChunks {
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		dump, size, ok := in.dumpFor(w, r, kind)
		if !ok {
			return
		}
		n := len(cutChunks(dump, size))
		chunks := chunksJSON(n)
		paging := map[string]any{"currentPageSize": n, "offset": 0, "totalSize": n}
		writeAPI(w, http.StatusOK, map[string]any{"meta": map[string]any{"paging": paging, "schema": s.schema("chunk")}, "chunks": chunks})
	}
}

func (s *Server) handleDumpChunk(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := s.integ()
		in.mu.Lock()
		if in.noDumpChunks {
			in.mu.Unlock()
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		dump, size, ok := in.dumpFor(w, r, kind)
		in.mu.Unlock()
		if !ok {
			return
		}
		chunks := cutChunks(dump, size) // the dump is never modified: safe unlocked
		n, err := strconv.Atoi(r.PathValue("chunkID"))
		if err != nil || n < 0 || n >= len(chunks) {
			writeAPIError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		writeBytes(w, "text/csv", chunks[n])
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

// completeLocked runs the task's effect and records its result, with a
// nested result for each action of a process and each
// TaskBehaviour.Nested; a failed nested result fails the task.
func (in *integration) completeLocked(m *modelState, t *taskState) {
	t.State = "COMPLETE"
	bh := t.behaviour
	res := in.resultLocked(m, t.Kind, t.ActionID, bh)
	ok := !bh.Fail
	var nested []map[string]any
	for _, n := range t.nested {
		nr := in.resultLocked(m, n.kind, n.id, n.behaviour)
		if n.name != "" {
			nr["objectName"] = n.name
		}
		nested = append(nested, nr)
		ok = ok && !n.behaviour.Fail
	}
	res["successful"] = ok
	if t.Kind == "processes" {
		res["failureDumpAvailable"] = false
	}
	if nested != nil {
		res["nestedResults"] = nested
	}
	t.result = res
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
				f.chunks, f.upload = cutChunks(x.Content, DownloadChunkSize), nil
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
	res := map[string]any{
		"objectId":             id,
		"successful":           !b.Fail,
		"failureDumpAvailable": b.Dump != nil,
		"details":              []map[string]any{{"localMessageText": msg, "occurrences": 0, "type": "generalMessage", "values": []string{}}},
	}
	if a, _ := m.action("", id); a.name != "" {
		res["objectName"] = a.name
	}
	return res
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
	if t.CancelledBy != "" {
		j["cancelledBy"] = t.CancelledBy
	}
	return j
}
