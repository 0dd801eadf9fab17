package anaplantest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	iUser  = "grace.hopper@example.com"
	iPass  = "cobol"
	iModel = "/2/0/workspaces/WS/models/M"
)

// integAnswer is a decoded Integration API answer.
type integAnswer struct {
	status int
	ctype  string
	raw    []byte
	body   map[string]any
}

// integrationServer is a server with one user, signed in, and one model.
func integrationServer(t *testing.T, opts ...Option) (*Server, func(method, path, ctype string, body []byte) integAnswer) {
	t.Helper()
	s := New(t, opts...)
	s.AddUser(iUser, iPass)
	s.AddWorkspace(Workspace{ID: "WS", Name: "Finance"})
	s.AddModel("WS", Model{ID: "M", Name: "Budget"})
	var token string
	do := func(method, path, ctype string, body []byte) integAnswer {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(context.Background(), method, s.URL()+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "AnaplanAuthToken "+token)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := integAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: raw}
		if strings.HasPrefix(a.ctype, "application/json") {
			if err := json.Unmarshal(raw, &a.body); err != nil {
				t.Fatalf("%s %s: not JSON: %s", method, path, raw)
			}
		}
		return a
	}
	req, _ := http.NewRequest("POST", s.URL()+"/token/authenticate", nil)
	req.SetBasicAuth(iUser, iPass)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var auth struct{ TokenInfo struct{ TokenValue string } }
	_ = json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	token = auth.TokenInfo.TokenValue
	if token == "" {
		t.Fatal("could not sign in")
	}
	return s, do
}

func integJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// integDig walks decoded JSON.
func integDig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestIntegrationNeedsAToken(t *testing.T) {
	s := New(t)
	s.AddWorkspace(Workspace{ID: "WS"})
	resp, err := s.Client().Get(s.URL() + "/2/0/workspaces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d without a token, want 401", resp.StatusCode)
	}
}

func TestIntegrationPaging(t *testing.T) {
	s, do := integrationServer(t)
	for _, id := range []string{"W1", "W2", "W3", "W4"} {
		s.AddWorkspace(Workspace{ID: id, Name: "n" + id})
	}
	tests := []struct {
		query    string
		ids      []any
		paging   map[string]any
		maxPage  int
		wantCode int
	}{
		{query: "", ids: []any{"WS", "W1", "W2", "W3", "W4"}, paging: map[string]any{"currentPageSize": 5.0, "offset": 0.0, "totalSize": 5.0}},
		{query: "?limit=2&offset=2", ids: []any{"W2", "W3"}, paging: map[string]any{"currentPageSize": 2.0, "offset": 2.0, "totalSize": 5.0,
			"next": "/2/0/workspaces?limit=2&offset=4", "previous": "/2/0/workspaces?limit=2&offset=0"}},
		{query: "?limit=10&offset=9", ids: nil, paging: map[string]any{"currentPageSize": 0.0, "offset": 9.0, "totalSize": 5.0, "previous": "/2/0/workspaces?limit=10&offset=0"}},
		{query: "?limit=10", maxPage: 3, ids: []any{"WS", "W1", "W2"}, paging: map[string]any{"currentPageSize": 3.0, "offset": 0.0, "totalSize": 5.0, "next": "/2/0/workspaces?limit=3&offset=3"}},
		{query: "?limit=0", wantCode: 400},
		{query: "?offset=-1", wantCode: 400},
		{query: "?limit=x", wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			mp := tt.maxPage
			if mp == 0 {
				mp = MaxPageSize
			}
			s.SetMaxPageSize(mp)
			a := do("GET", "/2/0/workspaces"+tt.query, "", nil)
			if tt.wantCode != 0 {
				if a.status != tt.wantCode || integDig(a.body, "status", "message") == "" {
					t.Fatalf("status %d %s, want %d with a message", a.status, a.raw, tt.wantCode)
				}
				return
			}
			var ids []any
			list, present := a.body["workspaces"].([]any)
			for _, w := range list {
				ids = append(ids, integDig(w, "id"))
			}
			if d := cmp.Diff(tt.ids, ids); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
			if present != (len(tt.ids) > 0) {
				t.Errorf("the list key is present=%v for %d items: Anaplan leaves it out when empty", present, len(tt.ids))
			}
			if d := cmp.Diff(tt.paging, integDig(a.body, "meta", "paging")); d != "" {
				t.Errorf("paging (-want +got):\n%s", d)
			}
			if integDig(a.body, "status", "code") != 200.0 {
				t.Errorf("status %v", a.body["status"])
			}
		})
	}
}

func TestIntegrationModelAccess(t *testing.T) {
	s, do := integrationServer(t)
	s.AddModel("WS", Model{ID: "PRIVATE", Name: "Payroll", Users: []string{"someone@example.com"}})
	s.AddModel("WS", Model{ID: "MINE", Name: "Mine", Users: []string{iUser}})
	a := do("GET", "/2/0/workspaces/WS/models", "", nil)
	var names []any
	for _, m := range a.body["models"].([]any) {
		names = append(names, integDig(m, "name"))
	}
	if d := cmp.Diff([]any{"Budget", "Mine"}, names); d != "" {
		t.Errorf("models (-want +got):\n%s", d)
	}
	for _, path := range []string{
		"/2/0/models/PRIVATE", "/2/0/workspaces/WS/models/PRIVATE/files",
		"/2/0/workspaces/WS/models/NONE/imports", "/2/0/workspaces/NONE/models", "/2/0/workspaces/NONE",
	} {
		if a := do("GET", path, "", nil); a.status != 404 || integDig(a.body, "status", "code") != 404.0 || a.body["path"] != path {
			t.Errorf("GET %s: %d %s, want Anaplan's 404", path, a.status, a.raw)
		}
	}
	if a := do("GET", "/2/0/models/MINE", "", nil); a.status != 200 || integDig(a.body, "model", "currentWorkspaceId") != "WS" {
		t.Errorf("GET /2/0/models/MINE: %d %s", a.status, a.raw)
	}
	// Anaplan describes a model at /2/0/models/{m} only: the workspace path
	// answers 405 (ANAPLAN-DATA.md §1.1x), whoever asks.
	for _, path := range []string{"/2/0/workspaces/WS/models/MINE", "/2/0/workspaces/WS/models/PRIVATE"} {
		if a := do("GET", path, "", nil); a.status != 405 || integDig(a.body, "status", "code") != 405.0 {
			t.Errorf("GET %s: %d %s, want 405", path, a.status, a.raw)
		}
	}
	if a := do("GET", "/2/0/workspaces/WS", "", nil); a.status != 200 || integDig(a.body, "workspace", "name") != "Finance" {
		t.Errorf("GET /2/0/workspaces/WS: %d %s", a.status, a.raw)
	}
}

func integGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func TestIntegrationUploadProtocol(t *testing.T) {
	s, do := integrationServer(t)
	s.AddFile("WS", "M", File{ID: "F", Name: "Data.csv", Content: []byte("old")})
	f := iModel + "/files/F"
	content := func() string { b, _ := s.FileContent("WS", "M", "F"); return string(b) }
	octet := "application/octet-stream"
	steps := []struct {
		name                string
		method, path, ctype string
		body                []byte
		status              int
		content             string // after the step
		messageHas          string // for errors
	}{
		{"a chunk before the upload starts", "PUT", f + "/chunks/0", octet, []byte("x"), 400, "old", "POST"},
		{"start without chunkCount", "POST", f, "application/json", integJSON(map[string]any{}), 400, "old", "chunkCount"},
		{"start with 2 chunks", "POST", f, "application/json", integJSON(map[string]int{"chunkCount": 2}), 200, "old", ""},
		{"a chunk beyond the count", "PUT", f + "/chunks/2", octet, []byte("x"), 400, "old", "beyond"},
		{"chunk 1 first", "PUT", f + "/chunks/1", octet, []byte("world\n"), 204, "old", ""},
		{"chunk 0 gzipped completes it", "PUT", f + "/chunks/0", "application/x-gzip", integGzip([]byte("hello ")), 204, "hello world\n", ""},
		{"start with an unknown count", "POST", f, "application/json", integJSON(map[string]int{"chunkCount": -1}), 200, "hello world\n", ""},
		{"bad gzip", "PUT", f + "/chunks/0", "application/x-gzip", []byte("not gzip"), 400, "hello world\n", "gzip"},
		{"bad content type", "PUT", f + "/chunks/0", "text/plain", []byte("a"), 400, "hello world\n", "Content-Type"},
		{"chunk 0", "PUT", f + "/chunks/0", octet, []byte("a,"), 204, "hello world\n", ""},
		{"chunk 2", "PUT", f + "/chunks/2", "", []byte("c"), 204, "hello world\n", ""},
		{"complete with a gap", "POST", f + "/complete", "application/json", integJSON(map[string]string{"id": "F"}), 400, "hello world\n", "chunk 1 is missing"},
		{"chunk 1", "PUT", f + "/chunks/1", octet, []byte("b,"), 204, "hello world\n", ""},
		{"complete with a wrong count", "POST", f + "/complete", "application/json", integJSON(map[string]any{"id": "F", "chunkCount": 4}), 400, "hello world\n", "chunkCount"},
		{"complete with another id", "POST", f + "/complete", "application/json", integJSON(map[string]any{"id": "G"}), 400, "hello world\n", "id"},
		{"complete", "POST", f + "/complete", "application/json", integJSON(map[string]any{"id": "F", "chunkCount": 3}), 200, "a,b,c", ""},
		{"complete again", "POST", f + "/complete", "application/json", integJSON(map[string]any{"id": "F"}), 400, "a,b,c", "no upload"},
		{"a whole file in one PUT", "PUT", f, octet, []byte("whole"), 204, "whole", ""},
		{"a chunk of an unknown file", "PUT", iModel + "/files/NOPE/chunks/0", octet, []byte("x"), 404, "whole", ""},
		{"a bad chunk ID", "PUT", f + "/chunks/x", octet, []byte("x"), 400, "whole", "chunk IDs"},
	}
	for _, st := range steps {
		a := do(st.method, st.path, st.ctype, st.body)
		if a.status != st.status {
			t.Fatalf("%s: status %d %s, want %d", st.name, a.status, a.raw, st.status)
		}
		if st.messageHas != "" {
			if msg, _ := integDig(a.body, "status", "message").(string); !strings.Contains(msg, st.messageHas) {
				t.Errorf("%s: message %q should mention %q", st.name, msg, st.messageHas)
			}
		}
		if got := content(); got != st.content {
			t.Fatalf("%s: content %q, want %q", st.name, got, st.content)
		}
	}
	if a := do("GET", f+"/chunks", "", nil); integDig(a.body, "chunks", 0, "id") != "0" || len(a.body["chunks"].([]any)) != 1 {
		t.Errorf("chunk list %s", a.raw)
	}
	if a := do("GET", f+"/chunks/0", "", nil); string(a.raw) != "whole" || a.ctype != "application/octet-stream" {
		t.Errorf("chunk 0: %q %s", a.raw, a.ctype)
	}
	if a := do("GET", f+"/chunks/1", "", nil); a.status != 404 {
		t.Errorf("chunk 1 of 1: %d", a.status)
	}
	if a := do("GET", iModel+"/files", "", nil); integDig(a.body, "files", 0, "chunkCount") != 1.0 || integDig(a.body, "files", 0, "name") != "Data.csv" {
		t.Errorf("files %s", a.raw)
	}
	if n := s.FileChunks("WS", "M", "F"); n != 1 {
		t.Errorf("FileChunks = %d", n)
	}
	if n := s.FileChunks("WS", "M", "NOPE"); n != -1 {
		t.Errorf("FileChunks of no file = %d", n)
	}
	if _, ok := s.FileContent("WS", "NOPE", "F"); ok {
		t.Error("FileContent of no model")
	}
}

func TestIntegrationAddFileChunks(t *testing.T) {
	s, do := integrationServer(t)
	s.AddFile("WS", "M", File{ID: "E", Name: "Empty.csv"})
	s.AddFile("WS", "M", File{ID: "F", Name: "Data.csv", Content: []byte("abcdefg"), ChunkSize: 3})
	if n := s.FileChunks("WS", "M", "E"); n != 1 {
		t.Errorf("an empty file has %d chunks, want 1", n)
	}
	var got []string
	for i := range s.FileChunks("WS", "M", "F") {
		got = append(got, string(do("GET", iModel+"/files/F/chunks/"+string(rune('0'+i)), "", nil).raw))
	}
	if d := cmp.Diff([]string{"abc", "def", "g"}, got); d != "" {
		t.Errorf("chunks (-want +got):\n%s", d)
	}
}

func TestIntegrationTasks(t *testing.T) {
	s, do := integrationServer(t)
	s.AddFile("WS", "M", File{ID: "F", Name: "Data.csv", Content: []byte("h\n1\n2\n")})
	s.AddImport("WS", "M", Import{ID: "I", Name: "Load", FileID: "F", Task: TaskBehaviour{Polls: 2}})
	s.AddExport("WS", "M", Export{ID: "E", Name: "Out.csv", Content: []byte("x\n")})
	s.AddAction("WS", "M", Action{ID: "A", Name: "Clear"})
	s.AddProcess("WS", "M", Process{ID: "P", Name: "All", Actions: []string{"I", "A", "MISSING"}})
	start := func(kind, id string) string {
		t.Helper()
		a := do("POST", iModel+"/"+kind+"/"+id+"/tasks", "application/json", integJSON(map[string]string{"localeName": "en_GB"}))
		if a.status != 200 {
			t.Fatalf("start %s %s: %d %s", kind, id, a.status, a.raw)
		}
		return integDig(a.body, "task", "taskId").(string)
	}
	poll := func(kind, id, task string) map[string]any {
		t.Helper()
		a := do("GET", iModel+"/"+kind+"/"+id+"/tasks/"+task, "", nil)
		if a.status != 200 {
			t.Fatalf("poll: %d %s", a.status, a.raw)
		}
		return a.body["task"].(map[string]any)
	}

	t.Run("an import runs for its polls", func(t *testing.T) {
		id := start("imports", "I")
		var states []any
		for range 4 {
			states = append(states, poll("imports", "I", id)["taskState"])
		}
		if d := cmp.Diff([]any{"IN_PROGRESS", "IN_PROGRESS", "COMPLETE", "COMPLETE"}, states); d != "" {
			t.Errorf("states (-want +got):\n%s", d)
		}
		task := poll("imports", "I", id)
		if integDig(task, "result", "successful") != true || integDig(task, "result", "details", 0, "localMessageText") != "Load: 3 lines read" || task["progress"] != 1.0 {
			t.Errorf("task %v", task)
		}
		tasks := s.Tasks("WS", "M")
		if len(tasks) != 1 || tasks[0].Locale != "en_GB" || tasks[0].Polls != 5 || tasks[0].Kind != "imports" {
			t.Errorf("Tasks = %+v", tasks)
		}
		if a := do("GET", iModel+"/imports/I/tasks", "", nil); integDig(a.body, "tasks", 0, "taskId") != id {
			t.Errorf("task list %s", a.raw)
		}
		if a := do("GET", iModel+"/imports/I/tasks/"+id+"/dump", "", nil); a.status != 404 {
			t.Errorf("dump of a successful task: %d", a.status)
		}
	})

	t.Run("an export writes its file", func(t *testing.T) {
		id := start("exports", "E")
		if st := poll("exports", "E", id)["taskState"]; st != "COMPLETE" {
			t.Fatalf("state %v", st)
		}
		if b, ok := s.FileContent("WS", "M", "E"); !ok || string(b) != "x\n" {
			t.Errorf("export file %q %v", b, ok)
		}
	})

	t.Run("a process reports nested results and dumps", func(t *testing.T) {
		s.SetTaskBehaviour("WS", "M", "I", TaskBehaviour{Fail: true, Dump: []byte("dump")})
		id := start("processes", "P")
		task := poll("processes", "P", id)
		res := task["result"]
		if integDig(res, "successful") != false || integDig(res, "nestedResults", 0, "objectId") != "I" || integDig(res, "nestedResults", 0, "failureDumpAvailable") != true ||
			integDig(res, "nestedResults", 1, "successful") != true || integDig(res, "nestedResults", 2) != nil {
			t.Errorf("result %v", res)
		}
		if a := do("GET", iModel+"/processes/P/tasks/"+id+"/dumps/I", "", nil); string(a.raw) != "dump" {
			t.Errorf("nested dump: %d %q", a.status, a.raw)
		}
		if a := do("GET", iModel+"/processes/P/tasks/"+id+"/dumps/A", "", nil); a.status != 404 {
			t.Errorf("dump of a nested action without one: %d", a.status)
		}
		if a := do("GET", iModel+"/processes/P/tasks/"+id+"/dumps/OTHER", "", nil); a.status != 404 {
			t.Errorf("dump of an action outside the process: %d", a.status)
		}
	})

	t.Run("a task keeps the behaviour it started with", func(t *testing.T) {
		s.SetTaskBehaviour("WS", "M", "I", TaskBehaviour{Polls: 1, Fail: true, Dump: []byte("dump")})
		imp := start("imports", "I")
		proc := start("processes", "P")
		// Changes after the start reach tasks started from now on only.
		s.SetTaskBehaviour("WS", "M", "I", TaskBehaviour{})
		s.SetTaskBehaviour("WS", "M", "A", TaskBehaviour{Fail: true})
		s.AddProcess("WS", "M", Process{ID: "P", Name: "All", Actions: []string{"A"}})
		defer s.AddProcess("WS", "M", Process{ID: "P", Name: "All", Actions: []string{"I", "A", "MISSING"}})
		defer s.SetTaskBehaviour("WS", "M", "A", TaskBehaviour{})

		if st := poll("imports", "I", imp)["taskState"]; st != "IN_PROGRESS" {
			t.Errorf("first poll of the import: %v, want IN_PROGRESS (Polls: 1 when it started)", st)
		}
		if res := poll("imports", "I", imp)["result"]; integDig(res, "successful") != false || integDig(res, "failureDumpAvailable") != true {
			t.Errorf("import result %v, want the failure it started with", res)
		}
		if a := do("GET", iModel+"/imports/I/tasks/"+imp+"/dump", "", nil); string(a.raw) != "dump" {
			t.Errorf("import dump: %d %q", a.status, a.raw)
		}
		res := poll("processes", "P", proc)["result"]
		if integDig(res, "nestedResults", 0, "objectId") != "I" || integDig(res, "nestedResults", 0, "successful") != false ||
			integDig(res, "nestedResults", 1, "objectId") != "A" || integDig(res, "nestedResults", 1, "successful") != true {
			t.Errorf("process result %v, want I failed and A succeeded, as when it started", res)
		}
		if a := do("GET", iModel+"/processes/P/tasks/"+proc+"/dumps/I", "", nil); string(a.raw) != "dump" {
			t.Errorf("nested dump: %d %q", a.status, a.raw)
		}
		// A task started now sees the new behaviour.
		if res := poll("imports", "I", start("imports", "I"))["result"]; integDig(res, "successful") != true {
			t.Errorf("import started after the change: %v", res)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		s.SetTaskBehaviour("WS", "M", "A", TaskBehaviour{Polls: -1})
		id := start("actions", "A")
		for range 3 {
			poll("actions", "A", id)
		}
		a := do("DELETE", iModel+"/actions/A/tasks/"+id, "", nil)
		if a.status != 200 || integDig(a.body, "task", "taskState") != "CANCELLING" {
			t.Fatalf("cancel: %d %s", a.status, a.raw)
		}
		if st := poll("actions", "A", id)["taskState"]; st != "CANCELLED" {
			t.Errorf("after cancel: %v", st)
		}
	})

	t.Run("bare answers", func(t *testing.T) {
		s.SetBareTaskAnswers(true)
		defer s.SetBareTaskAnswers(false)
		a := do("POST", iModel+"/actions/A/tasks", "application/json", integJSON(map[string]string{"localeName": "en_US"}))
		if _, ok := a.body["taskId"].(string); !ok || a.body["task"] != nil {
			t.Errorf("bare answer %s", a.raw)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"POST", iModel + "/imports/I/tasks", `{}`},
			{"POST", iModel + "/imports/NOPE/tasks", `{"localeName":"en_US"}`},
			{"POST", iModel + "/exports/I/tasks", `{"localeName":"en_US"}`},
			{"GET", iModel + "/imports/I/tasks/NOPE", ``},
			{"GET", iModel + "/imports/NOPE/tasks", ``},
			{"DELETE", iModel + "/exports/I/tasks/NOPE", ``},
		} {
			a := do(c.method, c.path, "application/json", []byte(c.body))
			if a.status < 400 || integDig(a.body, "status", "message") == "" {
				t.Errorf("%s %s: %d %s", c.method, c.path, a.status, a.raw)
			}
		}
		if s.SetTaskBehaviour("WS", "M", "NOPE", TaskBehaviour{}) || s.SetTaskBehaviour("NOPE", "M", "I", TaskBehaviour{}) {
			t.Error("SetTaskBehaviour of nothing reported success")
		}
	})
}
