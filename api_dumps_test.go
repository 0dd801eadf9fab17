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
)

// dumpRoutes are the fake's dump routes of imports, for Calls.
const (
	importTaskPattern  = "GET " + modelPattern + "/imports/{importID}/tasks/{taskID}"
	dumpWholePattern   = importTaskPattern + "/dump"
	dumpChunkPattern   = importTaskPattern + "/dump/chunks/{chunkID}"
	nestedChunkPattern = importTaskPattern + "/dumps/{objectID}/chunks/{chunkID}"
	nestedWholePattern = importTaskPattern + "/dumps/{objectID}"
)

// failedImport runs the fixture's import with b and returns its result.
func failedImport(t *testing.T, f *fixture, b anaplantest.TaskBehaviour) *anaplan.TaskResult {
	t.Helper()
	b.Fail = true
	f.srv.SetTaskBehaviour(testWS, testModel, importID, b)
	res, err := f.m.RunImport(context.Background(), importID, fastPolls)
	var te *anaplan.TaskError
	if !errors.As(err, &te) || res == nil {
		t.Fatalf("RunImport = %+v, %v; want a failed result", res, err)
	}
	return res
}

// TestDumpInChunks: a dump of three chunks is fetched chunk by chunk, in
// order; a nested result of an import has its dump under …/dumps/{objectId}
// (issue 8.2; both failed before: the SDK fetched …/dump whole, and fetched
// the import's own dump for its nested result).
func TestDumpInChunks(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	dump := []byte("row,error\n2,Item not found\n3,Item not found\n") // 44 bytes: chunks of 16, 16, 12
	nested := []byte("line,error\n7,Bad date\n")
	res := failedImport(t, f, anaplantest.TaskBehaviour{Dump: dump, DumpChunkSize: 16,
		Nested: []anaplantest.NestedResult{{ObjectID: "N1", Name: "Sales: Products", Fail: true, Dump: nested, Message: "1 row rejected"}, {ObjectID: "N2"}}})

	ds := res.Dumps()
	if len(ds) != 2 || ds[0] != res || ds[1].ObjectID != "N1" || !ds[1].Nested || ds[1].ObjectName != "Sales: Products" {
		t.Fatalf("Dumps() = %+v, want the import's and its nested N1's", ds)
	}
	var got []string
	w := writerFunc(func(p []byte) (int, error) { got = append(got, string(p)); return len(p), nil })
	n, err := f.m.Dump(ctx, ds[0], w)
	if err != nil || n != int64(len(dump)) || strings.Join(got, "") != string(dump) {
		t.Fatalf("Dump = %d, %v, %q", n, err, got)
	}
	if c := f.srv.Calls(dumpChunkPattern); c != 3 {
		t.Errorf("%d chunk requests, want 3", c)
	}
	if c := f.srv.Calls(dumpWholePattern); c != 0 {
		t.Errorf("%d requests for the whole dump, want 0 when chunks are offered", c)
	}

	var buf bytes.Buffer
	if n, err := f.m.Dump(ctx, ds[1], &buf); err != nil || n != int64(len(nested)) || !bytes.Equal(buf.Bytes(), nested) {
		t.Fatalf("nested Dump = %d, %v, %q", n, err, buf.Bytes())
	}
	if c := f.srv.Calls(nestedChunkPattern); c != 2 { // 22 bytes in chunks of 16
		t.Errorf("%d nested chunk requests, want 2", c)
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// TestDumpWholeWhenNoChunks: where …/dump/chunks is not offered, Dump falls
// back to the whole dump, for the task's own and a nested one.
func TestDumpWholeWhenNoChunks(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	f.srv.SetDumpChunksOffered(false)
	dump := []byte("row,error\n2,x\n")
	res := failedImport(t, f, anaplantest.TaskBehaviour{Dump: dump, Nested: []anaplantest.NestedResult{{ObjectID: "N1", Fail: true, Dump: []byte("n\n")}}})
	for i, want := range []string{string(dump), "n\n"} {
		var buf bytes.Buffer
		if _, err := f.m.Dump(context.Background(), res.Dumps()[i], &buf); err != nil || buf.String() != want {
			t.Errorf("Dump %d = %v, %q; want %q", i, err, buf.String(), want)
		}
	}
	if a, b := f.srv.Calls(dumpWholePattern), f.srv.Calls(nestedWholePattern); a != 1 || b != 1 {
		t.Errorf("%d and %d whole-dump requests, want 1 each", a, b)
	}
}

// TestDumpGone: a dump 48 hours after its last fetch, or after the action
// ran again, is gone; the error says so and wraps the 404.
func TestDumpGone(t *testing.T) {
	for _, tt := range []struct {
		name   string
		chunks bool
		after  func(f *fixture)
	}{
		{"48 hours later", true, func(f *fixture) { f.srv.Advance(anaplantest.DumpLifetime) }},
		{"48 hours later, whole form", false, func(f *fixture) { f.srv.Advance(anaplantest.DumpLifetime) }},
		{"after a re-run", true, func(f *fixture) {
			if _, err := f.m.RunImport(context.Background(), importID, fastPolls); err == nil {
				panic("the re-run succeeded")
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			addActions(f)
			f.srv.SetDumpChunksOffered(tt.chunks)
			res := failedImport(t, f, anaplantest.TaskBehaviour{Dump: []byte("a\n")})
			ctx := context.Background()
			// Fetching it within the lifetime keeps it another 48 hours.
			f.srv.Advance(anaplantest.DumpLifetime - time.Minute)
			if _, err := f.m.Dump(ctx, res, &bytes.Buffer{}); err != nil {
				t.Fatalf("Dump within 48 hours: %v", err)
			}
			tt.after(f)
			_, err := f.m.Dump(ctx, res, &bytes.Buffer{})
			var ae *anaplan.APIError
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || !strings.Contains(err.Error(), "48 hours") || !strings.Contains(err.Error(), "run the action again") {
				t.Errorf("Dump of a stale dump: %v; want a 404 that says dumps last 48 hours", err)
			}
		})
	}
}

// TestDumpErrors: results without a dump send nothing.
func TestDumpErrors(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	ctx := context.Background()
	res := failedImport(t, f, anaplantest.TaskBehaviour{})
	before := f.srv.Calls("")
	for name, r := range map[string]*anaplan.TaskResult{
		"no dump":           res,
		"not from Run":      {FailureDumpAvailable: true},
		"nil":               nil,
		"unknown task kind": {FailureDumpAvailable: true, Kind: "report", ActionID: "x", TaskID: "y"},
	} {
		if _, err := f.m.Dump(ctx, r, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: Dump succeeded", name)
		}
	}
	if n := f.srv.Calls("") - before; n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestDumpStreams: a chunk reaches the writer in small pieces as it
// arrives, never held whole (bounded memory whatever the dump's size).
func TestDumpStreams(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	dump := bytes.Repeat([]byte("row,error message\n"), 20000) // 360 kB, one chunk
	res := failedImport(t, f, anaplantest.TaskBehaviour{Dump: dump})
	var total, largest int
	w := writerFunc(func(p []byte) (int, error) { total += len(p); largest = max(largest, len(p)); return len(p), nil })
	if _, err := f.m.Dump(context.Background(), res, w); err != nil || total != len(dump) {
		t.Fatalf("Dump = %v, %d bytes", err, total)
	}
	if largest > 64<<10 {
		t.Errorf("a write of %d bytes: the chunk was buffered rather than streamed", largest)
	}
}

// A failed import offers the rows it rejected as a failure dump, for the
// import itself or for one of its nested results.
func ExampleModelHandle_Dump() {
	srv, c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)
	srv.SetTaskBehaviour("WS", "MODEL", "112000000001", anaplantest.TaskBehaviour{
		Fail: true, Message: "1 row rejected", Dump: []byte("Region,Units,_Line_,_Error_1_\nWest,x,2,Invalid number\n"),
	})

	m := c.Model("WS", "MODEL")
	res, err := m.RunImport(ctx, "112000000001", nil)
	var te *anaplan.TaskError
	if !errors.As(err, &te) {
		fmt.Println(err) // the import could not run, or its status not be read
		return
	}
	fmt.Println(res.Message())
	for _, d := range res.Dumps() {
		if _, err := m.Dump(ctx, d, os.Stdout); err != nil {
			fmt.Println(err) // a dump is kept 48 hours after it was last fetched
		}
	}
	// Output:
	// 1 row rejected
	// Region,Units,_Line_,_Error_1_
	// West,x,2,Invalid number
}

// FuzzDumpAnswer feeds arbitrary answers to Dump's chunk list and chunks:
// it never panics, and writes at most what the answers held.
func FuzzDumpAnswer(f *testing.F) {
	for _, s := range []string{
		`{"chunks":[{"id":"0","name":"Chunk 0"},{"id":"1"}]}`, `{"chunks":[{"id":0}]}`, `{"chunks":[{}]}`,
		`{"chunks":null}`, `{"meta":{"paging":{"totalSize":2}}}`, `{"chunks":[{"id":"../x"}]}`, `[`, `null`, "row,error\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := offlineClient(t, 200, body)
		res := &anaplan.TaskResult{Kind: anaplan.ImportTask, ActionID: "i", TaskID: "t", FailureDumpAvailable: true}
		var buf bytes.Buffer
		n, err := c.Model("w", "m").Dump(context.Background(), res, &buf)
		if n != int64(buf.Len()) {
			t.Fatalf("Dump reported %d bytes and wrote %d (%v)", n, buf.Len(), err)
		}
		if buf.Len() > len(body)*(len(body)+1) {
			t.Fatalf("Dump wrote %d bytes from answers of %d", buf.Len(), len(body))
		}
	})
}
