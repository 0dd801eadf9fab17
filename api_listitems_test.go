package anaplan_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

const itemsRoute = "/2/0/workspaces/{workspaceID}/models/{modelID}/lists/{listID}/items"

func TestListItemsRead(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	got, err := anaplan.Collect(f.m.ListItems(ctx, "101000000002"))
	if err != nil {
		t.Fatal(err)
	}
	want := []anaplan.ListItem{
		{ID: "202000000001", Name: "Leeds", Code: "LDS", Parent: "North", ParentID: "201000000001",
			Properties: map[string]string{"Manager": "Ada"}, Subsets: map[string]bool{"Big": true}},
		{ID: "202000000002", Name: "York", Code: "YRK", Parent: "North", ParentID: "201000000001",
			Properties: map[string]string{"Manager": ""}, Subsets: map[string]bool{"Big": false}},
		{ID: "202000000003", Name: "Bristol", Code: "BRS", Parent: "South", ParentID: "201000000002",
			Properties: map[string]string{"Manager": ""}, Subsets: map[string]bool{"Big": false}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}

	// 0 items: Anaplan leaves the key out.
	none, err := anaplan.Collect(f.m.ListItems(ctx, "101000000003"))
	if err != nil || len(none) != 0 {
		t.Errorf("items of an empty list = %v, %v", none, err)
	}
	// Stopping early is fine.
	for it, err := range f.m.ListItems(ctx, "101000000002") {
		if err != nil || it.Name != "Leeds" {
			t.Fatalf("first item = %+v, %v", it, err)
		}
		break
	}
	if _, err := anaplan.Collect(f.m.ListItems(ctx, "nope")); !isStatus(err, 404) || !strings.Contains(err.Error(), "no access") {
		t.Errorf("unknown list: %v", err)
	}
}

// manyItems makes n items named prefix0…; the ones at the indexes in bad
// have a parent that does not exist.
func manyItems(prefix string, n int, bad ...int) []anaplan.ListItem {
	items := make([]anaplan.ListItem, n)
	for i := range items {
		items[i] = anaplan.ListItem{Name: prefix + strconv.Itoa(i), Code: "C" + prefix + strconv.Itoa(i)}
	}
	for _, i := range bad {
		items[i].Parent = "no such parent"
	}
	return items
}

func TestAddListItemsBatches(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		bad     []int
		calls   int
		wantIdx []int
	}{
		{"none", 0, nil, 0, nil},
		{"one item", 1, nil, 1, nil},
		{"exactly one batch", anaplan.MaxListItemsPerCall, []int{99_999}, 1, []int{99_999}},
		{"a batch boundary", anaplan.MaxListItemsPerCall + 1, []int{3, 100_000}, 2, []int{3, 100_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := salesModel()
			d.Lists = append(d.Lists, anaplantest.List{ID: "101000000009", Name: "Big", Parent: "Region"})
			f := newDataFixture(t, d)
			items := manyItems("i", tt.n, tt.bad...)
			for i := range items {
				if items[i].Parent == "" {
					items[i].Parent = "North"
				}
			}
			res, err := f.m.AddListItems(context.Background(), "101000000009", items)
			if err != nil {
				t.Fatal(err)
			}
			if n := f.srv.Calls("POST " + itemsRoute); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
			var idx []int
			for _, fl := range res.Failures {
				idx = append(idx, fl.Index)
				if fl.Type != "INCORRECT_FORMAT" || !strings.Contains(fl.Details, "parent") {
					t.Errorf("failure %+v, want INCORRECT_FORMAT about the parent", fl)
				}
			}
			if diff := cmp.Diff(tt.wantIdx, idx); diff != "" {
				t.Errorf("failure indexes (-want +got):\n%s", diff)
			}
			if res.Added != tt.n-len(tt.bad) || res.Total != tt.n || res.Done != tt.n {
				t.Errorf("result = added %d total %d done %d, want %d, %d, %d", res.Added, res.Total, res.Done, tt.n-len(tt.bad), tt.n, tt.n)
			}
			names, _ := f.srv.ListItemNames(testWS, testModel, "Big")
			if len(names) != tt.n-len(tt.bad) {
				t.Errorf("the list has %d items, want %d", len(names), tt.n-len(tt.bad))
			}
		})
	}
}

func TestAddListItemsAgainIsIgnored(t *testing.T) {
	// What a caller sees after re-sending a batch that had been applied.
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	items := manyItems("x", 3)
	if _, err := f.m.AddListItems(ctx, "Empty", items); err != nil {
		t.Fatal(err)
	}
	res, err := f.m.AddListItems(ctx, "Empty", items)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 0 || res.Ignored != 3 || len(res.Failures) != 0 {
		t.Errorf("second add = %+v, want 3 ignored", res)
	}
}

func TestAddListItemsErrorMidway(t *testing.T) {
	f := newDataFixture(t, salesModel())
	// The second batch is answered 502 by a proxy: the result covers the
	// first, and the POST is not repeated.
	var posts atomic.Int64
	c := newClientWith(t, f.srv, func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/items") && posts.Add(1) == 2 {
				return &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader("bad gateway")), Header: http.Header{}, Request: req}, nil
			}
			return next.RoundTrip(req)
		})
	})
	n := anaplan.MaxListItemsPerCall + 5
	res, err := c.Model(testWS, testModel).AddListItems(context.Background(), "Empty", manyItems("e", n))
	if !isStatus(err, 502) || !strings.Contains(err.Error(), "the items before were applied") {
		t.Fatalf("err = %v, want the 502 of the second batch", err)
	}
	if res == nil || res.Done != anaplan.MaxListItemsPerCall || res.Added != anaplan.MaxListItemsPerCall {
		t.Fatalf("result = %+v, want the first batch done", res)
	}
	if p := posts.Load(); p != 2 {
		t.Errorf("%d POSTs, want 2: a POST is not repeated after a 502", p)
	}
	// Resuming with items[Done:] adds the rest.
	res, err = f.m.AddListItems(context.Background(), "Empty", manyItems("e", n)[res.Done:])
	if err != nil || res.Added != 5 {
		t.Fatalf("resume = %+v, %v", res, err)
	}
}

// newClientWith signs a client in to srv through a transport wrapped by wrap.
func newClientWith(t testing.TB, srv *anaplantest.Server, wrap func(http.RoundTripper) http.RoundTripper) *anaplan.Client {
	t.Helper()
	c, err := anaplan.New(context.Background(),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(&http.Client{Transport: wrap(srv.Client().Transport)}),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestUpdateListItemsRoundTrip(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	items, err := anaplan.Collect(f.m.ListItems(ctx, "City"))
	if err != nil {
		t.Fatal(err)
	}
	// Items as read have both ID and Code, which Anaplan refuses together.
	items[0].Properties = map[string]string{"Manager": "Grace"}
	items[1].Name = "York City"
	items[2].Parent = "North"
	res, err := f.m.UpdateListItems(ctx, "City", items)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != 3 || len(res.Failures) != 0 {
		t.Fatalf("update = %+v", res)
	}
	got, err := anaplan.Collect(f.m.ListItems(ctx, "City"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Properties["Manager"] != "Grace" || got[1].Name != "York City" || got[2].Parent != "North" {
		t.Errorf("after update: %+v", got)
	}
	// By code alone, and an unknown one.
	res, err = f.m.UpdateListItems(ctx, "City", []anaplan.ListItem{{Code: "LDS", Subsets: map[string]bool{"Big": false}}, {Code: "ZZZ", Name: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != 1 || len(res.Failures) != 1 || res.Failures[0].Index != 1 || res.Failures[0].Type != "Not found" {
		t.Errorf("update by code = %+v", res)
	}
	if _, err := f.m.UpdateListItems(ctx, "City", []anaplan.ListItem{{Parent: "North"}}); err == nil {
		t.Error("an item with no identifier: no error")
	}
}

func TestDeleteListItemsBothShapes(t *testing.T) {
	for _, nested := range []bool{false, true} {
		t.Run("nested="+strconv.FormatBool(nested), func(t *testing.T) {
			d := salesModel()
			d.NestedDeleteResult = nested
			f := newDataFixture(t, d)
			ctx := context.Background()
			items, err := anaplan.Collect(f.m.ListItems(ctx, "City"))
			if err != nil {
				t.Fatal(err)
			}
			del := []anaplan.ListItem{items[0], {Code: "BRS"}, {ID: "999"}}
			res, err := f.m.DeleteListItems(ctx, "City", del)
			if err != nil {
				t.Fatal(err)
			}
			want := &anaplan.ListItemsResult{Deleted: 2, Done: 3, Failures: []anaplan.ItemFailure{{Index: 2, Type: "Not found", Details: "no such item"}}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			names, _ := f.srv.ListItemNames(testWS, testModel, "City")
			if diff := cmp.Diff([]string{"York"}, names); diff != "" {
				t.Errorf("left (-want +got):\n%s", diff)
			}
			// Deleting again: what a caller sees after a lost answer.
			res, err = f.m.DeleteListItems(ctx, "City", del[:1])
			if err != nil || res.Deleted != 0 || len(res.Failures) != 1 || res.Failures[0].Type != "Not found" {
				t.Errorf("second delete = %+v, %v", res, err)
			}
		})
	}
}

func TestDeleteAcrossBatchesAndReset(t *testing.T) {
	d := salesModel()
	n := anaplan.MaxListItemsPerCall + 2
	items := manyItems("d", n)
	for _, it := range items {
		d.Lists[2].Items = append(d.Lists[2].Items, anaplantest.ListItem{Name: it.Name, Code: it.Code})
	}
	f := newDataFixture(t, d)
	ctx := context.Background()
	if err := f.m.ResetListIndex(ctx, "Empty"); !isStatus(err, 400) {
		t.Errorf("ResetListIndex of a list with items = %v, want a 400", err)
	}
	items[100_001].Code = "no-such-code"
	res, err := f.m.DeleteListItems(ctx, "Empty", items)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != n-1 || len(res.Failures) != 1 || res.Failures[0].Index != 100_001 {
		t.Errorf("delete = deleted %d failures %+v", res.Deleted, res.Failures)
	}
	if _, err := f.m.DeleteListItems(ctx, "Empty", []anaplan.ListItem{{Name: "only a name"}}); err == nil {
		t.Error("delete by name alone: no error")
	}
	if res, err := f.m.DeleteListItems(ctx, "Empty", []anaplan.ListItem{{Code: "Cd100001"}}); err != nil || res.Deleted != 1 {
		t.Fatalf("delete the last item = %+v, %v", res, err)
	}
	if err := f.m.ResetListIndex(ctx, "Empty"); err != nil {
		t.Errorf("ResetListIndex of an empty list: %v", err)
	}
}
