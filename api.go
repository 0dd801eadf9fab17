package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file is the typed side of the Integration API: the signed-in user,
// workspaces, models, and the files, imports, exports, processes and actions
// of a model, listed page by page behind Go iterators. Moving files is in
// api_files.go, running actions in api_tasks.go.

// MaxPageSize is the largest page the Integration API serves, and the page
// size the list methods ask for unless told otherwise (see PageSize).
const MaxPageSize = 5000

// maxListBody bounds one page of a list answer.
const maxListBody = 64 << 20

// noAccessHint is the Hint of a 404 about a model or anything in it.
const noAccessHint = "Anaplan also answers 404 when the user has no access to the workspace or model: check the IDs and that the user can open the model"

// User is an Anaplan user, as GET /users/me describes the signed-in one.
type User struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	FirstName     string `json:"firstName,omitempty"`
	LastName      string `json:"lastName,omitempty"`
	Active        bool   `json:"active"`
	CustomerID    string `json:"customerId,omitempty"`
	LastLoginDate string `json:"lastLoginDate,omitempty"`
}

// Workspace is an Anaplan workspace.
type Workspace struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Active        bool   `json:"active"`
	SizeAllowance int64  `json:"sizeAllowance"` // bytes
	CurrentSize   int64  `json:"currentSize"`   // bytes
}

// Model is an Anaplan model. The fields after URL are the model details
// Anaplan adds when asked (modelDetails=true, as Info and the model lists
// ask); they are zero when a server leaves them out.
type Model struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	ActiveState   string `json:"activeState,omitempty"` // UNLOCKED, ARCHIVED, MAINTENANCE…
	WorkspaceID   string `json:"currentWorkspaceId"`
	WorkspaceName string `json:"currentWorkspaceName,omitempty"`
	URL           string `json:"modelUrl,omitempty"`

	MemoryUsage             int64  `json:"memoryUsage,omitempty"` // bytes
	LastSavedSerialNumber   int64  `json:"lastSavedSerialNumber,omitempty"`
	ModelTransactionRunning bool   `json:"modelTransactionRunning,omitempty"` // an import, export or write is running
	LastModifiedByUserGUID  string `json:"lastModifiedByUserGuid,omitempty"`
	CreationDate            string `json:"isoCreationDate,omitempty"` // ISO 8601, as Anaplan sends it
	LastModified            string `json:"lastModified,omitempty"`
}

// File is a file of a model: the data source of an import, or the output of
// an export (which has the export's ID).
type File struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ChunkCount   int    `json:"chunkCount"`
	Delimiter    string `json:"delimiter,omitempty"`
	Encoding     string `json:"encoding,omitempty"`
	FirstDataRow int    `json:"firstDataRow,omitempty"`
	Format       string `json:"format,omitempty"`
	HeaderRow    int    `json:"headerRow,omitempty"`
	Separator    string `json:"separator,omitempty"`
}

// Import is an import action of a model.
type Import struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	ImportDataSourceID string `json:"importDataSourceId,omitempty"` // the file it reads
	ImportType         string `json:"importType,omitempty"`
}

// Export is an export action of a model. The file it writes has its ID.
type Export struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ExportType   string `json:"exportType,omitempty"`
	ExportFormat string `json:"exportFormat,omitempty"`
	Encoding     string `json:"encoding,omitempty"`
	Layout       string `json:"layout,omitempty"`
}

// Process is a process of a model: a sequence of other actions.
type Process struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Action is any other action of a model (delete, optimizer…).
type Action struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ActionType string `json:"actionType,omitempty"`
}

// ListOption adjusts how a list method pages through Anaplan's answers.
type ListOption func(*listConfig)

type listConfig struct{ pageSize int }

// PageSize sets how many items a list method asks for in one request
// (between 1 and MaxPageSize; default MaxPageSize). Callers never see the
// pages; smaller pages only mean more requests.
func PageSize(n int) ListOption {
	return func(c *listConfig) { c.pageSize = min(max(n, 1), MaxPageSize) }
}

// CurrentUser returns the signed-in user (GET /users/me).
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	var v struct {
		User *User `json:"user"`
	}
	if err := c.getJSON(ctx, c.endpoints.API+"/users/me", &v, false); err != nil {
		return nil, err
	}
	if v.User == nil {
		return nil, errors.New("anaplan: GET /users/me answered without a user")
	}
	return v.User, nil
}

// Workspaces lists the workspaces the user can see. Iteration stops at the
// first error, which is yielded with a zero Workspace.
func (c *Client) Workspaces(ctx context.Context, opts ...ListOption) iter.Seq2[Workspace, error] {
	return list[Workspace](ctx, c, c.endpoints.API+"/workspaces?tenantDetails=true", "workspaces", false, opts)
}

// Models lists every model the user can see, in every workspace.
func (c *Client) Models(ctx context.Context, opts ...ListOption) iter.Seq2[Model, error] {
	return list[Model](ctx, c, c.endpoints.API+"/models?modelDetails=true", "models", false, opts)
}

// WorkspaceModels lists the models of one workspace that the user can see.
func (c *Client) WorkspaceModels(ctx context.Context, workspaceID string, opts ...ListOption) iter.Seq2[Model, error] {
	return list[Model](ctx, c, c.endpoints.API+"/workspaces/"+url.PathEscape(workspaceID)+"/models?modelDetails=true", "models", true, opts)
}

// ModelHandle reaches one model: its files, actions and tasks. Making one
// sends no request. It is safe for concurrent use.
type ModelHandle struct {
	c         *Client
	workspace string
	model     string
	base      string // {api}/workspaces/{ws}/models/{m}
}

// Model returns a handle on the model modelID of workspace workspaceID. A
// model that does not exist or that the user cannot access surfaces as a 404
// *APIError from the handle's first call, with a Hint saying so.
func (c *Client) Model(workspaceID, modelID string) *ModelHandle {
	return &ModelHandle{
		c:         c,
		workspace: workspaceID,
		model:     modelID,
		base:      c.endpoints.API + "/workspaces/" + url.PathEscape(workspaceID) + "/models/" + url.PathEscape(modelID),
	}
}

// WorkspaceID is the handle's workspace.
func (m *ModelHandle) WorkspaceID() string { return m.workspace }

// ID is the handle's model.
func (m *ModelHandle) ID() string { return m.model }

// String describes the handle.
func (m *ModelHandle) String() string {
	return "anaplan.ModelHandle{Workspace:" + m.workspace + " Model:" + m.model + "}"
}

// Info fetches the model's description with its details (GET
// {api}/models/{m}?modelDetails=true: Anaplan answers 405 on the
// workspace's path); it is also the cheapest way to check that the model
// exists, that the user can access it, and that it is in the handle's
// workspace (an error says where it is when it is not).
func (m *ModelHandle) Info(ctx context.Context) (*Model, error) {
	var v struct {
		Model *Model `json:"model"`
	}
	u := m.c.endpoints.API + "/models/" + url.PathEscape(m.model) + "?modelDetails=true"
	if err := m.c.getJSON(ctx, u, &v, true); err != nil {
		return nil, err
	}
	if v.Model == nil {
		return nil, errors.New("anaplan: the model's answer holds no model")
	}
	if ws := v.Model.WorkspaceID; ws != "" && !strings.EqualFold(ws, m.workspace) {
		return nil, errorf("anaplan: model %s is in workspace %s (%s), not %s: use Client.Model(%q, %q)", m.model, ws, v.Model.WorkspaceName, m.workspace, ws, m.model)
	}
	return v.Model, nil
}

// Files lists the model's files.
func (m *ModelHandle) Files(ctx context.Context, opts ...ListOption) iter.Seq2[File, error] {
	return list[File](ctx, m.c, m.base+"/files", "files", true, opts)
}

// Imports lists the model's imports.
func (m *ModelHandle) Imports(ctx context.Context, opts ...ListOption) iter.Seq2[Import, error] {
	return list[Import](ctx, m.c, m.base+"/imports", "imports", true, opts)
}

// Exports lists the model's exports.
func (m *ModelHandle) Exports(ctx context.Context, opts ...ListOption) iter.Seq2[Export, error] {
	return list[Export](ctx, m.c, m.base+"/exports", "exports", true, opts)
}

// Processes lists the model's processes.
func (m *ModelHandle) Processes(ctx context.Context, opts ...ListOption) iter.Seq2[Process, error] {
	return list[Process](ctx, m.c, m.base+"/processes", "processes", true, opts)
}

// Actions lists the model's other actions.
func (m *ModelHandle) Actions(ctx context.Context, opts ...ListOption) iter.Seq2[Action, error] {
	return list[Action](ctx, m.c, m.base+"/actions", "actions", true, opts)
}

// Collect gathers what a list method yields into a slice, stopping at the
// first error.
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// list pages through a list endpoint with limit and offset, yielding items
// one by one. It advances by the number of items received, so a server that
// serves smaller pages than asked is followed correctly.
func list[T any](ctx context.Context, c *Client, base, key string, inModel bool, opts []ListOption) iter.Seq2[T, error] {
	cfg := listConfig{pageSize: MaxPageSize}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return func(yield func(T, error) bool) {
		var zero T
		sep := "?"
		if u, err := url.Parse(base); err == nil && u.RawQuery != "" {
			sep = "&"
		}
		var items []T // reused from page to page
		var ub []byte // the page's URL, built in place
		for offset := 0; ; {
			ub = strconv.AppendInt(append(append(append(ub[:0], base...), sep...), "limit="...), int64(cfg.pageSize), 10)
			ub = strconv.AppendInt(append(ub, "&offset="...), int64(offset), 10)
			u := string(ub)
			var paging *listPaging
			err := c.getDecoded(ctx, u, inModel, func(dec *json.Decoder) error {
				items = items[:0]
				return decodeObject(dec, func(k string) error {
					var err error
					switch k {
					case key:
						items, err = decodeItems(dec, items, cfg.pageSize, key, "the page size asked for")
					case "meta":
						var meta struct {
							Paging *listPaging `json:"paging"`
						}
						if err = dec.Decode(&meta); err != nil {
							err = fmt.Errorf("the paging information is not the JSON expected: %w", notJSON(err))
						}
						paging = meta.Paging
					default:
						err = skipValue(dec)
					}
					return err
				})
			})
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			offset += len(items)
			if paging == nil || len(items) == 0 || offset >= paging.TotalSize {
				return
			}
		}
	}
}

// listPaging is the meta.paging of a list answer.
type listPaging struct {
	CurrentPageSize int `json:"currentPageSize"`
	TotalSize       int `json:"totalSize"`
}

// newRequest builds a request; a body is sent from bytes so that the
// transport can send it again when it retries.
func (c *Client) newRequest(ctx context.Context, method, u string, body []byte, contentType string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, errorf("anaplan: cannot build the request for %s: %w", redactURL(u), err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header["Accept"] = acceptJSON
	return req, nil
}

// acceptJSON is the Accept value of the API's requests, shared by all
// (header values are never modified in place: see withHeaders).
var acceptJSON = []string{"application/json"}

// send sends a request and turns a non-2xx answer into an *APIError; with
// inModel, a 404 gets the no-access Hint.
func (c *Client) send(req *http.Request, inModel bool) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if err := CheckResponse(resp); err != nil {
		var ae *APIError
		if inModel && errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound && ae.Hint == "" {
			ae.Hint = noAccessHint
		}
		return nil, err
	}
	return resp, nil
}

// getJSON sends a GET and decodes its JSON answer into v.
func (c *Client) getJSON(ctx context.Context, u string, v any, inModel bool) error {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return err
	}
	return c.doJSON(req, v, inModel)
}

// sendJSON sends body as JSON and decodes the JSON answer into v (when v is
// not nil).
func (c *Client) sendJSON(ctx context.Context, method, u string, body, v any, inModel bool) error {
	b, err := json.Marshal(body)
	if err != nil {
		return errorf("anaplan: cannot encode the request body: %w", err)
	}
	req, err := c.newRequest(ctx, method, u, b, "application/json")
	if err != nil {
		return err
	}
	return c.doJSON(req, v, inModel)
}

func (c *Client) doJSON(req *http.Request, v any, inModel bool) error {
	resp, err := c.send(req, inModel)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody+1))
	if err != nil {
		return errorf("anaplan: %s %s: reading the answer: %w", req.Method, redactURL(req.URL.String()), err)
	}
	if len(body) > maxListBody {
		return errorf("anaplan: %s %s: the answer is larger than %d MiB", req.Method, redactURL(req.URL.String()), maxListBody>>20)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf("anaplan: %s %s: the answer is not the JSON expected: %w", req.Method, redactURL(req.URL.String()), err)
	}
	return nil
}
