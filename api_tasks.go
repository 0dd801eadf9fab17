package anaplan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Running imports, exports, processes and actions as tasks.

// TaskKind is the kind of action a task runs.
type TaskKind string

// The kinds of action that run as tasks.
const (
	ImportTask  TaskKind = "import"
	ExportTask  TaskKind = "export"
	ProcessTask TaskKind = "process"
	ActionTask  TaskKind = "action"
)

// path is the kind's segment in Integration API paths.
func (k TaskKind) path() (string, error) {
	switch k {
	case ImportTask:
		return "imports", nil
	case ExportTask:
		return "exports", nil
	case ProcessTask:
		return "processes", nil
	case ActionTask:
		return "actions", nil
	}
	return "", fmt.Errorf("anaplan: unknown task kind %q: use ImportTask, ExportTask, ProcessTask or ActionTask", string(k))
}

// TaskState is the state of a task.
type TaskState string

// The states of a task. COMPLETE and CANCELLED are final.
const (
	TaskNotStarted TaskState = "NOT_STARTED"
	TaskInProgress TaskState = "IN_PROGRESS"
	TaskComplete   TaskState = "COMPLETE"
	TaskCancelling TaskState = "CANCELLING"
	TaskCancelled  TaskState = "CANCELLED"
)

// Final reports whether a task in state s has ended.
func (s TaskState) Final() bool { return s == TaskComplete || s == TaskCancelled }

// Task is the status of a task, as a poll answers it.
type Task struct {
	ID           string      `json:"taskId"`
	State        TaskState   `json:"taskState"`
	Progress     float64     `json:"progress"` // 0 to 1
	CurrentStep  string      `json:"currentStep,omitempty"`
	CreationTime int64       `json:"creationTime,omitempty"` // Unix milliseconds
	Result       *TaskResult `json:"result,omitempty"`       // once COMPLETE
}

// TaskResult is the outcome of a task: of an action, or of one action of a
// process (a nested result).
type TaskResult struct {
	ObjectID             string       `json:"objectId,omitempty"` // the action the result is about
	Successful           bool         `json:"successful"`
	FailureDumpAvailable bool         `json:"failureDumpAvailable"`
	Details              []TaskDetail `json:"details,omitempty"`
	NestedResults        []TaskResult `json:"nestedResults,omitempty"` // a process's actions

	// Where the result comes from, filled in by this package (on nested
	// results too) so that ModelHandle.Dump can fetch a failure dump.
	Kind     TaskKind  `json:"kind,omitempty"`
	ActionID string    `json:"actionId,omitempty"`
	TaskID   string    `json:"taskId,omitempty"`
	State    TaskState `json:"taskState,omitempty"` // COMPLETE or CANCELLED
}

// TaskDetail is one message of a task result.
type TaskDetail struct {
	LocalMessageText string   `json:"localMessageText,omitempty"`
	Occurrences      int      `json:"occurrences,omitempty"`
	Type             string   `json:"type,omitempty"`
	Values           []string `json:"values,omitempty"`
}

// Dumps returns the results, r and its nested results, that offer a failure
// dump, for ModelHandle.Dump.
func (r *TaskResult) Dumps() []*TaskResult {
	if r == nil {
		return nil
	}
	var out []*TaskResult
	if r.FailureDumpAvailable {
		out = append(out, r)
	}
	for i := range r.NestedResults {
		out = append(out, r.NestedResults[i].Dumps()...)
	}
	return out
}

// Message joins the result's detail messages (and those of its nested
// results) into one line.
func (r *TaskResult) Message() string {
	if r == nil {
		return ""
	}
	var parts []string
	for _, d := range r.Details {
		if d.LocalMessageText != "" {
			parts = append(parts, d.LocalMessageText)
		}
	}
	for i := range r.NestedResults {
		if m := r.NestedResults[i].Message(); m != "" {
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, "; ")
}

// TaskError reports a task that ended without success: it failed, or it was
// cancelled by someone else. Result holds what Anaplan said.
type TaskError struct {
	Kind     TaskKind
	ActionID string
	TaskID   string
	Result   *TaskResult
}

// Error implements error.
func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "anaplan: %s %s (task %s) ", e.Kind, e.ActionID, e.TaskID)
	if e.Result != nil && e.Result.State == TaskCancelled {
		b.WriteString("was cancelled on the server")
		return b.String()
	}
	b.WriteString("failed")
	if m := e.Result.Message(); m != "" {
		b.WriteString(": ")
		b.WriteString(m)
	}
	if len(e.Result.Dumps()) > 0 {
		b.WriteString(" (a failure dump is available: fetch it with ModelHandle.Dump)")
	}
	return b.String()
}

// RunOptions tune how a task is started and waited for. The zero value (or
// nil) is fine.
type RunOptions struct {
	// Locale is the localeName the task runs with (default "en_US").
	Locale string
	// PollInterval is the first wait between status requests (default 1 s);
	// the wait grows by half each time up to MaxPollInterval (default 15 s).
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Progress, when set, is called with every status the task reports,
	// from the goroutine that waits.
	Progress func(Task)
}

func (o *RunOptions) resolved() RunOptions {
	var v RunOptions
	if o != nil {
		v = *o
	}
	if v.Locale == "" {
		v.Locale = "en_US"
	}
	if v.PollInterval <= 0 {
		v.PollInterval = time.Second
	}
	if v.MaxPollInterval <= 0 {
		v.MaxPollInterval = 15 * time.Second
	}
	v.MaxPollInterval = max(v.MaxPollInterval, v.PollInterval)
	return v
}

// tasksURL is the tasks collection of an action.
func (m *ModelHandle) tasksURL(kind TaskKind, actionID string) (string, error) {
	p, err := kind.path()
	if err != nil {
		return "", err
	}
	return m.base + "/" + p + "/" + url.PathEscape(actionID) + "/tasks", nil
}

// StartTask starts the action actionID of the given kind and returns the new
// task's ID, without waiting for it.
func (m *ModelHandle) StartTask(ctx context.Context, kind TaskKind, actionID string, opts *RunOptions) (string, error) {
	o := opts.resolved()
	u, err := m.tasksURL(kind, actionID)
	if err != nil {
		return "", err
	}
	// Anaplan answers {"task":{"taskId":…}}; some examples show a bare
	// {"taskId":…}. Accept both.
	var v struct {
		Task *struct {
			TaskID string `json:"taskId"`
		} `json:"task"`
		TaskID string `json:"taskId"`
	}
	if err := m.c.sendJSON(ctx, http.MethodPost, u, map[string]string{"localeName": o.Locale}, &v, true); err != nil {
		return "", err
	}
	id := v.TaskID
	if v.Task != nil && v.Task.TaskID != "" {
		id = v.Task.TaskID
	}
	if id == "" {
		return "", fmt.Errorf("anaplan: starting %s %s: the answer holds no taskId", kind, actionID)
	}
	return id, nil
}

// TaskStatus asks once for the status of a task.
func (m *ModelHandle) TaskStatus(ctx context.Context, kind TaskKind, actionID, taskID string) (*Task, error) {
	u, err := m.tasksURL(kind, actionID)
	if err != nil {
		return nil, err
	}
	var v struct {
		Task *Task `json:"task"`
	}
	if err := m.c.getJSON(ctx, u+"/"+url.PathEscape(taskID), &v, true); err != nil {
		return nil, err
	}
	if v.Task == nil {
		return nil, fmt.Errorf("anaplan: status of %s %s task %s: the answer holds no task", kind, actionID, taskID)
	}
	if v.Task.ID == "" {
		v.Task.ID = taskID
	}
	return v.Task, nil
}

// CancelTask asks Anaplan to cancel a task (DELETE). The task then passes
// through CANCELLING to CANCELLED.
func (m *ModelHandle) CancelTask(ctx context.Context, kind TaskKind, actionID, taskID string) error {
	u, err := m.tasksURL(kind, actionID)
	if err != nil {
		return err
	}
	req, err := m.c.newRequest(ctx, http.MethodDelete, u+"/"+url.PathEscape(taskID), nil, "")
	if err != nil {
		return err
	}
	resp, err := m.c.send(req, true)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

// cancelTimeout bounds the DELETE sent when the caller's context ends.
const cancelTimeout = 30 * time.Second

// Wait polls a task, with growing intervals, until it ends, and returns its
// result. A task that failed or was cancelled returns its result and a
// *TaskError. When ctx ends first, Wait cancels the task on the server
// (DELETE) and returns an error that wraps ctx's error.
func (m *ModelHandle) Wait(ctx context.Context, kind TaskKind, actionID, taskID string, opts *RunOptions) (*TaskResult, error) {
	o := opts.resolved()
	interval := o.PollInterval
	timer := time.NewTimer(0) // the first poll is immediate
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, m.cancelAfter(ctx, kind, actionID, taskID)
		case <-timer.C:
		}
		t, err := m.TaskStatus(ctx, kind, actionID, taskID)
		if err != nil {
			if ctx.Err() != nil {
				return nil, m.cancelAfter(ctx, kind, actionID, taskID)
			}
			return nil, fmt.Errorf("anaplan: waiting for %s %s task %s (it may still be running): %w", kind, actionID, taskID, err)
		}
		if o.Progress != nil {
			o.Progress(*t)
		}
		if t.State.Final() {
			return finish(kind, actionID, t)
		}
		timer.Reset(interval)
		interval = min(interval*3/2, o.MaxPollInterval)
	}
}

// cancelAfter cancels a task whose waiter's context ended.
func (m *ModelHandle) cancelAfter(ctx context.Context, kind TaskKind, actionID, taskID string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	cause := context.Cause(ctx)
	if err := m.CancelTask(cctx, kind, actionID, taskID); err != nil {
		return fmt.Errorf("anaplan: stopped waiting for %s %s task %s, and cancelling it on the server failed (%v): %w", kind, actionID, taskID, err, cause)
	}
	return fmt.Errorf("anaplan: %s %s task %s cancelled: %w", kind, actionID, taskID, cause)
}

// finish turns a final status into the result and, unless it succeeded, a
// *TaskError.
func finish(kind TaskKind, actionID string, t *Task) (*TaskResult, error) {
	res := t.Result
	if res == nil {
		res = &TaskResult{}
	}
	res.State = t.State
	label(res, kind, actionID, t.ID)
	if t.State == TaskCancelled || !res.Successful {
		return res, &TaskError{Kind: kind, ActionID: actionID, TaskID: t.ID, Result: res}
	}
	return res, nil
}

func label(r *TaskResult, kind TaskKind, actionID, taskID string) {
	r.Kind, r.ActionID, r.TaskID = kind, actionID, taskID
	for i := range r.NestedResults {
		label(&r.NestedResults[i], kind, actionID, taskID)
	}
}

// Run starts an action and waits for it: StartTask, then Wait.
func (m *ModelHandle) Run(ctx context.Context, kind TaskKind, actionID string, opts *RunOptions) (*TaskResult, error) {
	id, err := m.StartTask(ctx, kind, actionID, opts)
	if err != nil {
		return nil, err
	}
	return m.Wait(ctx, kind, actionID, id, opts)
}

// RunImport runs an import and waits for it. Upload its file first, or use
// UploadAndImport.
func (m *ModelHandle) RunImport(ctx context.Context, importID string, opts *RunOptions) (*TaskResult, error) {
	return m.Run(ctx, ImportTask, importID, opts)
}

// RunExport runs an export and waits for it; its output is then the file
// with the export's ID (see Download, or ExportAndDownload).
func (m *ModelHandle) RunExport(ctx context.Context, exportID string, opts *RunOptions) (*TaskResult, error) {
	return m.Run(ctx, ExportTask, exportID, opts)
}

// RunProcess runs a process and waits for it. Its result has one nested
// result for each of its actions.
func (m *ModelHandle) RunProcess(ctx context.Context, processID string, opts *RunOptions) (*TaskResult, error) {
	return m.Run(ctx, ProcessTask, processID, opts)
}

// RunAction runs an action (delete, optimizer…) and waits for it.
func (m *ModelHandle) RunAction(ctx context.Context, actionID string, opts *RunOptions) (*TaskResult, error) {
	return m.Run(ctx, ActionTask, actionID, opts)
}

// Dump writes the failure dump of a task result (one of res.Dumps(): the
// result of an import, or a nested result of a process) to w, and returns
// the number of bytes written.
func (m *ModelHandle) Dump(ctx context.Context, res *TaskResult, w io.Writer) (int64, error) {
	if res == nil || res.TaskID == "" || res.ActionID == "" {
		return 0, errors.New("anaplan: Dump needs a result returned by Run or Wait (it names the task)")
	}
	if w == nil {
		return 0, errors.New("anaplan: Dump needs a writer for the failure dump: pass io.Discard to fetch and drop it")
	}
	u, err := m.tasksURL(res.Kind, res.ActionID)
	if err != nil {
		return 0, err
	}
	u += "/" + url.PathEscape(res.TaskID)
	if res.Kind == ProcessTask && res.ObjectID != "" && res.ObjectID != res.ActionID {
		u += "/dumps/" + url.PathEscape(res.ObjectID)
	} else {
		u += "/dump"
	}
	req, err := m.c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/csv, application/octet-stream")
	resp, err := m.c.send(req, true)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("anaplan: copying the failure dump of task %s: %w", res.TaskID, err)
	}
	return n, nil
}

// JobOptions tune the one-call jobs UploadAndImport and ExportAndDownload.
type JobOptions struct {
	Upload   UploadOptions
	Download DownloadOptions
	Run      RunOptions
}

// UploadAndImport uploads r to the file fileID and then runs the import
// importID. An empty fileID means the import's own data source file, looked
// up among the model's imports. Errors are Upload's and Run's.
func (m *ModelHandle) UploadAndImport(ctx context.Context, fileID string, r io.Reader, importID string, opts *JobOptions) (*TaskResult, error) {
	var o JobOptions
	if opts != nil {
		o = *opts
	}
	if fileID == "" {
		for imp, err := range m.Imports(ctx) {
			if err != nil {
				return nil, err
			}
			if imp.ID == importID {
				fileID = imp.ImportDataSourceID
				break
			}
		}
		if fileID == "" {
			return nil, fmt.Errorf("anaplan: import %s was not found in model %s, or names no data source file: pass the file ID", importID, m.model)
		}
	}
	if _, err := m.Upload(ctx, fileID, r, &o.Upload); err != nil {
		return nil, err
	}
	return m.Run(ctx, ImportTask, importID, &o.Run)
}

// ExportAndDownload runs the export exportID and writes the file it produced
// to w. It returns the export's result and the number of bytes written; when
// the export fails nothing is downloaded.
func (m *ModelHandle) ExportAndDownload(ctx context.Context, exportID string, w io.Writer, opts *JobOptions) (*TaskResult, int64, error) {
	var o JobOptions
	if opts != nil {
		o = *opts
	}
	res, err := m.Run(ctx, ExportTask, exportID, &o.Run)
	if err != nil {
		return res, 0, err
	}
	n, err := m.Download(ctx, exportID, w, &o.Download)
	return res, n, err
}
