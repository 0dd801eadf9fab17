package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Failure dumps: the rows an import (or another action) rejected, as CSV.

// Dump writes the failure dump of a task result (one of res.Dumps(): the
// result of an import, or a nested result of any task) to w, and returns
// the number of bytes written.
//
// Dumps are fetched in chunks (…/dump/chunks/{n}, up to 10 MB each), in
// order, each streamed to w: memory stays small however large the dump.
// Where the chunked form is not offered, the whole dump (…/dump) is
// streamed instead. A nested result's dump is at …/dumps/{objectId}.
//
// Anaplan keeps a dump for 48 hours after it was last fetched, and replaces
// it when the action runs again; a dump that is gone gets an error that
// says so (and wraps the 404 *APIError).
func (m *ModelHandle) Dump(ctx context.Context, res *TaskResult, w io.Writer) (int64, error) {
	if res == nil || res.TaskID == "" || res.ActionID == "" {
		return 0, errors.New("anaplan: Dump needs a result returned by Run or Wait (it names the task)")
	}
	if w == nil {
		return 0, errors.New("anaplan: Dump needs a writer for the failure dump: pass io.Discard to fetch and drop it")
	}
	if !res.FailureDumpAvailable {
		return 0, errorf("anaplan: the result of %s %s task %s offers no failure dump: pass one of its Dumps()", res.Kind, res.ObjectID, res.TaskID)
	}
	u, err := m.tasksURL(res.Kind, res.ActionID)
	if err != nil {
		return 0, err
	}
	u += "/" + url.PathEscape(res.TaskID)
	// Results from before Nested existed: a process's results other than
	// its own are nested.
	if res.ObjectID != "" && (res.Nested || res.Kind == ProcessTask && res.ObjectID != res.ActionID) {
		u += "/dumps/" + url.PathEscape(res.ObjectID)
	} else {
		u += "/dump"
	}

	var list struct {
		Chunks []struct {
			ID json.RawMessage `json:"id"`
		} `json:"chunks"`
	}
	switch err := m.c.getJSON(ctx, u+"/chunks", &list, true); {
	case err == nil:
	case hasStatus(err, http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusNotImplemented):
		// No chunks offered (or no dump): the whole form says which.
		return m.dumpPart(ctx, res, u, w, 0)
	default:
		return 0, m.dumpError(res, 0, err)
	}
	var written int64
	for i, c := range list.Chunks {
		id := string(bytes.Trim(c.ID, `"`))
		if id == "" || id == "null" {
			return written, errorf("anaplan: the failure dump of task %s lists chunk %d without an id", res.TaskID, i)
		}
		n, err := m.dumpPart(ctx, res, u+"/chunks/"+url.PathEscape(id), w, written)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// dumpPart streams one GET (the whole dump or one chunk) to w; done is what
// was written before it, for errors.
func (m *ModelHandle) dumpPart(ctx context.Context, res *TaskResult, u string, w io.Writer, done int64) (int64, error) {
	req, err := m.c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/csv, application/octet-stream")
	resp, err := m.c.send(req, true)
	if err != nil {
		return 0, m.dumpError(res, done, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return 0, nil
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, errorf("anaplan: copying the failure dump of task %s (after %d bytes): %w", res.TaskID, done+n, err)
	}
	return n, nil
}

// dumpError explains a failed dump request; a 404 means the dump is gone.
func (m *ModelHandle) dumpError(res *TaskResult, done int64, err error) error {
	after := ""
	if done > 0 {
		after = fmt.Sprintf(" (after %d bytes)", done)
	}
	if hasStatus(err, http.StatusNotFound) {
		return errorf("anaplan: the failure dump of %s %s task %s is no longer available%s: Anaplan deletes dumps 48 hours after they were last fetched, and replaces them when the action runs again; run the action again for a new one: %w",
			res.Kind, res.ActionID, res.TaskID, after, err)
	}
	return errorf("anaplan: fetching the failure dump of task %s%s: %w", res.TaskID, after, err)
}

// hasStatus reports whether err is an *APIError with one of the statuses.
func hasStatus(err error, statuses ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.StatusCode == s {
			return true
		}
	}
	return false
}
