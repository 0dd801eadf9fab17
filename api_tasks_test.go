package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	importID  = "112000000001"
	exportID  = "116000000001"
	processID = "118000000001"
	actionID  = "117000000001"
)

// fastPolls keeps task tests quick: the fake counts polls, not time.
var fastPolls = &anaplan.RunOptions{PollInterval: time.Millisecond, MaxPollInterval: 2 * time.Millisecond}

func addActions(f *fixture) {
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("a,b\n1,2\n3,4\n")})
	f.srv.AddImport(testWS, testModel, anaplantest.Import{ID: importID, Name: "Sales", FileID: fileID, Task: anaplantest.TaskBehaviour{Polls: 2}})
	f.srv.AddExport(testWS, testModel, anaplantest.Export{ID: exportID, Name: "Grid.csv", Content: []byte("x,y\n5,6\n"), Task: anaplantest.TaskBehaviour{Polls: 1}})
	f.srv.AddAction(testWS, testModel, anaplantest.Action{ID: actionID, Name: "Clear"})
	f.srv.AddProcess(testWS, testModel, anaplantest.Process{ID: processID, Name: "Nightly", Actions: []string{actionID, importID}, Task: anaplantest.TaskBehaviour{Polls: 3}})
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	detail := func(msg string) []anaplan.TaskDetail {
		return []anaplan.TaskDetail{{LocalMessageText: msg, Type: "generalMessage"}}
	}
	tests := []struct {
		kind   anaplan.TaskKind
		id     string
		locale string
		polls  int
		want   *anaplan.TaskResult
	}{
		{anaplan.ImportTask, importID, "", 3, &anaplan.TaskResult{ObjectID: importID, ObjectName: "Sales", Successful: true, Details: detail("Sales: 3 lines read")}},
		{anaplan.ExportTask, exportID, "fr_FR", 2, &anaplan.TaskResult{ObjectID: exportID, ObjectName: "Grid.csv", Successful: true, Details: detail("Grid.csv: 8 bytes exported")}},
		{anaplan.ActionTask, actionID, "", 1, &anaplan.TaskResult{ObjectID: actionID, ObjectName: "Clear", Successful: true, Details: detail("Completed")}},
		{anaplan.ProcessTask, processID, "", 4, &anaplan.TaskResult{ObjectID: processID, ObjectName: "Nightly", Successful: true, Details: detail("Completed"),
			NestedResults: []anaplan.TaskResult{
				{ObjectID: actionID, ObjectName: "Clear", Successful: true, Details: detail("Completed"), Nested: true},
				{ObjectID: importID, ObjectName: "Sales", Successful: true, Details: detail("Sales: 3 lines read"), Nested: true},
			}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			opts := *fastPolls
			opts.Locale = tt.locale
			var states []anaplan.TaskState
			opts.Progress = func(task anaplan.Task) { states = append(states, task.State) }
			res, err := f.m.Run(context.Background(), tt.kind, tt.id, &opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, res, cmpopts.IgnoreFields(anaplan.TaskResult{}, "Kind", "ActionID", "TaskID", "State"), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if res.Kind != tt.kind || res.ActionID != tt.id || res.TaskID == "" || res.State != anaplan.TaskComplete {
				t.Errorf("result labelled %s %s task %q state %s", res.Kind, res.ActionID, res.TaskID, res.State)
			}
			for _, n := range res.NestedResults {
				if n.TaskID != res.TaskID || n.Kind != tt.kind {
					t.Errorf("nested result labelled %s task %q", n.Kind, n.TaskID)
				}
			}
			if len(states) != tt.polls || states[len(states)-1] != anaplan.TaskComplete {
				t.Errorf("states seen %v, want %d polls ending COMPLETE", states, tt.polls)
			}
			tasks := f.srv.Tasks(testWS, testModel)
			last := tasks[len(tasks)-1]
			wantLocale := tt.locale
			if wantLocale == "" {
				wantLocale = "en_US"
			}
			if last.ID != res.TaskID || last.Locale != wantLocale {
				t.Errorf("server saw task %+v, want %s with locale %s", last, res.TaskID, wantLocale)
			}
		})
	}
}

func TestRunWrappersAndBareTaskAnswer(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	for _, bare := range []bool{false, true} {
		f.srv.SetBareTaskAnswers(bare)
		for name, run := range map[string]func() (*anaplan.TaskResult, error){
			"RunImport":  func() (*anaplan.TaskResult, error) { return f.m.RunImport(ctx, importID, fastPolls) },
			"RunExport":  func() (*anaplan.TaskResult, error) { return f.m.RunExport(ctx, exportID, fastPolls) },
			"RunProcess": func() (*anaplan.TaskResult, error) { return f.m.RunProcess(ctx, processID, fastPolls) },
			"RunAction":  func() (*anaplan.TaskResult, error) { return f.m.RunAction(ctx, actionID, fastPolls) },
		} {
			if res, err := run(); err != nil || !res.Successful {
				t.Errorf("%s (bare answer %v) = %+v, %v", name, bare, res, err)
			}
		}
	}
}

func TestRunFailingTaskWithDump(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	dump := []byte("row,error\n2,Item not found\n")

	t.Run("import", func(t *testing.T) {
		f.srv.SetTaskBehaviour(testWS, testModel, importID, anaplantest.TaskBehaviour{Polls: 1, Fail: true, Dump: dump, Message: "1 row rejected"})
		res, err := f.m.RunImport(ctx, importID, fastPolls)
		var te *anaplan.TaskError
		if !errors.As(err, &te) || te.Result != res || te.TaskID != res.TaskID {
			t.Fatalf("error %v, want a *TaskError holding the result", err)
		}
		if !strings.Contains(err.Error(), "1 row rejected") || !strings.Contains(err.Error(), "failure dump") {
			t.Errorf("error %q should give the message and mention the dump", err)
		}
		dumps := res.Dumps()
		if len(dumps) != 1 || dumps[0] != res {
			t.Fatalf("Dumps() = %v, want the result itself", dumps)
		}
		var buf bytes.Buffer
		n, err := f.m.Dump(ctx, dumps[0], &buf)
		if err != nil || n != int64(len(dump)) || !bytes.Equal(buf.Bytes(), dump) {
			t.Fatalf("Dump = %d, %v, %q", n, err, buf.Bytes())
		}
		before := f.srv.Calls("")
		if _, err := f.m.Dump(ctx, dumps[0], nil); err == nil || !strings.Contains(err.Error(), "needs a writer") {
			t.Errorf("Dump to a nil writer: %v, want an error saying a writer is needed", err)
		}
		if n := f.srv.Calls("") - before; n != 0 {
			t.Errorf("Dump to a nil writer sent %d requests", n)
		}
	})

	t.Run("a process's nested import", func(t *testing.T) {
		f.srv.SetTaskBehaviour(testWS, testModel, importID, anaplantest.TaskBehaviour{Fail: true, Dump: dump})
		res, err := f.m.RunProcess(ctx, processID, fastPolls)
		var te *anaplan.TaskError
		if !errors.As(err, &te) || res == nil || res.Successful {
			t.Fatalf("RunProcess = %+v, %v; want a failed result and a *TaskError", res, err)
		}
		dumps := res.Dumps()
		if len(dumps) != 1 || dumps[0].ObjectID != importID {
			t.Fatalf("Dumps() = %+v, want the nested import's", dumps)
		}
		var buf bytes.Buffer
		if _, err := f.m.Dump(ctx, dumps[0], &buf); err != nil || !bytes.Equal(buf.Bytes(), dump) {
			t.Fatalf("Dump = %v, %q", err, buf.Bytes())
		}
		if n := f.srv.Calls("GET " + modelPattern + "/processes/{processID}/tasks/{taskID}/dumps/{objectID}/chunks/{chunkID}"); n != 1 {
			t.Errorf("%d requests for the nested dump's chunk", n)
		}
	})

	t.Run("failed without a dump", func(t *testing.T) {
		f.srv.SetTaskBehaviour(testWS, testModel, actionID, anaplantest.TaskBehaviour{Fail: true})
		res, err := f.m.RunAction(ctx, actionID, fastPolls)
		if err == nil || strings.Contains(err.Error(), "dump") || len(res.Dumps()) != 0 {
			t.Fatalf("RunAction = %+v, %v", res, err)
		}
		if _, err := f.m.Dump(ctx, res, &bytes.Buffer{}); err == nil {
			t.Error("Dump of a result without one succeeded")
		}
	})

	t.Run("Dump needs a result from Run", func(t *testing.T) {
		if _, err := f.m.Dump(ctx, &anaplan.TaskResult{FailureDumpAvailable: true}, &bytes.Buffer{}); err == nil {
			t.Error("accepted")
		}
	})
}

func TestRunCancelled(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	f.srv.SetTaskBehaviour(testWS, testModel, importID, anaplantest.TaskBehaviour{Polls: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := *fastPolls
	opts.Progress = func(task anaplan.Task) {
		if task.State == anaplan.TaskInProgress {
			cancel()
		}
	}
	res, err := f.m.RunImport(ctx, importID, &opts)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("RunImport = %v, %v; want context.Canceled", res, err)
	}
	tasks := f.srv.Tasks(testWS, testModel)
	if len(tasks) != 1 || tasks[0].State != "CANCELLING" {
		t.Fatalf("server tasks %+v, want one being cancelled", tasks)
	}
	if n := f.srv.Calls("DELETE " + modelPath + "/imports/" + importID + "/tasks/" + tasks[0].ID); n != 1 {
		t.Errorf("%d DELETE requests, want 1", n)
	}

	t.Run("a failed DELETE is reported with the cause", func(t *testing.T) {
		f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusBadRequest, Path: "DELETE "})
		ctx, cancel := context.WithCancel(context.Background())
		opts.Progress = func(anaplan.Task) { cancel() }
		_, err := f.m.RunImport(ctx, importID, &opts)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelling it on the server failed") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestTaskCancelledByAnother(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	f.srv.SetTaskBehaviour(testWS, testModel, exportID, anaplantest.TaskBehaviour{Polls: -1})
	id, err := f.m.StartTask(ctx, anaplan.ExportTask, exportID, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.m.TaskStatus(ctx, anaplan.ExportTask, exportID, id)
	if err != nil || st.ID != id || st.State != anaplan.TaskInProgress {
		t.Fatalf("TaskStatus = %+v, %v", st, err)
	}
	if err := f.m.CancelTask(ctx, anaplan.ExportTask, exportID, id); err != nil {
		t.Fatal(err)
	}
	res, err := f.m.Wait(ctx, anaplan.ExportTask, exportID, id, fastPolls)
	var te *anaplan.TaskError
	if !errors.As(err, &te) || res.State != anaplan.TaskCancelled || !strings.Contains(err.Error(), "cancelled on the server") {
		t.Fatalf("Wait = %+v, %v; want a cancelled result", res, err)
	}
}

func TestTaskErrors(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	if _, err := f.m.Run(ctx, anaplan.TaskKind("report"), "x", nil); err == nil || !strings.Contains(err.Error(), "ImportTask") {
		t.Errorf("an unknown kind: %v", err)
	}
	_, err := f.m.RunImport(ctx, "NO-SUCH-IMPORT", fastPolls)
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Errorf("an unknown import: %v", err)
	}
	if _, err := f.m.TaskStatus(ctx, anaplan.ImportTask, importID, "NO-SUCH-TASK"); !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Errorf("an unknown task: %v", err)
	}
	// A poll that fails says the task may still run.
	noTolerance := *fastPolls
	noTolerance.MaxFailedPolls = -1
	f.srv.FailNext(1, anaplantest.Fault{Status: http.StatusInternalServerError, Path: "GET " + modelPath + "/imports/"})
	if _, err := f.m.RunImport(ctx, importID, &noTolerance); err == nil || !strings.Contains(err.Error(), "may still be running") {
		t.Errorf("a failed poll: %v", err)
	}
}

func TestUploadAndImport(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	csv := "a,b\n1,2\n3,4\n5,6\n7,8\n"
	for _, file := range []string{fileID, ""} {
		res, err := f.m.UploadAndImport(ctx, file, strings.NewReader(csv), importID, &anaplan.JobOptions{Run: *fastPolls, Upload: anaplan.UploadOptions{Gzip: true}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Message(); got != "Sales: 5 lines read" {
			t.Errorf("file %q: message %q", file, got)
		}
		if got, _ := f.srv.FileContent(testWS, testModel, fileID); string(got) != csv {
			t.Errorf("file %q: content %q", file, got)
		}
	}
	if _, err := f.m.UploadAndImport(ctx, "", strings.NewReader(csv), "NO-SUCH-IMPORT", nil); err == nil || !strings.Contains(err.Error(), "pass the file ID") {
		t.Errorf("an unknown import: %v", err)
	}
}

func TestExportAndDownload(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	var buf bytes.Buffer
	res, n, err := f.m.ExportAndDownload(ctx, exportID, &buf, &anaplan.JobOptions{Run: *fastPolls})
	if err != nil || !res.Successful || n != 8 || buf.String() != "x,y\n5,6\n" {
		t.Fatalf("ExportAndDownload = %+v, %d, %v, %q", res, n, err, buf.String())
	}
	f.srv.SetTaskBehaviour(testWS, testModel, exportID, anaplantest.TaskBehaviour{Fail: true})
	buf.Reset()
	res, n, err = f.m.ExportAndDownload(ctx, exportID, &buf, &anaplan.JobOptions{Run: *fastPolls})
	var te *anaplan.TaskError
	if !errors.As(err, &te) || res == nil || n != 0 || buf.Len() != 0 {
		t.Fatalf("a failed export: %+v, %d, %v", res, n, err)
	}
}

// FuzzTaskAnswer feeds arbitrary answers to starting and polling a task.
// TestFakeTaskKeepsBehaviourItStartedWith: anaplantest's SetTaskBehaviour
// changes how tasks started from now on run; a task started before it
// completes as its action was when it started (the fake once read the
// behaviour at every poll, so a change reached running tasks).
func TestFakeTaskKeepsBehaviourItStartedWith(t *testing.T) {
	f := newFixture(t)
	addActions(f) // the import needs 2 polls in progress, and succeeds
	ctx := context.Background()
	id, err := f.m.StartTask(ctx, anaplan.ImportTask, importID, nil)
	if err != nil {
		t.Fatal(err)
	}
	// For tasks started from now on: fail at once.
	if !f.srv.SetTaskBehaviour(testWS, testModel, importID, anaplantest.TaskBehaviour{Fail: true, Message: "changed later"}) {
		t.Fatal("no such import")
	}
	res, err := f.m.Wait(ctx, anaplan.ImportTask, importID, id, fastPolls)
	var te *anaplan.TaskError
	if errors.As(err, &te) || res == nil || !res.Successful {
		t.Errorf("the task started before SetTaskBehaviour ended with %v; want the success its import had when it started", err)
	}
	if ts := f.srv.Tasks(testWS, testModel); len(ts) != 1 || ts[0].Polls != 3 {
		t.Errorf("tasks %+v; want one that answered 2 polls in progress and completed at the 3rd", ts)
	}
}

func FuzzTaskAnswer(f *testing.F) {
	for _, s := range []string{
		`{"task":{"taskId":"T1","taskState":"NOT_STARTED"}}`,
		`{"taskId":"T1"}`,
		`{"task":{"taskId":"T1","taskState":"COMPLETE","result":{"successful":true,"objectId":"112","details":[{"localMessageText":"ok"}]}}}`,
		`{"task":{"taskId":"T1","taskState":"COMPLETE","result":{"successful":false,"failureDumpAvailable":true,"nestedResults":[{"objectId":"1","failureDumpAvailable":true,"nestedResults":[{}]}]}}}`,
		`{"task":{"taskId":"T1","taskState":"CANCELLED"}}`,
		`{"task":null}`, `{"task":{"progress":"x"}}`, `{}`, `null`, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := offlineClient(t, 200, body)
		m := c.Model("w", "m")
		ctx := context.Background()
		if _, err := m.StartTask(ctx, anaplan.ImportTask, "i", nil); err != nil {
			return
		}
		// Every answer is the same: a task that is not final would be
		// polled forever, so poll once.
		st, err := m.TaskStatus(ctx, anaplan.ImportTask, "i", "T1")
		if err != nil || !st.State.Final() {
			return
		}
		res, err := m.Wait(ctx, anaplan.ImportTask, "i", "T1", fastPolls)
		if res == nil {
			t.Fatalf("Wait on a final task returned no result (%v)", err)
		}
		_ = res.Dumps()
		_ = res.Message()
		if err != nil {
			_ = err.Error()
		}
	})
}

// exampleClient signs in to a fake Anaplan holding a model with a file, an
// import reading it and an export.
func exampleClient() (*anaplantest.Server, *anaplan.Client, error) {
	srv := anaplantest.NewServer()
	srv.AddUser("ada@example.com", "secret")
	srv.AddFile("WS", "MODEL", anaplantest.File{ID: "113000000001", Name: "Sales.csv"})
	srv.AddImport("WS", "MODEL", anaplantest.Import{ID: "112000000001", Name: "Load sales", FileID: "113000000001"})
	srv.AddExport("WS", "MODEL", anaplantest.Export{ID: "116000000001", Name: "Revenue.csv", Content: []byte("North,5600\nSouth,4300\n")})
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithBasic("ada@example.com", "secret"))
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, c, nil
}

func ExampleModelHandle_UploadAndImport() {
	srv, c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	m := c.Model("WS", "MODEL")
	csv := strings.NewReader("Region,Units\nNorth,120\nSouth,95\n")
	// An empty file ID means the import's own source file.
	res, err := m.UploadAndImport(ctx, "", csv, "112000000001", nil)
	var te *anaplan.TaskError
	switch {
	case errors.As(err, &te):
		// The import ran and failed: its failure dumps say why.
		for _, d := range res.Dumps() {
			_, _ = m.Dump(ctx, d, os.Stdout)
		}
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(res.Message())
	}
	// Output:
	// Load sales: 3 lines read
}

func ExampleModelHandle_ExportAndDownload() {
	srv, c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	var out bytes.Buffer // or an *os.File
	_, n, err := c.Model("WS", "MODEL").ExportAndDownload(ctx, "116000000001", &out, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes:\n%s", n, out.String())
	// Output:
	// 22 bytes:
	// North,5600
	// South,4300
}
