package anaplan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// repeatBody writes head, then item n times separated by commas, then tail,
// from one small buffer, so that the test server allocates next to nothing
// however long the answer. It stops when the client hangs up.
func repeatBody(w io.Writer, head, item, tail string, n int) {
	var b bytes.Buffer
	const batch = 4096
	for range batch {
		b.WriteString(item)
		b.WriteByte(',')
	}
	block := b.Bytes()
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	for left := n; left > 0; {
		k := min(left, batch)
		p := block[:k*(len(item)+1)]
		if left == k {
			p = p[:len(p)-1] // no comma after the last item
		}
		if _, err := w.Write(p); err != nil {
			return
		}
		left -= k
	}
	_, _ = io.WriteString(w, tail)
}

// streamingClient is a client of a loopback TLS server answering every
// request with answer.
func streamingClient(t *testing.T, answer http.HandlerFunc) *anaplan.Client {
	t.Helper()
	srv := httptest.NewTLSServer(answer)
	t.Cleanup(srv.Close)
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: srv.URL, API: srv.URL + "/2/0"}),
		anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: "t", Type: "AnaplanAuthToken", Expiry: time.Now().Add(time.Hour)}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// streamClient is a client whose first request is answered with body.
func streamClient(t *testing.T, body io.ReadCloser) *anaplan.Client {
	t.Helper()
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(anaplan.Endpoints{Auth: "https://auth.example.test", API: "https://api.example.test/2/0"}),
		anaplan.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Request: req, ContentLength: -1}, nil
		})}),
		anaplan.WithTokenSource(anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) {
			return &anaplan.Token{Value: "t", Type: "AnaplanAuthToken"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestListPageBoundedByPageSize: a page holding more items than the page
// size asked for is an error naming the endpoint, found while decoding: a
// 63 MiB page of {} (22 M items) is refused after the first item too many,
// without decoding (or allocating for) the rest. Today's code read the whole
// page and decoded every item (7.4 GiB of heap for the 63 MiB page); its
// failure was checked on the small cases only, to spare the shared machine.
func TestListPageBoundedByPageSize(t *testing.T) {
	const head = `{"meta":{"paging":{"currentPageSize":5000,"offset":0,"totalSize":30000000}},"files":[`
	for _, tc := range []struct {
		name     string
		pageSize int
		items    int
		wantErr  bool
	}{
		{"63 MiB of {}", 0, (63 << 20) / 3, true},
		{"one item beyond the page size asked for", 2, 3, true},
		{"one item beyond the default page size", 0, anaplan.MaxPageSize + 1, true},
		{"the page size asked for", 2, 2, false},
		{"fewer than asked for", 5, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := streamingClient(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Query().Get("offset") != "0" {
					_, _ = io.WriteString(w, `{"meta":{"paging":{"totalSize":0}}}`)
					return
				}
				repeatBody(w, strings.Replace(head, "30000000", strconv.Itoa(tc.items), 1), `{}`, `]}`, tc.items)
			})
			var opts []anaplan.ListOption
			if tc.pageSize > 0 {
				opts = append(opts, anaplan.PageSize(tc.pageSize))
			}
			var got int
			var err error
			alloc := allocated(func() {
				for _, e := range c.Model("WS", "M").Files(context.Background(), opts...) {
					if e != nil {
						err = e
						break
					}
					got++
				}
			})
			if !tc.wantErr {
				if err != nil || got != tc.items {
					t.Fatalf("got %d items, error %v; want %d items", got, err, tc.items)
				}
				return
			}
			if err == nil {
				t.Fatalf("a page of %d items (page size %d) was accepted (%d yielded)", tc.items, tc.pageSize, got)
			}
			if got != 0 {
				t.Errorf("%d items yielded from a refused page", got)
			}
			for _, want := range []string{"GET ", "/2/0/workspaces/WS/models/M/files", "more than"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if alloc > 16<<20 {
				t.Errorf("refusing the page allocated %d MiB: it was read or decoded whole", alloc>>20)
			}
		})
	}
}

// TestDownloadChunkListBounded: a chunk list longer than MaxDownloadChunks
// (here 5 M entries, 893 MiB allocated by today's code before the first
// chunk) is refused while it is decoded, before any chunk is fetched.
func TestDownloadChunkListBounded(t *testing.T) {
	var chunkGets int
	c := streamingClient(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chunks") {
			repeatBody(w, `{"meta":{"schema":"x"},"chunks":[`, `{"id":"0","name":"Chunk 0"}`, `]}`, 5_000_000)
			return
		}
		chunkGets++
		w.WriteHeader(http.StatusOK)
	})
	var err error
	var n int64
	alloc := allocated(func() {
		n, err = c.Model("WS", "M").Download(context.Background(), "F", io.Discard, nil)
	})
	if err == nil {
		t.Fatalf("a list of 5 M chunks was accepted (%d bytes downloaded)", n)
	}
	for _, want := range []string{"/2/0/workspaces/WS/models/M/files/F/chunks", "more than " + strconv.Itoa(anaplan.MaxDownloadChunks)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if chunkGets != 0 {
		t.Errorf("%d chunks fetched from a refused list", chunkGets)
	}
	// The MaxDownloadChunks entries decoded before the refusal take a few
	// MiB; the whole list would take hundreds.
	if alloc > 32<<20 {
		t.Errorf("refusing the list allocated %d MiB", alloc>>20)
	}
}

// TestListAnswerShapes: the one-pass decoder takes the answers json.Unmarshal
// took (keys in any order, unknown keys of any size, null lists) and refuses
// what it refused.
func TestListAnswerShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    int
		wantErr string
	}{
		{"meta after the items", `{"files":[{"id":"1"},{"id":"2"}],"meta":{"paging":{"totalSize":2}}}`, 2, ""},
		{"unknown keys", `{"status":{"code":200,"x":[1,{"y":[]}]},"files":[{"id":"1","extra":{"a":[1,2]}}],"more":"s","meta":{"paging":{"totalSize":1}}}`, 1, ""},
		{"null list", `{"files":null,"meta":{"paging":{"totalSize":0}}}`, 0, ""},
		{"no list", `{"meta":{"paging":{"totalSize":0}}}`, 0, ""},
		{"null answer", `null`, 0, ""},
		{"white space after", "{\"files\":[{\"id\":\"1\"}]}\n\t ", 1, ""},
		{"data after", `{"files":[{"id":"1"}]} {}`, 0, "data after"},
		{"a list that is not an array", `{"files":{"id":"1"}}`, 0, "not the JSON array"},
		{"an item of the wrong type", `{"files":[{"id":1}]}`, 0, "not the JSON expected"},
		{"cut short", `{"files":[{"id":"1"}`, 0, "unexpected EOF"},
		{"not an object", `[]`, 0, "not the JSON object"},
		{"bad paging", `{"meta":{"paging":"x"}}`, 0, "paging information"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := offlineClient(t, http.StatusOK, []byte(tc.body))
			got, err := anaplan.Collect(c.Model("w", "m").Files(context.Background()))
			if tc.wantErr == "" {
				if err != nil || len(got) != tc.want {
					t.Fatalf("got %d items, error %v; want %d", len(got), err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestListAnswerTooLarge: an answer past the 64 MiB bound is refused as too
// large, even inside a value the decoder skips.
func TestListAnswerTooLarge(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { repeatBody(pw, `{"status":"`, strings.Repeat("x", 1023), `"}`, 80<<10); pw.Close() }() // 80 MiB
	defer pr.Close()
	c := streamClient(t, pr)
	_, err := anaplan.Collect(c.Model("w", "m").Files(context.Background()))
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("error %v, want one saying the answer is too large", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a cut answer is reported as a short one: %v", err)
	}
}
