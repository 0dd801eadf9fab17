package anaplan_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
)

// TestLargeReadOfModelData: a large-volume read of a view and of a list of
// the fake's model returns what was written through the API (cells, list
// items), with no read source set by hand.
func TestLargeReadOfModelData(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	if _, err := f.m.WriteCells(ctx, "102000000001", []anaplan.CellWrite{{LineItemName: "Revenue", Value: 4242, Dimensions: []anaplan.CellDimension{
		{DimensionName: "City", ItemName: "York"}, {DimensionName: "Time", ItemName: "Mar 24"}, {DimensionName: "Versions", ItemName: "Actual"}}}}); err != nil {
		t.Fatal(err)
	}
	var view bytes.Buffer
	opts := &anaplan.ReadOptions{PollInterval: 1e6}
	if _, err := f.m.ReadView(ctx, "103000000001", &view, opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(view.String(), "York") || !strings.Contains(view.String(), "4242") {
		t.Fatalf("the written cell is not in the large read of the view:\n%s", view.String())
	}
	if res, err := f.m.AddListItems(ctx, "101000000002", []anaplan.ListItem{{Name: "Hull", Code: "HUL", Parent: "North"}}); err != nil || res.Added != 1 {
		t.Fatalf("add: %+v %v", res, err)
	}
	var list bytes.Buffer
	if _, err := f.m.ReadList(ctx, "101000000002", &list, opts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], ",Parent,Code") || !strings.Contains(list.String(), "Hull,North,HUL") {
		t.Fatalf("the large read of the list:\n%s", list.String())
	}
}
