package anaplantest

import (
	"net/http"
	"strconv"
	"testing"
)

// The readRequests wire, step by step, as Anaplan documents it.
func TestReadRequestsWire(t *testing.T) {
	s := New(t)
	s.AddUser("ada@example.com", "pw")
	s.AddUser("bob@example.com", "pw")
	s.AddModel("WS", Model{ID: "M", Name: "Budget"})
	s.AddModel("WS", Model{ID: "P", Name: "Private", Users: []string{"bob@example.com"}})
	rows := func(yield func([]string) bool) {
		for i := range 25 {
			if !yield([]string{"Item " + strconv.Itoa(i), "Parent", "C" + strconv.Itoa(i)}) {
				return
			}
		}
	}
	s.SetReadSource("WS", "M", "101000000001", []string{"", "Parent", "Code"}, rows)
	s.SetReadSource("WS", "M", "102000000001", []string{"Line item", "Value"}, rows)
	s.SetReadSource("WS", "P", "102000000002", []string{"Line item", "Value"}, rows)
	if !s.SetReadBehaviour("WS", "M", "101000000001", ReadBehaviour{PageRows: 10}) {
		t.Fatal("SetReadBehaviour: the list is not readable")
	}
	if s.SetReadBehaviour("WS", "M", "999", ReadBehaviour{}) {
		t.Error("SetReadBehaviour reports an object that was never set readable")
	}
	h := authToken(login(t, s, "ada@example.com", "pw"))
	csvH := map[string]string{"Authorization": h["Authorization"], "Accept": "text/csv"}
	const m = "/2/0/workspaces/WS/models/M"
	list := m + "/lists/101000000001/readRequests"

	// Starting: a list takes no body or {}; a view needs a known exportType.
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{list, nil, 200},
		{list, "{}", 200},
		{m + "/views/102000000001/readRequests", nil, 400},
		{m + "/views/102000000001/readRequests", map[string]string{"exportType": "TABULAR"}, 400},
		{m + "/views/102000000001/readRequests", "not json", 400},
		{m + "/views/102000000001/readRequests", map[string]string{"exportType": "TABULAR_SINGLE_ITEMS"}, 200},
		{m + "/views/102000000999/readRequests", map[string]string{"exportType": "TABULAR_MULTI_COLUMN"}, 404},
		{"/2/0/workspaces/WS/models/P/views/102000000002/readRequests", map[string]string{"exportType": "GRID_ALL_PAGES"}, 404}, // no access
		{"/2/0/workspaces/WS/models/NOPE/lists/101000000001/readRequests", nil, 404},
	} {
		if r := call(t, s, "POST", tc.path, h, tc.body); r.Status != tc.want {
			t.Errorf("POST %s with %v: %d, want %d: %s", tc.path, tc.body, r.Status, tc.want, r.Raw)
		}
	}

	r := call(t, s, "POST", list, h, nil)
	rid := str(r.Body, "listReadRequest", "requestId")
	if rid == "" || str(r.Body, "listReadRequest", "requestState") != "NOT_STARTED" ||
		str(r.Body, "listReadRequest", "url") != s.URL()+list+"/"+rid {
		t.Fatalf("start answer: %s", r.Raw)
	}
	u := list + "/" + rid

	// A page not yet available, then three polls that make 1, 2, 3 pages
	// available; the ID comes back as a number.
	if r := call(t, s, "GET", u+"/pages/0", csvH, nil); r.Status != 404 {
		t.Errorf("page 0 before any poll: %d, want 404", r.Status)
	}
	for i, want := range []string{"IN_PROGRESS", "IN_PROGRESS", "COMPLETE"} {
		r := call(t, s, "GET", u, h, nil)
		st, _ := r.Body["listReadRequest"].(map[string]any)
		if r.Status != 200 || st["requestState"] != want || st["availablePages"] != float64(i+1) || st["listId"] != float64(101000000001) || st["successful"] != (want == "COMPLETE") {
			t.Errorf("poll %d: %s", i, r.Raw)
		}
	}

	// Pages need Accept: text/csv; page 0 has the header, others do not.
	if r := call(t, s, "GET", u+"/pages/0", h, nil); r.Status != http.StatusNotAcceptable {
		t.Errorf("page without Accept: text/csv: %d, want 406", r.Status)
	}
	p0 := call(t, s, "GET", u+"/pages/0", csvH, nil)
	p2 := call(t, s, "GET", u+"/pages/2", csvH, nil)
	if p0.Status != 200 || p0.Header.Get("Content-Type") != "text/csv" || p0.Raw[:12] != ",Parent,Code" || p2.Raw != "Item 20,Parent,C20\nItem 21,Parent,C21\nItem 22,Parent,C22\nItem 23,Parent,C23\nItem 24,Parent,C24\n" {
		t.Errorf("pages: %d %q, %q", p0.Status, p0.Raw, p2.Raw)
	}
	if r := call(t, s, "GET", u+"/pages/3", csvH, nil); r.Status != 404 {
		t.Errorf("page 3 of 3: %d, want 404", r.Status)
	}
	// Another route's view of the same request ID is not found.
	if r := call(t, s, "GET", m+"/views/101000000001/readRequests/"+rid, h, nil); r.Status != 404 {
		t.Errorf("the list's request through the views route: %d, want 404", r.Status)
	}

	// Delete: COMPLETE stays COMPLETE; then it is gone.
	if r := call(t, s, "DELETE", u, h, nil); r.Status != 200 || str(r.Body, "listReadRequest", "requestState") != "COMPLETE" {
		t.Errorf("delete: %d %s", r.Status, r.Raw)
	}
	for _, method := range []string{"GET", "DELETE"} {
		if r := call(t, s, method, u, h, nil); r.Status != 404 {
			t.Errorf("%s after delete: %d, want 404", method, r.Status)
		}
	}

	// The view fails once, midway: COMPLETE, successful false; a request
	// still running is CANCELLED by delete.
	s.SetReadBehaviour("WS", "M", "102000000001", ReadBehaviour{FailNext: 1, FailAfterPages: 1})
	v := m + "/views/102000000001/readRequests"
	body := map[string]string{"exportType": "TABULAR_MULTI_COLUMN"}
	vid := str(call(t, s, "POST", v, h, body).Body, "viewReadRequest", "requestId")
	if r := call(t, s, "GET", v+"/"+vid, h, nil); str(r.Body, "viewReadRequest", "requestState") != "COMPLETE" || r.Body["viewReadRequest"].(map[string]any)["successful"] != false {
		t.Errorf("failing request: %s", r.Raw)
	}
	vid2 := str(call(t, s, "POST", v, h, body).Body, "viewReadRequest", "requestId")
	if r := call(t, s, "DELETE", v+"/"+vid2, h, nil); str(r.Body, "viewReadRequest", "requestState") != "CANCELLED" {
		t.Errorf("delete of a request not yet polled: %s", r.Raw)
	}

	reqs := s.ReadRequests("WS", "M")
	if len(reqs) != 6 { // the two list starts and the TABULAR_SINGLE_ITEMS one above, then three
		t.Fatalf("%d requests recorded, want 6: %+v", len(reqs), reqs)
	}
	if got := reqs[3]; got.ID != rid || !got.Deleted || got.Polls != 3 || got.PagesServed != 2 || got.TotalPages != 3 || got.Kind != "lists" {
		t.Errorf("the list request's record: %+v", got)
	}
	if got := reqs[5]; got.ID != vid2 || got.State != "CANCELLED" || got.ExportType != "TABULAR_MULTI_COLUMN" {
		t.Errorf("the cancelled request's record: %+v", got)
	}
}

// KeepPages reads the source once for every request; without it, every
// request takes its own snapshot.
func TestReadSourceCalls(t *testing.T) {
	s := New(t)
	s.AddUser("ada@example.com", "pw")
	calls := 0
	s.SetReadSource("WS", "M", "101", []string{"a"}, func(yield func([]string) bool) {
		_ = s.ReadRequests("WS", "M") // a source may call the server: no lock is held
		calls++
		yield([]string{strconv.Itoa(calls)})
	})
	h := authToken(login(t, s, "ada@example.com", "pw"))
	start := func() string {
		r := call(t, s, "POST", "/2/0/workspaces/WS/models/M/lists/101/readRequests", h, nil)
		rid := str(r.Body, "listReadRequest", "requestId")
		call(t, s, "GET", "/2/0/workspaces/WS/models/M/lists/101/readRequests/"+rid, h, nil)
		return call(t, s, "GET", "/2/0/workspaces/WS/models/M/lists/101/readRequests/"+rid+"/pages/0", map[string]string{"Authorization": h["Authorization"], "Accept": "text/csv"}, nil).Raw
	}
	if a, b := start(), start(); a != "a\n1\n" || b != "a\n2\n" {
		t.Errorf("snapshots %q, %q; want a fresh one each time", a, b)
	}
	s.SetReadBehaviour("WS", "M", "101", ReadBehaviour{KeepPages: true})
	if a, b := start(), start(); a != "a\n3\n" || b != a {
		t.Errorf("with KeepPages: %q, %q; want the same pages, read once", a, b)
	}
	s.SetReadSource("WS", "M", "101", nil, nil)
	if r := call(t, s, "POST", "/2/0/workspaces/WS/models/M/lists/101/readRequests", h, nil); r.Status != 404 {
		t.Errorf("after SetReadSource(nil): %d, want 404", r.Status)
	}
}
