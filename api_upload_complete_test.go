package anaplan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// TestUploadRefusesAnotherFileID: when the upload start answers with
// another file ID, Anaplan made a new file; Upload sends nothing more and
// names it (issue 8.6; before, the chunks went to the old ID).
func TestUploadRefusesAnotherFileID(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv", Content: []byte("old\n")})
	const newID = "113000000099"
	f.srv.AnswerUploadWithNewFile(testWS, testModel, fileID, newID)
	_, err := f.m.Upload(context.Background(), fileID, strings.NewReader("new\n"), nil)
	if err == nil || !strings.Contains(err.Error(), newID) || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("Upload: %v, want an error naming the new file", err)
	}
	if n := f.srv.Calls("PUT " + modelPattern + "/files/{fileID}/chunks/{chunkID}"); n != 0 {
		t.Errorf("%d chunks sent after the answer named another file", n)
	}
	if n := f.srv.Calls("POST " + modelPattern + "/files/{fileID}/complete"); n != 0 {
		t.Errorf("%d completions sent", n)
	}
	if b, _ := f.srv.FileContent(testWS, testModel, fileID); string(b) != "old\n" {
		t.Errorf("the file now holds %q", b)
	}
}

// TestUploadCompleteBody: complete sends the file's metadata, the superset
// of ANAPLAN-DATA.md §8: a string id, name, chunkCount, firstDataRow and
// headerRow.
func TestUploadCompleteBody(t *testing.T) {
	f := newFixture(t)
	f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fileID, Name: "Sales.csv"})
	if _, err := f.m.Upload(context.Background(), fileID, strings.NewReader("a,b\n1,2\n"), nil); err != nil {
		t.Fatal(err)
	}
	got, ok := f.srv.FileCompletion(testWS, testModel, fileID)
	if !ok {
		t.Fatal("no complete request")
	}
	want := map[string]any{
		"id": fileID, "name": "Sales.csv", "chunkCount": 1.0, "firstDataRow": 2.0, "headerRow": 1.0,
		"delimiter": `"`, "encoding": "UTF-8", "format": "txt", "separator": ",",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("complete body (-want +got):\n%s", d)
	}
}
