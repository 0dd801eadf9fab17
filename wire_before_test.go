package anaplan_test

// Tests of issue 8's wire fixes, written against the corrected anaplantest
// before the SDK was fixed.

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan/anaplantest"
)

func TestBeforeModelInfo(t *testing.T) {
	f := newFixture(t)
	info, err := f.m.Info(context.Background())
	if err != nil || info.ID != testModel {
		t.Fatalf("Info = %+v, %v", info, err)
	}
}

func TestBeforeDumpInChunks(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	dump := []byte("row,error\n2,Item not found\n3,Item not found\n")
	f.srv.SetTaskBehaviour(testWS, testModel, importID, anaplantest.TaskBehaviour{Fail: true, Dump: dump, DumpChunkSize: 16,
		Nested: []anaplantest.NestedResult{{ObjectID: "N1", Fail: true, Dump: []byte("nested,dump\n")}}})
	res, _ := f.m.RunImport(context.Background(), importID, fastPolls)
	var buf bytes.Buffer
	if _, err := f.m.Dump(context.Background(), res, &buf); err != nil || !bytes.Equal(buf.Bytes(), dump) {
		t.Errorf("Dump = %v, %q", err, buf.Bytes())
	}
	if n := f.srv.Calls("GET " + modelPattern + "/imports/{importID}/tasks/{taskID}/dump/chunks/{chunkID}"); n != 3 {
		t.Errorf("%d chunk requests, want 3", n)
	}
	ds := res.Dumps()
	if len(ds) != 2 {
		t.Fatalf("Dumps() = %+v", ds)
	}
	buf.Reset()
	if _, err := f.m.Dump(context.Background(), ds[1], &buf); err != nil || buf.String() != "nested,dump\n" {
		t.Errorf("nested Dump = %v, %q", err, buf.Bytes())
	}
}

func TestBeforeWaitSurvivesFivePolls(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	f.srv.FailNext(5, anaplantest.Fault{Status: http.StatusInternalServerError, Path: "GET " + modelPath + "/imports/"})
	if _, err := f.m.RunImport(context.Background(), importID, fastPolls); err != nil {
		t.Fatal(err)
	}
}

func TestBeforeBusyStartRetried(t *testing.T) {
	f := newFixture(t)
	addActions(f)
	f.srv.SetModelBusy(testWS, testModel, 1)
	if _, err := f.m.RunImport(context.Background(), importID, fastPolls); err != nil {
		t.Fatal(err)
	}
}

func TestBeforeChangedFileIDRefused(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	f.srv.AnswerUploadWithNewFile(testWS, testModel, fileID, "113000000099")
	_, err := f.m.Upload(context.Background(), fileID, strings.NewReader("a\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "113000000099") {
		t.Errorf("Upload: %v, want an error naming the new file", err)
	}
	if n := f.srv.Calls("PUT " + modelPattern + "/files/{fileID}/chunks/{chunkID}"); n != 0 {
		t.Errorf("%d chunks sent after the answer named another file", n)
	}
}
