package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

const (
	testUser     = "ada.lovelace@example.com"
	testPassword = "analytical-engine"
	testWS       = "8a81b09d5e8c6f27015ece3402487d33"
	testModel    = "75A40874E6B64FA3AE0B7E3C5C6E0D8B"
)

// fixture is a fake Anaplan with one workspace and model, and a client
// signed in to it.
type fixture struct {
	srv   *anaplantest.Server
	c     *anaplan.Client
	m     *anaplan.ModelHandle
	calls *callCounter
}

// newFixture starts a fake Anaplan and signs a client in to it. The
// client's transport counts the requests in flight.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := anaplantest.New(t)
	srv.AddUser(testUser, testPassword)
	srv.AddWorkspace(anaplantest.Workspace{ID: testWS, Name: "Finance"})
	srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget"})
	cc := &callCounter{next: srv.Client().Transport}
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(&http.Client{Transport: cc}),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &fixture{srv: srv, c: c, m: c.Model(testWS, testModel), calls: cc}
}

// callCounter is a RoundTripper that records the largest number of chunk
// requests in flight at once.
type callCounter struct {
	next        http.RoundTripper
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func (c *callCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.Contains(req.URL.Path, "/chunks/") {
		return c.next.RoundTrip(req)
	}
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet {
		c.inFlight.Add(-1)
		return resp, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: func() { c.inFlight.Add(-1) }}
	return resp, nil
}

type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

func collect[T any](t testing.TB, seq iter.Seq2[T, error]) []T {
	t.Helper()
	out, err := anaplan.Collect(seq)
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	return out
}

// modelPath is the fixture's model in request paths; modelPattern is the
// same place in the fake's route patterns (for Calls).
const (
	modelPath    = "/2/0/workspaces/" + testWS + "/models/" + testModel
	modelPattern = "/2/0/workspaces/{workspaceID}/models/{modelID}"
)

func TestCurrentUser(t *testing.T) {
	f := newFixture(t)
	u, err := f.c.CurrentUser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := f.srv.UserID(testUser)
	want := &anaplan.User{ID: id, Email: testUser, FirstName: "Ada", LastName: "Lovelace", Active: true}
	if d := cmp.Diff(want, u); d != "" {
		t.Errorf("CurrentUser (-want +got):\n%s", d)
	}
}

func TestListPaging(t *testing.T) {
	f := newFixture(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("ws%02d", i)
		if i == 0 {
			id = testWS
		}
		f.srv.AddWorkspace(anaplantest.Workspace{ID: id, Name: "W" + strconv.Itoa(i)})
		want = append(want, id)
	}
	tests := []struct {
		name     string
		maxPage  int // the server's
		opts     []anaplan.ListOption
		requests int
	}{
		{"one page", anaplantest.MaxPageSize, nil, 1},
		{"server pages of 3", 3, nil, 3},
		{"client pages of 2", anaplantest.MaxPageSize, []anaplan.ListOption{anaplan.PageSize(2)}, 4},
		{"exact pages", 7, nil, 1},
		{"client pages of 1 beyond server max", 1, []anaplan.ListOption{anaplan.PageSize(1 << 20)}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.srv.SetMaxPageSize(tt.maxPage)
			f.srv.ResetCalls()
			var got []string
			for _, w := range collect(t, f.c.Workspaces(context.Background(), tt.opts...)) {
				got = append(got, w.ID)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("workspaces (-want +got):\n%s", d)
			}
			if n := f.srv.Calls("GET /2/0/workspaces"); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
		})
	}

	t.Run("stopping early sends no more requests", func(t *testing.T) {
		f.srv.SetMaxPageSize(2)
		f.srv.ResetCalls()
		for w, err := range f.c.Workspaces(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			if w.ID == "ws02" {
				break
			}
		}
		if n := f.srv.Calls("GET /2/0/workspaces"); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})

	t.Run("an error ends the iteration after the items before it", func(t *testing.T) {
		f.srv.SetMaxPageSize(3)
		f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusInternalServerError, Path: "GET /2/0/workspaces"})
		f.srv.ResetCalls()
		// The first page fails: the transport does not retry 500.
		var got []string
		var gotErr error
		for w, err := range f.c.Workspaces(context.Background()) {
			if err != nil {
				gotErr = err
				continue
			}
			got = append(got, w.ID)
		}
		var ae *anaplan.APIError
		if !errors.As(gotErr, &ae) || ae.StatusCode != 500 {
			t.Fatalf("error %v, want an *APIError with status 500", gotErr)
		}
		if len(got) != 0 {
			t.Errorf("items after the error: %v", got)
		}
	})
}

func TestModels(t *testing.T) {
	f := newFixture(t)
	f.srv.AddModel(testWS, anaplantest.Model{ID: "M2", Name: "Forecast", State: "ARCHIVED"})
	f.srv.AddModel("ws-other", anaplantest.Model{ID: "M3", Name: "Secret", Users: []string{"someone@example.com"}})
	f.srv.AddModel("ws-other", anaplantest.Model{ID: "M4", Name: "Shared"})
	base := f.srv.URL() + "/models/"
	budget := anaplan.Model{ID: testModel, Name: "Budget", ActiveState: "UNLOCKED", WorkspaceID: testWS, WorkspaceName: "Finance", URL: base + testModel}
	forecast := anaplan.Model{ID: "M2", Name: "Forecast", ActiveState: "ARCHIVED", WorkspaceID: testWS, WorkspaceName: "Finance", URL: base + "M2"}
	shared := anaplan.Model{ID: "M4", Name: "Shared", ActiveState: "UNLOCKED", WorkspaceID: "ws-other", WorkspaceName: "ws-other", URL: base + "M4"}
	// The lists and Info ask for the model details (modelDetails=true).
	created := f.srv.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	for _, m := range []*anaplan.Model{&budget, &forecast, &shared} {
		m.MemoryUsage, m.LastSavedSerialNumber, m.CreationDate, m.LastModified = 64<<20, 1000000, created, created
	}

	ctx := context.Background()
	if d := cmp.Diff([]anaplan.Model{budget, forecast, shared}, collect(t, f.c.Models(ctx))); d != "" {
		t.Errorf("Models (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]anaplan.Model{budget, forecast}, collect(t, f.c.WorkspaceModels(ctx, testWS))); d != "" {
		t.Errorf("WorkspaceModels (-want +got):\n%s", d)
	}
	info, err := f.m.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&budget, info); d != "" {
		t.Errorf("Info (-want +got):\n%s", d)
	}
	if f.m.WorkspaceID() != testWS || f.m.ID() != testModel {
		t.Errorf("handle names %s/%s", f.m.WorkspaceID(), f.m.ID())
	}
}

func TestModelNotFoundMayMeanNoAccess(t *testing.T) {
	f := newFixture(t)
	f.srv.AddModel(testWS, anaplantest.Model{ID: "LOCKED", Name: "Payroll", Users: []string{"grace@example.com"}})
	ctx := context.Background()
	calls := map[string]func(m *anaplan.ModelHandle) error{
		"Info":  func(m *anaplan.ModelHandle) error { _, err := m.Info(ctx); return err },
		"Files": func(m *anaplan.ModelHandle) error { _, err := anaplan.Collect(m.Files(ctx)); return err },
		"Upload": func(m *anaplan.ModelHandle) error {
			_, err := m.Upload(ctx, "F", strings.NewReader("x"), nil)
			return err
		},
		"Download": func(m *anaplan.ModelHandle) error {
			_, err := m.Download(ctx, "F", io.Discard, nil)
			return err
		},
		"RunImport": func(m *anaplan.ModelHandle) error { _, err := m.RunImport(ctx, "I", nil); return err },
	}
	for _, model := range []string{"LOCKED", "NO-SUCH-MODEL"} {
		for name, call := range calls {
			t.Run(model+"/"+name, func(t *testing.T) {
				err := call(f.c.Model(testWS, model))
				var ae *anaplan.APIError
				if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
					t.Fatalf("error %v, want a 404 *APIError", err)
				}
				if !strings.Contains(ae.Hint, "no access") || !strings.Contains(err.Error(), "no access") {
					t.Errorf("hint %q does not say it may mean no access", ae.Hint)
				}
			})
		}
	}
	t.Run("not for lists outside a model", func(t *testing.T) {
		_, err := anaplan.Collect(f.c.WorkspaceModels(ctx, "NO-SUCH-WS"))
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
			t.Fatalf("error %v, want a 404 *APIError", err)
		}
	})
	t.Run("the model is invisible to the user", func(t *testing.T) {
		for _, m := range collect(t, f.c.Models(ctx)) {
			if m.ID == "LOCKED" {
				t.Errorf("a model the user cannot access was listed")
			}
		}
	})
}

func TestModelContents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: "113000000000", Name: "Sales.csv", Content: []byte("a,b\n1,2\n"), ChunkSize: 4})
	f.srv.AddImport(testWS, testModel, anaplantest.Import{ID: "112000000000", Name: "Sales from Sales.csv", FileID: "113000000000"})
	f.srv.AddExport(testWS, testModel, anaplantest.Export{ID: "116000000000", Name: "Grid.csv"})
	f.srv.AddProcess(testWS, testModel, anaplantest.Process{ID: "118000000000", Name: "Nightly"})
	f.srv.AddAction(testWS, testModel, anaplantest.Action{ID: "117000000000", Name: "Clear", Type: "DELETE_BY_SELECTION"})

	if d := cmp.Diff([]anaplan.File{{ID: "113000000000", Name: "Sales.csv", ChunkCount: 2, Delimiter: `"`, Encoding: "UTF-8", FirstDataRow: 2, Format: "txt", HeaderRow: 1, Separator: ","}},
		collect(t, f.m.Files(ctx))); d != "" {
		t.Errorf("Files (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]anaplan.Import{{ID: "112000000000", Name: "Sales from Sales.csv", ImportDataSourceID: "113000000000", ImportType: "MODULE_DATA"}},
		collect(t, f.m.Imports(ctx))); d != "" {
		t.Errorf("Imports (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]anaplan.Export{{ID: "116000000000", Name: "Grid.csv", ExportType: "GRID_CURRENT_PAGE", ExportFormat: "text/csv", Encoding: "UTF-8", Layout: "GRID_CURRENT_PAGE"}},
		collect(t, f.m.Exports(ctx))); d != "" {
		t.Errorf("Exports (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]anaplan.Process{{ID: "118000000000", Name: "Nightly"}}, collect(t, f.m.Processes(ctx))); d != "" {
		t.Errorf("Processes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]anaplan.Action{{ID: "117000000000", Name: "Clear", ActionType: "DELETE_BY_SELECTION"}}, collect(t, f.m.Actions(ctx))); d != "" {
		t.Errorf("Actions (-want +got):\n%s", d)
	}
	// An empty list: Anaplan leaves the array out.
	empty := f.c.Model(testWS, "EMPTY")
	f.srv.AddModel(testWS, anaplantest.Model{ID: "EMPTY"})
	if got := collect(t, empty.Files(ctx)); len(got) != 0 {
		t.Errorf("Files of an empty model: %v", got)
	}
}

// answerWith is a RoundTripper that answers every request with one body.
type answerWith struct {
	status int
	body   []byte
}

func (a answerWith) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: a.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(a.body)),
		Request: req, ContentLength: int64(len(a.body)),
	}, nil
}

// offlineClient is a client whose every request gets the same answer.
func offlineClient(t testing.TB, status int, body []byte) *anaplan.Client {
	t.Helper()
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: "https://auth.example.test", API: "https://api.example.test/2/0"}),
		anaplan.WithHTTPClient(&http.Client{Transport: answerWith{status, body}}),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: "t", Type: "AnaplanAuthToken"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzListAnswer feeds arbitrary answers to the list parser: it must never
// panic nor loop, and must either yield items or an error.
func FuzzListAnswer(f *testing.F) {
	for _, s := range []string{
		`{"meta":{"paging":{"currentPageSize":1,"offset":0,"totalSize":1}},"status":{"code":200},"files":[{"id":"1","name":"a","chunkCount":2}]}`,
		`{"meta":{"paging":{"currentPageSize":0,"offset":0,"totalSize":0}},"status":{"code":200}}`,
		`{"meta":{"paging":{"currentPageSize":1,"offset":0,"totalSize":5}},"files":[{"id":"1"}]}`,
		`{"files":null}`,
		`{"files":[{"id":1}]}`,
		`{"meta":{"paging":"x"}}`,
		`{"meta":{"paging":{"totalSize":-1}},"files":[]}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(404, []byte(`{"status":{"code":404,"message":"Not Found"},"path":"/x"}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		c := offlineClient(t, status, body)
		n := 0
		for _, err := range c.Model("w", "m").Files(context.Background()) {
			if n++; n > 10_000 {
				t.Fatal("the iteration does not end")
			}
			if err != nil {
				if strings.Contains(err.Error(), "Bearer") || strings.Contains(err.Error(), "AnaplanAuthToken t") {
					t.Fatalf("error shows a credential: %v", err)
				}
			}
		}
	})
}

func ExampleModelHandle_Files() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddUser("ada@example.com", "secret")
	srv.AddFile("WS", "MODEL", anaplantest.File{ID: "113000000001", Name: "Sales.csv"})
	srv.AddFile("WS", "MODEL", anaplantest.File{ID: "113000000002", Name: "Costs.csv"})

	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithBasic("ada@example.com", "secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	for file, err := range c.Model("WS", "MODEL").Files(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(file.ID, file.Name)
	}
	// Output:
	// 113000000001 Sales.csv
	// 113000000002 Costs.csv
}
