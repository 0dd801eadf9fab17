package anaplantest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestChunkStorageRecycledOnlyWhenUnread: uploaded content is recycled into
// the chunk pool once replaced, but never while a GET is still writing it
// out. A GET of content A is held half-read while A is replaced (by B) and
// B by C, all of one size: the held GET must still deliver A whole.
func TestChunkStorageRecycledOnlyWhenUnread(t *testing.T) {
	s, do := integrationServer(t)
	s.AddFile("WS", "M", File{ID: "F", Name: "f.csv"})
	const size = 4 << 20 // more than the socket buffers, so the GET blocks
	content := func(b byte) []byte { return bytes.Repeat([]byte{b}, size) }
	const file = "/2/0/workspaces/WS/models/M/files/F"
	upload := func(data []byte) {
		t.Helper()
		if a := do("POST", file, "application/json", []byte(`{"chunkCount":1}`)); a.status != 200 {
			t.Fatalf("start: %d %s", a.status, a.raw)
		}
		if a := do("PUT", file+"/chunks/0", "application/octet-stream", data); a.status != 204 {
			t.Fatalf("chunk: %d %s", a.status, a.raw)
		}
	}
	upload(content('A'))

	// Start the GET of A and read only its first bytes.
	tok := login(t, s, iUser, iPass)
	req, _ := http.NewRequestWithContext(context.Background(), "GET", s.URL()+file+"/chunks/0", nil)
	req.Header.Set("Authorization", "AnaplanAuthToken "+tok)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	upload(content('B')) // A retired, but still read: not recycled
	upload(content('C')) // B recycled; C may take B's buffer, never A's
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, content('A')) {
		i := 0
		for i < len(got) && got[i] == 'A' {
			i++
		}
		t.Fatalf("the held GET delivered %d bytes, changed from byte %d: a buffer was reused while written out", len(got), i)
	}
	if got, _ := s.FileContent("WS", "M", "F"); !bytes.Equal(got, content('C')) {
		t.Error("the file does not hold the last upload")
	}
}

// TestChunkStorageReusesBuffers: storing a chunk of a size seen before,
// once the content it replaces is unread, takes a recycled buffer rather
// than a new allocation.
func TestChunkStorageReusesBuffers(t *testing.T) {
	const n = 1 << 20
	b := getChunkBuf(n)
	sc := &storedChunks{bufs: [][]byte{b}}
	sc.readers = 1
	sc.retire()
	if got := getChunkBuf(n); &got[0] == &b[0] {
		t.Fatal("a buffer still read was handed out again")
	}
	sc.readers = 0
	sc.recycle()
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops and reorders items at random; the reuse itself is checked without -race")
	}
	// sync.Pool may drop what it holds at any time (a GC): try a few times.
	for range 10 {
		got := getChunkBuf(n)
		if &got[0] == &b[0] {
			return
		}
		putChunkBuf(got)
		sc := &storedChunks{bufs: [][]byte{b}, retired: true}
		sc.recycle()
	}
	t.Error("a recycled buffer was never handed out again")
}

// TestPageBuildsOnlyThePage: a page of a long list builds the items of
// that page only (O(page), not O(list)).
func TestPageBuildsOnlyThePage(t *testing.T) {
	in := &integration{maxPage: MaxPageSize}
	built := 0
	item := func(i int) map[string]any { built++; return map[string]any{"id": strconv.Itoa(i)} }
	for _, tc := range []struct{ query string }{{"limit=10&offset=0"}, {"limit=10&offset=49990"}, {"limit=10&offset=60000"}} {
		built = 0
		w := httptest.NewRecorder()
		in.pageOf(w, httptest.NewRequest("GET", "/2/0/x?"+tc.query, nil), "files", 50_000, item)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", tc.query, w.Code)
		}
		if want := min(10, max(50_000-atoi(t, tc.query), 0)); built != want {
			t.Errorf("%s: %d items built for a page of %d", tc.query, built, want)
		}
	}
}

// atoi reads the offset of a query limit=…&offset=N.
func atoi(t *testing.T, q string) int {
	i := bytes.LastIndexByte([]byte(q), '=')
	n, err := strconv.Atoi(q[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
