package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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

// TestWaitToleratesFailedPolls: a run of failed status requests does not end
// the wait (issue 8.3; five 500s ended it at the first before), up to
// MaxFailedPolls; then Wait returns the last error. A 404 ends it at once.
func TestWaitToleratesFailedPolls(t *testing.T) {
	pollPath := "GET " + modelPath + "/imports/"
	tests := []struct {
		name    string
		fault   anaplantest.Fault
		n       int
		max     int
		wantErr int // status of the error; 0: success
		polls   int // status requests the server saw
	}{
		{"five 500s, default limit", anaplantest.Fault{Status: 500}, 5, 0, 0, 8},
		{"three 500s, limit 3", anaplantest.Fault{Status: 500}, 3, 3, 0, 6},
		{"four 500s, limit 3", anaplantest.Fault{Status: 500}, 4, 3, 500, 4},
		{"429s, limit 1", anaplantest.Fault{Status: 429, Body: `{"status":{"code":429,"message":"slow down"}}`, RetryAfter: "1000"}, 2, 1, 429, 2},
		{"a 404 at once", anaplantest.Fault{Status: 404}, 1, 0, 404, 1},
		{"no tolerance", anaplantest.Fault{Status: 500}, 1, -1, 500, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			addActions(f) // the import answers 2 polls in progress, then completes
			ctx := context.Background()
			id, err := f.m.StartTask(ctx, anaplan.ImportTask, importID, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.fault.Path = pollPath
			f.srv.FailNext(tt.n, tt.fault)
			opts := *fastPolls
			opts.MaxFailedPolls = tt.max
			res, err := f.m.Wait(ctx, anaplan.ImportTask, importID, id, &opts)
			var ae *anaplan.APIError
			switch {
			case tt.wantErr == 0 && (err != nil || !res.Successful):
				t.Errorf("Wait = %+v, %v; want success", res, err)
			case tt.wantErr != 0 && (!errors.As(err, &ae) || ae.StatusCode != tt.wantErr || !strings.Contains(err.Error(), "may still be running")):
				t.Errorf("Wait: %v; want the last error (%d), saying the task may still run", err, tt.wantErr)
			}
			if n := f.srv.Calls(importTaskPattern); n != tt.polls {
				t.Errorf("%d status requests, want %d", n, tt.polls)
			}
		})
	}

	t.Run("five 503s, each retried by the transport", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		c, err := anaplan.New(context.Background(), anaplan.WithEndpoints(f.srv.Endpoints()), anaplan.WithHTTPClient(f.srv.Client()),
			anaplan.WithBasic(testUser, testPassword), anaplan.WithFastRetriesForTest())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		f.srv.FailNext(5*4, anaplantest.Fault{Status: 503, Path: pollPath}) // the transport sends each poll 4 times
		if res, err := c.Model(testWS, testModel).RunImport(context.Background(), importID, fastPolls); err != nil || !res.Successful {
			t.Errorf("RunImport = %+v, %v", res, err)
		}
		if n := f.srv.Calls(importTaskPattern); n != 23 {
			t.Errorf("%d status requests, want 23 (5 polls sent 4 times, then 3)", n)
		}
	})

	t.Run("the caller's context still ends the wait", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.FailNext(1000, anaplantest.Fault{Status: 500, Path: pollPath})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		opts := *fastPolls
		opts.MaxFailedPolls = 1 << 20 // only the context ends it
		_, err := f.m.RunImport(ctx, importID, &opts)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("RunImport: %v, want the context's deadline", err)
		}
	})
}

// startPattern is the fake's route of import task starts.
const startPattern = "POST " + modelPattern + "/imports/{importID}/tasks"

// TestStartBusyModel: a start refused with 409 or 423 started nothing and
// is retried (issue 8.4; a 409 failed the run before); 422, 424 and 425 say
// what is wrong and are not retried.
func TestStartBusyModel(t *testing.T) {
	ctx := context.Background()
	t.Run("409 twice, then started", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.SetModelBusy(testWS, testModel, 2)
		res, err := f.m.RunImport(ctx, importID, fastPolls)
		if err != nil || !res.Successful {
			t.Fatalf("RunImport = %+v, %v", res, err)
		}
		if n, tasks := f.srv.Calls(startPattern), f.srv.Tasks(testWS, testModel); n != 3 || len(tasks) != 1 {
			t.Errorf("%d starts sent, %d tasks started; want 3 and 1", n, len(tasks))
		}
	})
	t.Run("423 until BusyTimeout", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget", State: "LOCKED"})
		opts := *fastPolls
		opts.BusyTimeout = 100 * time.Millisecond
		_, err := f.m.RunImport(ctx, importID, &opts)
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 423 || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "BusyTimeout") {
			t.Fatalf("RunImport: %v; want the 423, saying the model stayed locked", err)
		}
		if n := f.srv.Calls(startPattern); n < 2 {
			t.Errorf("%d starts sent in 100 ms of 1-2 ms waits, want several", n)
		}
	})
	t.Run("409, no retries", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.SetModelBusy(testWS, testModel, 1)
		opts := *fastPolls
		opts.BusyTimeout = -1
		if _, err := f.m.RunImport(ctx, importID, &opts); err == nil || !strings.Contains(err.Error(), "busy") {
			t.Errorf("RunImport: %v", err)
		}
		if n := f.srv.Calls(startPattern); n != 1 {
			t.Errorf("%d starts sent, want 1", n)
		}
	})
	t.Run("the context ends the retries", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.SetModelBusy(testWS, testModel, 1<<20)
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := f.m.StartTask(ctx, anaplan.ImportTask, importID, fastPolls); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("StartTask: %v", err)
		}
		if n := f.srv.Calls(startPattern); n < 2 {
			t.Errorf("%d starts sent, want several", n)
		}
	})
	for _, tt := range []struct {
		state  string
		status int
		say    string
	}{
		{"ARCHIVED", 422, "archived"},
		{"MAINTENANCE", 424, "offline"},
		{"", 425, "deployed"},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			f := newFixture(t)
			addActions(f)
			if tt.state != "" {
				f.srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget", State: tt.state})
			} else {
				f.srv.FailNext(1, anaplantest.Fault{Status: tt.status, Path: "POST " + modelPath + "/imports/"})
			}
			_, err := f.m.RunImport(ctx, importID, fastPolls)
			var ae *anaplan.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.status || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("RunImport: %v; want the %d, saying %q", err, tt.status, tt.say)
			}
			if n := f.srv.Calls(startPattern); n != 1 {
				t.Errorf("%d starts sent, want 1", n)
			}
		})
	}
}

// TestStartNotReplayed: a start whose outcome is unknown is sent once.
func TestStartNotReplayed(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFixture(t)
			addActions(f)
			f.srv.FailNext(1, anaplantest.Fault{Status: status, Path: "POST " + modelPath + "/imports/"})
			_, err := f.m.RunImport(context.Background(), importID, fastPolls)
			if err == nil || !strings.Contains(err.Error(), "unknown") || !strings.Contains(err.Error(), "check the action's tasks") {
				t.Errorf("RunImport: %v; want an error saying the outcome is unknown", err)
			}
			if n := f.srv.Calls(startPattern); n != 1 {
				t.Errorf("%d starts sent, want 1", n)
			}
		})
	}
	t.Run("the connection drops", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		// The server takes its time; the client's deadline ends the request
		// after it was sent, as a dropped connection would.
		f.srv.FailNext(1, anaplantest.Fault{Latency: 300 * time.Millisecond, Path: "POST " + modelPath + "/imports/"})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := f.m.StartTask(ctx, anaplan.ImportTask, importID, fastPolls); err == nil {
			t.Error("StartTask succeeded")
		}
		if n := f.srv.Calls(startPattern); n != 1 {
			t.Errorf("%d starts sent, want 1", n)
		}
	})
	t.Run("429 is resent: Anaplan did not act on it", func(t *testing.T) {
		f := newFixture(t)
		addActions(f)
		f.srv.FailNext(1, anaplantest.Fault{Status: 429, RetryAfter: "0", Path: "POST " + modelPath + "/imports/"})
		if _, err := f.m.RunImport(context.Background(), importID, fastPolls); err != nil {
			t.Fatal(err)
		}
		if n, tasks := f.srv.Calls(startPattern), f.srv.Tasks(testWS, testModel); n != 2 || len(tasks) != 1 {
			t.Errorf("%d starts sent, %d tasks; want 2 and 1", n, len(tasks))
		}
	})
}

// TestMappingParameters: imports and processes send mappingParameters.
func TestMappingParameters(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	mp := []anaplan.MappingParameter{{EntityType: "Version", EntityName: "Actual"}, {ImportID: importID, EntityType: "Products", EntityName: "Widgets"}}
	for _, kind := range []anaplan.TaskKind{anaplan.ImportTask, anaplan.ProcessTask} {
		id := map[anaplan.TaskKind]string{anaplan.ImportTask: importID, anaplan.ProcessTask: processID}[kind]
		opts := *fastPolls
		opts.MappingParameters = mp
		if _, err := f.m.Run(ctx, kind, id, &opts); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		tasks := f.srv.Tasks(testWS, testModel)
		want := []anaplantest.MappingParameter{{EntityType: "Version", EntityName: "Actual"}, {ImportID: importID, EntityType: "Products", EntityName: "Widgets"}}
		if d := cmp.Diff(want, tasks[len(tasks)-1].MappingParameters); d != "" {
			t.Errorf("%s: mapping parameters the server saw (-want +got):\n%s", kind, d)
		}
	}
	before := f.srv.Calls("")
	for _, tt := range []struct {
		kind anaplan.TaskKind
		id   string
		mp   []anaplan.MappingParameter
	}{
		{anaplan.ExportTask, exportID, mp},
		{anaplan.ActionTask, actionID, mp},
		{anaplan.ImportTask, importID, []anaplan.MappingParameter{{EntityType: "Version"}}},
	} {
		if _, err := f.m.StartTask(ctx, tt.kind, tt.id, &anaplan.RunOptions{MappingParameters: tt.mp}); err == nil || !strings.Contains(err.Error(), "MappingParameters") {
			t.Errorf("%s %v: %v", tt.kind, tt.mp, err)
		}
	}
	if n := f.srv.Calls("") - before; n != 0 {
		t.Errorf("%d requests for refused mapping parameters", n)
	}
	// An importId outside the process: the server's 400.
	opts := RunOptionsWith(fastPolls, []anaplan.MappingParameter{{ImportID: exportID, EntityType: "Version", EntityName: "Actual"}})
	var ae *anaplan.APIError
	if _, err := f.m.RunProcess(ctx, processID, opts); !errors.As(err, &ae) || ae.StatusCode != 400 {
		t.Errorf("an importId that is not the process's: %v", err)
	}
}

// RunOptionsWith copies o with mapping parameters.
func RunOptionsWith(o *anaplan.RunOptions, mp []anaplan.MappingParameter) *anaplan.RunOptions {
	c := *o
	c.MappingParameters = mp
	return &c
}

// TestCancelledBy: a task cancelled by someone says who.
func TestCancelledBy(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	f.srv.SetTaskBehaviour(testWS, testModel, exportID, anaplantest.TaskBehaviour{Polls: -1})
	id, err := f.m.StartTask(ctx, anaplan.ExportTask, exportID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.CancelTask(ctx, anaplan.ExportTask, exportID, id); err != nil {
		t.Fatal(err)
	}
	st, err := f.m.TaskStatus(ctx, anaplan.ExportTask, exportID, id)
	uid, _ := f.srv.UserID(testUser)
	if err != nil || st.CancelledBy != uid || st.State != anaplan.TaskCancelled {
		t.Errorf("TaskStatus = %+v, %v; want cancelled by %s", st, err, uid)
	}
}

// TestTasksList: Tasks lists an action's tasks, oldest first: after a start
// whose outcome was unknown, it says whether one started.
func TestTasksList(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	var ids []string
	for range 3 {
		res, err := f.m.RunImport(ctx, importID, fastPolls)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.TaskID)
	}
	f.srv.SetMaxPageSize(2) // paged
	var got []string
	for task, err := range f.m.Tasks(ctx, anaplan.ImportTask, importID) {
		if err != nil {
			t.Fatal(err)
		}
		if task.State != anaplan.TaskComplete || task.CreationTime == 0 {
			t.Errorf("task %+v", task)
		}
		got = append(got, task.ID)
	}
	if d := cmp.Diff(ids, got); d != "" {
		t.Errorf("Tasks (-want +got):\n%s", d)
	}
	if ts, err := anaplan.Collect(f.m.Tasks(ctx, anaplan.ExportTask, exportID)); err != nil || len(ts) != 0 {
		t.Errorf("an export never run: %v, %v", ts, err)
	}
	if _, err := anaplan.Collect(f.m.Tasks(ctx, "report", "x")); err == nil {
		t.Error("an unknown kind listed")
	}
}

// failPolls fails the first n task status requests with a network error.
type failPolls struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (p *failPolls) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/tasks/") && p.n.Add(-1) >= 0 {
		return nil, errors.New("connection reset by peer (test)")
	}
	return p.next.RoundTrip(req)
}

// TestWaitSurvivesNetworkErrors: polls that fail on the network (each tried
// four times by the transport) do not end the wait either.
func TestWaitSurvivesNetworkErrors(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	fp := &failPolls{next: f.srv.Client().Transport}
	fp.n.Store(5 * 4)
	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithEndpoints(f.srv.Endpoints()), anaplan.WithHTTPClient(&http.Client{Transport: fp}),
		anaplan.WithBasic(testUser, testPassword), anaplan.WithFastRetriesForTest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if res, err := c.Model(testWS, testModel).RunImport(ctx, importID, fastPolls); err != nil || !res.Successful {
		t.Fatalf("RunImport = %+v, %v", res, err)
	}
	fp.n.Store(1 << 20)
	opts := *fastPolls
	opts.MaxFailedPolls = 2
	_, err = c.Model(testWS, testModel).RunImport(ctx, importID, &opts)
	if err == nil || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "gave up after 3 failed status requests") {
		t.Errorf("RunImport: %v; want the last network error after 3 failed polls", err)
	}
}

// TestWaitEndsOnLostCredentials: a poll whose token cannot be renewed
// without a person (or with these credentials) ends the wait at once:
// waiting would not bring the credentials back. (Before, the error of the
// token source counted as a failed poll, tried MaxFailedPolls times.)
func TestWaitEndsOnLostCredentials(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	var clock atomic.Int64 // the client's clock, as an offset from now
	var calls atomic.Int64
	src := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
		if calls.Add(1) == 1 {
			tok := f.srv.IssueToken(testUser)
			tok.Expiry = time.Now().Add(time.Hour)
			return tok, nil
		}
		return nil, fmt.Errorf("the refresh token is gone: %w", anaplan.ErrInteractionRequired)
	})
	c, err := anaplan.New(ctx, anaplan.WithEndpoints(f.srv.Endpoints()), anaplan.WithHTTPClient(f.srv.Client()), anaplan.WithTokenSource(src),
		anaplan.WithClockForTest(func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	m := c.Model(testWS, testModel)
	id, err := m.StartTask(ctx, anaplan.ImportTask, importID, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(2 * time.Hour)) // the token has expired
	_, err = m.Wait(ctx, anaplan.ImportTask, importID, id, fastPolls)
	if !errors.Is(err, anaplan.ErrInteractionRequired) {
		t.Fatalf("Wait: %v, want ErrInteractionRequired", err)
	}
	if n := calls.Load(); n > 3 {
		t.Errorf("the token source was asked %d times: the wait went on", n)
	}
}
