package anaplan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
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
	return "", errorf("anaplan: unknown task kind %q: use ImportTask, ExportTask, ProcessTask or ActionTask", string(k))
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
	ID    string    `json:"taskId"`
	State TaskState `json:"taskState"`
	// Progress is the fraction done, from 0 to 1, as Anaplan reports it (a
	// transfer's progress is a TransferProgress).
	Progress     float64     `json:"progress"`
	CurrentStep  string      `json:"currentStep,omitempty"`
	CreationTime int64       `json:"creationTime,omitempty"` // Unix milliseconds
	CancelledBy  string      `json:"cancelledBy,omitempty"`  // who cancelled it, when someone did
	Result       *TaskResult `json:"result,omitempty"`       // once COMPLETE
}

// TaskResult is the outcome of a task: of an action, or one of its nested
// results (one for each action of a process; some imports report them too).
type TaskResult struct {
	ObjectID             string       `json:"objectId,omitempty"`   // the action the result is about
	ObjectName           string       `json:"objectName,omitempty"` // its name, where Anaplan sends it
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
	Nested   bool      `json:"nested,omitempty"`    // one of another result's NestedResults: its dump is at …/dumps/{ObjectID}
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
	// MappingParameters answer an import's "prompt at runtime" mappings;
	// imports and processes only.
	MappingParameters []MappingParameter
	// PollInterval is the first wait between status requests (default 1 s);
	// the wait grows by half each time up to MaxPollInterval (default 15 s).
	// Against anaplantest, use a millisecond: the fake counts polls, not
	// time (see also its SetInstantTasks).
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// MaxFailedPolls is how many status requests in a row may fail with a
	// network error, an answer cut short or garbled, 408, 429 or a 5xx
	// (after the transport's own retries) before Wait gives up and returns
	// the last error; the task
	// runs on in Anaplan meanwhile. Default 30, as Anaplan Connect;
	// negative: give up at the first. Any other error ends the wait at
	// once.
	MaxFailedPolls int
	// BusyTimeout bounds how long StartTask retries a start that Anaplan
	// refused with 409 or 423 (the model is busy with another action, or
	// locked: such a start started nothing), waiting as between polls.
	// Default 10 minutes; negative: no retries.
	BusyTimeout time.Duration
	// Progress, when set, is the progress callback: it is called with every
	// status the task reports (Task.Progress is the fraction done), from
	// the goroutine that waits.
	Progress func(Task)
}

// MappingParameter answers one "prompt at runtime" mapping of an import: the
// item EntityName of the dimension EntityType, e.g. {EntityType: "Version",
// EntityName: "Actual"}. In a process, ImportID limits it to one of the
// process's imports; empty, it applies to every import that asks.
type MappingParameter struct {
	ImportID   string `json:"importId,omitempty"`
	EntityType string `json:"entityType"`
	EntityName string `json:"entityName"`
}

// Defaults of RunOptions.
const (
	DefaultMaxFailedPolls = 30
	DefaultBusyTimeout    = 10 * time.Minute
)

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
	switch {
	case v.MaxFailedPolls == 0:
		v.MaxFailedPolls = DefaultMaxFailedPolls
	case v.MaxFailedPolls < 0:
		v.MaxFailedPolls = 0
	}
	switch {
	case v.BusyTimeout == 0:
		v.BusyTimeout = DefaultBusyTimeout
	case v.BusyTimeout < 0:
		v.BusyTimeout = 0
	}
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
//
// A start Anaplan refuses because the model is busy or locked (409, 423)
// started nothing, and is tried again, waiting as between polls, for up to
// opts.BusyTimeout or until ctx ends. An archived model (422), a model
// offline for maintenance (424) or in deployed mode (425) gets an error
// that says so. A start whose outcome is unknown (a network error once the
// request may have been sent, a 5xx answer) is never sent again: the
// error says to check the action's tasks before running it again.
func (m *ModelHandle) StartTask(ctx context.Context, kind TaskKind, actionID string, opts *RunOptions) (string, error) {
	o := opts.resolved()
	u, err := m.tasksURL(kind, actionID)
	if err != nil {
		return "", err
	}
	if len(o.MappingParameters) > 0 && kind != ImportTask && kind != ProcessTask {
		return "", errorf("anaplan: RunOptions.MappingParameters apply to imports and processes, not to %s %s", kind, actionID)
	}
	for i, p := range o.MappingParameters {
		if p.EntityType == "" || p.EntityName == "" {
			return "", errorf("anaplan: RunOptions.MappingParameters[%d] needs EntityType and EntityName", i)
		}
	}
	body := struct {
		LocaleName        string             `json:"localeName"`
		MappingParameters []MappingParameter `json:"mappingParameters,omitempty"`
	}{o.Locale, o.MappingParameters}

	deadline := time.Now().Add(o.BusyTimeout)
	wait := o.PollInterval
	for {
		id, err := m.startOnce(ctx, u, body)
		if err == nil {
			if id == "" {
				return "", errorf("anaplan: starting %s %s: the answer holds no taskId", kind, actionID)
			}
			return id, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			if ctx.Err() != nil {
				return "", errorf("anaplan: starting %s %s stopped with the context (if the request had reached Anaplan, whether the task started is unknown: check the action's tasks with ModelHandle.Tasks): %w", kind, actionID, err)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				return "", errorf("anaplan: starting %s %s: the request failed, and whether the task started is unknown, so it was not sent again: check the action's tasks (ModelHandle.Tasks) before running it again: %w", kind, actionID, err)
			}
			return "", err
		}
		switch ae.StatusCode {
		case http.StatusConflict, http.StatusLocked:
			why := "busy with another action"
			if ae.StatusCode == http.StatusLocked {
				why = "locked"
			}
			if time.Now().Add(wait).After(deadline) {
				return "", errorf("anaplan: cannot start %s %s: the model is %s (it stayed so for RunOptions.BusyTimeout, %v): %w", kind, actionID, why, o.BusyTimeout, err)
			}
			if err := sleepCtx(ctx, wait); err != nil {
				return "", errorf("anaplan: %s %s was not started (the model was %s when the context ended): %w", kind, actionID, why, context.Cause(ctx))
			}
			wait = min(wait*2, o.MaxPollInterval)
			continue
		case http.StatusUnprocessableEntity:
			return "", errorf("anaplan: cannot start %s %s: the model is archived: restore it in Anaplan first: %w", kind, actionID, err)
		case http.StatusFailedDependency:
			return "", errorf("anaplan: cannot start %s %s: the model is offline (maintenance): try again once it is back online: %w", kind, actionID, err)
		case http.StatusTooEarly:
			return "", errorf("anaplan: cannot start %s %s: the model is in deployed mode, which does not allow this action: run it in the development model, or change the model's mode: %w", kind, actionID, err)
		}
		if ae.StatusCode >= 500 {
			return "", errorf("anaplan: starting %s %s: Anaplan answered %d, so whether the task started is unknown and it was not sent again: check the action's tasks (ModelHandle.Tasks) before running it again: %w", kind, actionID, ae.StatusCode, err)
		}
		return "", err
	}
}

// startOnce sends one task start. The transport sends it again only on 429
// (the server did not act on it): a POST is not retried on network errors or
// 5xx answers, and this one is not marked safe to repeat (withRetrySafe).
func (m *ModelHandle) startOnce(ctx context.Context, u string, body any) (string, error) {
	// Anaplan answers {"task":{"taskId":…}}; older examples show a bare
	// {"taskId":…}. Accept both.
	var v struct {
		Task *struct {
			TaskID string `json:"taskId"`
		} `json:"task"`
		TaskID string `json:"taskId"`
	}
	if err := m.c.sendJSON(ctx, http.MethodPost, u, body, &v, true); err != nil {
		return "", err
	}
	if v.Task != nil && v.Task.TaskID != "" {
		return v.Task.TaskID, nil
	}
	return v.TaskID, nil
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
		return nil, errorf("anaplan: status of %s %s task %s: the answer holds no task", kind, actionID, taskID)
	}
	if v.Task.ID == "" {
		v.Task.ID = taskID
	}
	return v.Task, nil
}

// Tasks lists the tasks of an action that Anaplan still knows (running, or
// recently ended), oldest first, with their ID, state and creation time: the
// way to find out whether a start whose outcome was unknown did start.
func (m *ModelHandle) Tasks(ctx context.Context, kind TaskKind, actionID string, opts ...ListOption) iter.Seq2[Task, error] {
	u, err := m.tasksURL(kind, actionID)
	if err != nil {
		return func(yield func(Task, error) bool) { yield(Task{}, err) }
	}
	return list[Task](ctx, m.c, u, "tasks", true, opts)
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
	failed := 0 // status requests failed in a row
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
			if !transientPollError(err) {
				return nil, errorf("anaplan: waiting for %s %s task %s (it may still be running): %w", kind, actionID, taskID, err)
			}
			if failed++; failed > o.MaxFailedPolls {
				return nil, errorf("anaplan: waiting for %s %s task %s: gave up after %d failed status requests in a row (it may still be running; RunOptions.MaxFailedPolls is %d): %w", kind, actionID, taskID, failed, o.MaxFailedPolls, err)
			}
			timer.Reset(interval)
			interval = min(interval*3/2, o.MaxPollInterval)
			continue
		}
		failed = 0
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

// transientPollError reports whether a failed status request may succeed
// when sent again later: a network error, an answer cut short or garbled,
// 408, 429 or a 5xx answer. Other answers (401, 404…) will not change by
// waiting.
func transientPollError(err error) bool {
	if errors.Is(err, ErrInteractionRequired) || errors.Is(err, ErrUnauthorized) {
		return false // signing in again needs a person, or other credentials
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusRequestTimeout || ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode >= 500
	}
	return true // a network error, or an answer cut short or garbled
}

// cancelAfter cancels a task whose waiter's context ended.
func (m *ModelHandle) cancelAfter(ctx context.Context, kind TaskKind, actionID, taskID string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	cause := context.Cause(ctx)
	if err := m.CancelTask(cctx, kind, actionID, taskID); err != nil {
		return errorf("anaplan: stopped waiting for %s %s task %s, and cancelling it on the server failed (%v): %w", kind, actionID, taskID, err, cause)
	}
	return errorf("anaplan: %s %s task %s cancelled: %w", kind, actionID, taskID, cause)
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
		r.NestedResults[i].Nested = true
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
			return nil, errorf("anaplan: import %s was not found in model %s, or names no data source file: pass the file ID", importID, m.model)
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
