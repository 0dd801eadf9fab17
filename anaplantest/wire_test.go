package anaplantest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/google/go-cmp/cmp"
)

// Tests of the fake's task, dump, model and upload-complete wire details
// (issue 8), straight on the wire.

func TestModelDetails(t *testing.T) {
	s, do := integrationServer(t)
	s.AddModel("WS", Model{ID: "M", Name: "Budget", MemoryUsage: 42})
	for _, path := range []string{"/2/0/models/M?modelDetails=true", "/2/0/models?modelDetails=true", "/2/0/workspaces/WS/models?modelDetails=true"} {
		a := do("GET", path, "", nil)
		m := a.body["model"]
		if m == nil {
			m = integDig(a.body, "models", 0)
		}
		if a.status != 200 || integDig(m, "memoryUsage") != 42.0 || integDig(m, "modelTransactionRunning") != false || integDig(m, "isoCreationDate") == nil {
			t.Errorf("GET %s: %d %s, want the details", path, a.status, a.raw)
		}
	}
	if a := do("GET", "/2/0/models/M", "", nil); a.status != 200 || integDig(a.body, "model", "memoryUsage") != nil {
		t.Errorf("without modelDetails: %s", a.raw)
	}
	// A running import shows as a transaction.
	s.AddImport("WS", "M", Import{ID: "I", Name: "Load", Task: TaskBehaviour{Polls: -1}})
	a := do("POST", iModel+"/imports/I/tasks", "application/json", []byte(`{"localeName":"en_US"}`))
	do("GET", iModel+"/imports/I/tasks/"+integDig(a.body, "task", "taskId").(string), "", nil)
	if a := do("GET", "/2/0/models/M?modelDetails=true", "", nil); integDig(a.body, "model", "modelTransactionRunning") != true {
		t.Errorf("with a task running: %s", a.raw)
	}
}

func TestDumpForms(t *testing.T) {
	s, do := integrationServer(t, WithTokenTTL(1000*time.Hour)) // the clock moves by days
	s.AddImport("WS", "M", Import{ID: "I", Name: "Load", Task: TaskBehaviour{Fail: true, Dump: []byte("0123456789"), DumpChunkSize: 4,
		Nested: []NestedResult{{ObjectID: "N", Name: "Sub", Fail: true, Dump: []byte("nested")}, {ObjectID: "OK"}}}})
	a := do("POST", iModel+"/imports/I/tasks", "application/json", []byte(`{"localeName":"en_US"}`))
	id := integDig(a.body, "task", "taskId").(string)
	task := iModel + "/imports/I/tasks/" + id
	if a := do("GET", task+"/dump", "", nil); a.status != 404 {
		t.Errorf("dump before the task completed: %d", a.status)
	}
	res := do("GET", task, "", nil).body["task"]
	if integDig(res, "result", "successful") != false || integDig(res, "result", "objectName") != "Load" ||
		integDig(res, "result", "nestedResults", 0, "objectName") != "Sub" || integDig(res, "result", "nestedResults", 0, "failureDumpAvailable") != true ||
		integDig(res, "result", "nestedResults", 1, "successful") != true || integDig(res, "result", "nestedResults", 1, "failureDumpAvailable") != false {
		t.Errorf("task %v", res)
	}
	a = do("GET", task+"/dump/chunks", "", nil)
	if d := cmp.Diff([]any{"0", "1", "2"}, []any{integDig(a.body, "chunks", 0, "id"), integDig(a.body, "chunks", 1, "id"), integDig(a.body, "chunks", 2, "id")}); d != "" || integDig(a.body, "meta", "paging", "totalSize") != 3.0 {
		t.Errorf("chunk list %s", a.raw)
	}
	var got []string
	for _, c := range []string{"0", "1", "2"} {
		got = append(got, string(do("GET", task+"/dump/chunks/"+c, "", nil).raw))
	}
	if d := cmp.Diff([]string{"0123", "4567", "89"}, got); d != "" {
		t.Errorf("chunks (-want +got):\n%s", d)
	}
	for path, want := range map[string]string{task + "/dump": "0123456789", task + "/dumps/N": "nested", task + "/dumps/N/chunks/1": "ed"} {
		if a := do("GET", path, "", nil); a.status != 200 || string(a.raw) != want || a.ctype != "text/csv" {
			t.Errorf("GET %s: %d %q %s", path, a.status, a.raw, a.ctype)
		}
	}
	for _, path := range []string{task + "/dump/chunks/3", task + "/dumps/OK", task + "/dumps/OK/chunks", task + "/dumps/NONE/chunks/0"} {
		if a := do("GET", path, "", nil); a.status != 404 {
			t.Errorf("GET %s: %d", path, a.status)
		}
	}

	s.SetDumpChunksOffered(false)
	if a := do("GET", task+"/dump/chunks", "", nil); a.status != 404 {
		t.Errorf("chunks not offered: %d", a.status)
	}
	if a := do("GET", task+"/dump", "", nil); string(a.raw) != "0123456789" {
		t.Errorf("whole dump without chunks: %q", a.raw)
	}
	s.SetDumpChunksOffered(true)

	// 48 hours after the last fetch, the dump is gone.
	s.Advance(DumpLifetime - time.Second)
	if a := do("GET", task+"/dumps/N/chunks", "", nil); a.status != 200 {
		t.Errorf("a fetch within the lifetime: %d", a.status)
	}
	s.Advance(DumpLifetime - time.Second)
	if a := do("GET", task+"/dump", "", nil); a.status != 200 {
		t.Errorf("the fetch before kept it: %d", a.status)
	}
	s.Advance(DumpLifetime)
	if a := do("GET", task+"/dump/chunks", "", nil); a.status != 404 || !strings.Contains(integDig(a.body, "status", "message").(string), "no longer available") {
		t.Errorf("a stale dump: %d %s", a.status, a.raw)
	}

	// Running the import again replaces the dumps of the earlier run.
	a = do("POST", iModel+"/imports/I/tasks", "application/json", []byte(`{"localeName":"en_US"}`))
	id2 := integDig(a.body, "task", "taskId").(string)
	do("GET", iModel+"/imports/I/tasks/"+id2, "", nil)
	if a := do("GET", iModel+"/imports/I/tasks/"+id2+"/dump", "", nil); a.status != 200 {
		t.Errorf("the new run's dump: %d", a.status)
	}
	a = do("POST", iModel+"/imports/I/tasks", "application/json", []byte(`{"localeName":"en_US"}`))
	if a := do("GET", iModel+"/imports/I/tasks/"+id2+"/dump", "", nil); a.status != 404 {
		t.Errorf("a dump replaced by a re-run: %d", a.status)
	}
}

func TestTaskStartRefusals(t *testing.T) {
	s, do := integrationServer(t)
	s.AddImport("WS", "M", Import{ID: "I", Name: "Load"})
	s.AddExport("WS", "M", Export{ID: "E", Name: "Out"})
	s.AddProcess("WS", "M", Process{ID: "P", Name: "All", Actions: []string{"I", "E"}})
	start := func(kind, id, body string) integAnswer {
		return do("POST", iModel+"/"+kind+"/"+id+"/tasks", "application/json", []byte(body))
	}
	const locale = `{"localeName":"en_US"}`
	if !s.SetModelBusy("WS", "M", 2) || s.SetModelBusy("WS", "NONE", 1) {
		t.Fatal("SetModelBusy reported the wrong models")
	}
	for i, want := range []int{409, 409, 200} {
		if a := start("imports", "I", locale); a.status != want {
			t.Errorf("start %d: %d %s, want %d", i, a.status, a.raw, want)
		}
	}
	if n := len(s.Tasks("WS", "M")); n != 1 {
		t.Errorf("%d tasks after two refused starts and one accepted, want 1", n)
	}
	for state, want := range map[string]int{"ARCHIVED": 422, "LOCKED": 423, "MAINTENANCE": 424, "OFFLINE": 424, "UNLOCKED": 200} {
		s.AddModel("WS", Model{ID: "M", Name: "Budget", State: state})
		if a := start("imports", "I", locale); a.status != want {
			t.Errorf("state %s: %d, want %d", state, a.status, want)
		}
	}
	s.AddModel("WS", Model{ID: "M", Name: "Budget"}) // the map's order is random: end unlocked

	// Mapping parameters: imports and processes, importId of the process's imports.
	mp := `{"localeName":"en_US","mappingParameters":[{"entityType":"Version","entityName":"Actual"},{"importId":"I","entityType":"Region","entityName":"North"}]}`
	for _, c := range []struct{ kind, id, body string }{{"imports", "I", mp}, {"processes", "P", mp}} {
		if a := start(c.kind, c.id, c.body); a.status != 200 {
			t.Fatalf("%s with mapping parameters: %d %s", c.kind, a.status, a.raw)
		}
		ts := s.Tasks("WS", "M")
		want := []MappingParameter{{EntityType: "Version", EntityName: "Actual"}, {ImportID: "I", EntityType: "Region", EntityName: "North"}}
		if d := cmp.Diff(want, ts[len(ts)-1].MappingParameters); d != "" {
			t.Errorf("%s: recorded (-want +got):\n%s", c.kind, d)
		}
	}
	for _, c := range []struct{ kind, id, body string }{
		{"exports", "E", mp},
		{"imports", "I", `{"localeName":"en_US","mappingParameters":[{"entityType":"Version"}]}`},
		{"processes", "P", `{"localeName":"en_US","mappingParameters":[{"importId":"E","entityType":"Version","entityName":"Actual"}]}`},
		{"imports", "I", `{"localeName":"en_US","mappingParameters":[{"importId":"OTHER","entityType":"Version","entityName":"Actual"}]}`},
	} {
		if a := start(c.kind, c.id, c.body); a.status != 400 || !strings.Contains(integDig(a.body, "status", "message").(string), "mappingParameters") {
			t.Errorf("%s %s: %d %s, want 400", c.kind, c.body, a.status, a.raw)
		}
	}

	// cancelledBy names who cancelled.
	s.SetTaskBehaviour("WS", "M", "E", TaskBehaviour{Polls: -1})
	id := integDig(start("exports", "E", locale).body, "task", "taskId").(string)
	a := do("DELETE", iModel+"/exports/E/tasks/"+id, "", nil)
	uid, _ := s.UserID(iUser)
	if integDig(a.body, "task", "cancelledBy") != uid {
		t.Errorf("cancel answer %s, want cancelledBy %s", a.raw, uid)
	}
	if ts := s.Tasks("WS", "M"); ts[len(ts)-1].CancelledBy != uid {
		t.Errorf("Tasks: %+v", ts[len(ts)-1])
	}
}

func TestUploadCompleteChecks(t *testing.T) {
	s, do := integrationServer(t)
	s.AddFile("WS", "M", File{ID: "F", Name: "Data.csv", Content: []byte("old")})
	f := iModel + "/files/F"
	begin := func() {
		t.Helper()
		if a := do("POST", f, "application/json", []byte(`{"chunkCount":-1}`)); a.status != 200 {
			t.Fatalf("start: %d %s", a.status, a.raw)
		}
		do("PUT", f+"/chunks/0", "application/octet-stream", []byte("a\n1\n"))
	}
	begin()
	for _, body := range []string{
		`{"id":113000000000}`, `{"name":"Data.csv"}`, `{"id":"F","name":"Other.csv"}`,
		`{"id":"F","headerRow":2,"firstDataRow":1}`, `{"id":"F","headerRow":-1}`, `{"id":"F","chunkCount":"1"}`, `not json`,
	} {
		if a := do("POST", f+"/complete", "application/json", []byte(body)); a.status != 400 {
			t.Errorf("complete %s: %d %s, want 400", body, a.status, a.raw)
		}
	}
	body := `{"id":"F","name":"Data.csv","chunkCount":1,"firstDataRow":2,"headerRow":1}`
	if a := do("POST", f+"/complete", "application/json", []byte(body)); a.status != 200 {
		t.Fatalf("complete %s: %d %s", body, a.status, a.raw)
	}
	got, ok := s.FileCompletion("WS", "M", "F")
	want := map[string]any{"id": "F", "name": "Data.csv", "chunkCount": 1.0, "firstDataRow": 2.0, "headerRow": 1.0}
	if d := cmp.Diff(want, got); !ok || d != "" {
		t.Errorf("FileCompletion (-want +got):\n%s", d)
	}
	if _, ok := s.FileCompletion("WS", "M", "NONE"); ok {
		t.Error("FileCompletion of no file")
	}

	// An upload start answered with a new file.
	if !s.AnswerUploadWithNewFile("WS", "M", "F", "G") || s.AnswerUploadWithNewFile("WS", "M", "NONE", "G") {
		t.Fatal("AnswerUploadWithNewFile reported the wrong files")
	}
	if a := do("POST", f, "application/json", []byte(`{"chunkCount":1}`)); a.status != 200 || integDig(a.body, "file", "id") != "G" {
		t.Errorf("start: %s, want file G", a.raw)
	}
	if a := do("PUT", iModel+"/files/G/chunks/0", "application/octet-stream", []byte("g")); a.status != 204 {
		t.Errorf("a chunk of the new file: %d", a.status)
	}
	if b, _ := s.FileContent("WS", "M", "G"); string(b) != "g" {
		t.Errorf("the new file holds %q", b)
	}
	if a := do("POST", f, "application/json", []byte(`{"chunkCount":1}`)); integDig(a.body, "file", "id") != "F" {
		t.Errorf("the next start: %s, want file F again", a.raw)
	}
}

// TestIssueTokenAndTokenSource: a token without any sign-in request, for
// anaplan.WithTokenSource; TokenSource replaces one that expired or was
// revoked.
func TestIssueTokenAndTokenSource(t *testing.T) {
	s := New(t)
	s.AddWorkspace(Workspace{ID: "WS", Name: "Finance"})
	tok := s.IssueToken("ada@example.com")
	if tok.Type != "AnaplanAuthToken" || tok.Value == "" || !tok.Expiry.Equal(s.Now().Add(DefaultTokenTTL)) {
		t.Errorf("IssueToken = %v, expiry %v", tok, tok.Expiry)
	}
	ctx := context.Background()
	ts := s.TokenSource("ada@example.com")
	c, err := anaplan.New(ctx, anaplan.WithEndpoints(s.Endpoints()), anaplan.WithHTTPClient(s.Client()), anaplan.WithTokenSource(ts))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	u, err := c.CurrentUser(ctx)
	if id, _ := s.UserID("ada@example.com"); err != nil || u.ID != id {
		t.Fatalf("CurrentUser = %+v, %v", u, err)
	}
	if n := s.Calls("POST /token/authenticate"); n != 0 {
		t.Errorf("%d sign-ins", n)
	}
	first, _ := ts.Token(ctx)
	if again, _ := ts.Token(ctx); again.Value != first.Value {
		t.Error("TokenSource replaced a live token")
	}
	s.Advance(DefaultTokenTTL)
	if next, _ := ts.Token(ctx); next.Value == first.Value {
		t.Error("TokenSource kept an expired token")
	}
	// The client's cache still holds the expired token: the 401 makes it
	// ask the source again, which issues a live one.
	if _, err := c.CurrentUser(ctx); err != nil {
		t.Errorf("CurrentUser after expiry: %v", err)
	}
	cur, _ := ts.Token(ctx)
	s.RevokeToken(cur.Value)
	if next, _ := ts.Token(ctx); next.Value == cur.Value {
		t.Error("TokenSource kept a revoked token")
	}
}

// TestInstantTasks: with SetInstantTasks, a task of many polls completes at
// the first, so that a Run with the SDK's default options takes
// milliseconds (an import of two polls took 2.5 s before).
func TestInstantTasks(t *testing.T) {
	s := New(t)
	s.AddModel("WS", Model{ID: "M", Name: "Budget"})
	s.AddImport("WS", "M", Import{ID: "I", Name: "Load", Task: TaskBehaviour{Polls: 5}})
	s.AddAction("WS", "M", Action{ID: "A", Name: "Forever", Task: TaskBehaviour{Polls: -1}})
	s.SetInstantTasks(true)
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithEndpoints(s.Endpoints()), anaplan.WithHTTPClient(s.Client()), anaplan.WithTokenSource(s.TokenSource("ada@example.com")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	start := time.Now()
	res, err := c.Model("WS", "M").RunImport(ctx, "I", nil) // default options: 1 s between polls
	if err != nil || !res.Successful {
		t.Fatalf("RunImport = %+v, %v", res, err)
	}
	if d := time.Since(start); d > 3*time.Second { // 5 polls at the default intervals take over 10 s
		t.Errorf("RunImport took %v: more than one poll", d)
	}
	if ts := s.Tasks("WS", "M"); ts[0].Polls != 1 {
		t.Errorf("%d polls, want 1", ts[0].Polls)
	}
	// A task that never completes still does not.
	id, err := c.Model("WS", "M").StartTask(ctx, anaplan.ActionTask, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Model("WS", "M").TaskStatus(ctx, anaplan.ActionTask, "A", id)
	if err != nil || st.State != anaplan.TaskInProgress {
		t.Errorf("TaskStatus = %+v, %v", st, err)
	}
}
