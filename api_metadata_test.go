package anaplan_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// salesModel is a small model: Region > City (with a property and a
// subset), a Sales module on City × Time × Versions with an input, a
// calculated and a text line item, and a Targets module on Region alone.
func salesModel() anaplantest.ModelData {
	return anaplantest.ModelData{
		Lists: []anaplantest.List{
			{ID: "101000000001", Name: "Region", Items: []anaplantest.ListItem{
				{ID: "201000000001", Name: "North", Code: "N"},
				{ID: "201000000002", Name: "South", Code: "S"},
			}},
			{ID: "101000000002", Name: "City", Parent: "Region", Properties: []string{"Manager"}, Subsets: []string{"Big"},
				Items: []anaplantest.ListItem{
					{ID: "202000000001", Name: "Leeds", Code: "LDS", Parent: "North", Properties: map[string]string{"Manager": "Ada"}, Subsets: []string{"Big"}},
					{ID: "202000000002", Name: "York", Code: "YRK", Parent: "North"},
					{ID: "202000000003", Name: "Bristol", Code: "BRS", Parent: "South"},
				}},
			{ID: "101000000003", Name: "Empty"},
		},
		Modules: []anaplantest.Module{
			{ID: "102000000001", Name: "Sales", Dimensions: []string{"City", "Time", "Versions"},
				LineItems: []anaplantest.LineItem{
					{ID: "206000000001", Name: "Revenue"},
					{ID: "206000000002", Name: "Cost"},
					{ID: "206000000003", Name: "Margin", Formula: "Revenue - Cost"},
					{ID: "206000000004", Name: "Note", Format: "TEXT"},
				},
				Views: []anaplantest.View{
					{ID: "103000000001", Name: "By line item", Rows: []string{"City"}, Columns: []string{"Line Items"}, Pages: []string{"Time", "Versions"}},
				}},
			{ID: "102000000002", Name: "Targets", Dimensions: []string{"Region"},
				LineItems: []anaplantest.LineItem{{ID: "206000000011", Name: "Target"}}},
		},
	}
}

// newDataFixture is newFixture with model data.
func newDataFixture(t testing.TB, d anaplantest.ModelData) *fixture {
	t.Helper()
	f := newFixture(t)
	if err := f.srv.AddModelData(testWS, testModel, d); err != nil {
		t.Fatalf("AddModelData: %v", err)
	}
	return f
}

func TestMetadataPagingPastOnePage(t *testing.T) {
	d := salesModel()
	for i := range 7 {
		d.Modules = append(d.Modules, anaplantest.Module{Name: "Extra " + strconv.Itoa(i)})
	}
	f := newDataFixture(t, d)
	f.srv.SetMaxPageSize(3)
	ctx := context.Background()

	mods, err := anaplan.Collect(f.m.Modules(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 9 || mods[0] != (anaplan.Module{ID: "102000000001", Name: "Sales"}) || mods[8].Name != "Extra 6" {
		t.Fatalf("modules = %+v", mods)
	}
	if n := f.srv.Calls("GET /2/0/models/{modelID}/modules"); n != 3 {
		t.Errorf("%d requests for 9 modules in pages of 3, want 3", n)
	}
	views, err := anaplan.Collect(f.m.Views(ctx, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 10 { // 9 default views + "By line item"
		t.Errorf("%d views, want 10: %+v", len(views), views)
	}
	lists, err := anaplan.Collect(f.m.Lists(ctx))
	if err != nil {
		t.Fatal(err)
	}
	want := []anaplan.List{{ID: "101000000001", Name: "Region"}, {ID: "101000000002", Name: "City"}, {ID: "101000000003", Name: "Empty"}}
	if diff := cmp.Diff(want, lists); diff != "" {
		t.Errorf("lists (-want +got):\n%s", diff)
	}
}

func TestMetadataEmptyModel(t *testing.T) {
	f := newDataFixture(t, anaplantest.ModelData{})
	ctx := context.Background()
	mods, err := anaplan.Collect(f.m.Modules(ctx))
	if err != nil || len(mods) != 0 {
		t.Errorf("Modules = %v, %v; want none", mods, err)
	}
	lis, err := anaplan.Collect(f.m.LineItems(ctx, ""))
	if err != nil || len(lis) != 0 {
		t.Errorf("LineItems = %v, %v; want none", lis, err)
	}
	lists, err := anaplan.Collect(f.m.Lists(ctx))
	if err != nil || len(lists) != 0 {
		t.Errorf("Lists = %v, %v; want none", lists, err)
	}
}

func TestLineItemsAndViews(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()

	all, err := anaplan.Collect(f.m.LineItems(ctx, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d line items, want 5", len(all))
	}
	sales, err := anaplan.Collect(f.m.LineItems(ctx, "102000000001"))
	if err != nil {
		t.Fatal(err)
	}
	got := sales[2]
	got.FormatMetadata = nil
	want := anaplan.LineItem{
		ID: "206000000003", Name: "Margin", ModuleID: "102000000001", ModuleName: "Sales", Format: "NUMBER",
		Formula: "Revenue - Cost", AppliesTo: []anaplan.Dimension{{ID: "101000000002", Name: "City"}},
		TimeScale: "Month", Summary: "Sum", CellCount: 3 * 12 * 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Margin (-want +got):\n%s", diff)
	}
	if _, err := anaplan.Collect(f.m.LineItems(ctx, "nope")); !isStatus(err, 404) || !strings.Contains(err.Error(), "no access") {
		t.Errorf("line items of an unknown module: %v, want a 404 that says it may mean no access", err)
	}

	views, err := anaplan.Collect(f.m.Views(ctx, "102000000001"))
	if err != nil {
		t.Fatal(err)
	}
	wantViews := []anaplan.View{
		{ID: "102000000001", Name: "Sales", ModuleID: "102000000001"},
		{ID: "103000000001", Name: "By line item", ModuleID: "102000000001"},
	}
	if diff := cmp.Diff(wantViews, views); diff != "" {
		t.Errorf("views (-want +got):\n%s", diff)
	}
	if _, err := anaplan.Collect(f.m.ViewsWithSubsidiaries(ctx, "")); err != nil {
		t.Errorf("ViewsWithSubsidiaries: %v", err)
	}

	info, err := f.m.ViewInfo(ctx, "102000000001")
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := &anaplan.ViewInfo{
		ID: "102000000001", Name: "Sales",
		Rows:    []anaplan.Dimension{{ID: "101000000002", Name: "City"}},
		Columns: []anaplan.Dimension{{ID: anaplan.TimeDimensionID, Name: "Time"}},
		Pages:   []anaplan.Dimension{{ID: anaplan.VersionsDimensionID, Name: "Versions"}, {ID: anaplantest.LineItemsDimensionID, Name: "Line Items"}},
	}
	if diff := cmp.Diff(wantInfo, info); diff != "" {
		t.Errorf("ViewInfo (-want +got):\n%s", diff)
	}
	// A view without pages: the axis is left out of the answer.
	info, err = f.m.ViewInfo(ctx, "102000000002")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Pages) != 0 || len(info.Rows) != 1 || len(info.Columns) != 1 {
		t.Errorf("Targets view = %+v, want one row and one column dimension, no pages", info)
	}
}

func TestListInfoAndDimensions(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()

	li, err := f.m.ListInfo(ctx, "101000000002")
	if err != nil {
		t.Fatal(err)
	}
	if li.Name != "City" || li.ItemCount != 3 || li.Parent == nil || li.Parent.Name != "Region" ||
		len(li.Properties) != 1 || li.Properties[0].Name != "Manager" || len(li.Subsets) != 1 || li.Subsets[0].Name != "Big" {
		t.Errorf("ListInfo = %+v", li)
	}

	dims, err := f.m.LineItemDimensions(ctx, "206000000001")
	if err != nil {
		t.Fatal(err)
	}
	wantDims := []anaplan.Dimension{{ID: "101000000002", Name: "City"}, {ID: anaplan.TimeDimensionID, Name: "Time"}, {ID: anaplan.VersionsDimensionID, Name: "Versions"}}
	if diff := cmp.Diff(wantDims, dims); diff != "" {
		t.Errorf("LineItemDimensions (-want +got):\n%s", diff)
	}

	items, err := f.m.DimensionItems(ctx, "101000000001")
	if err != nil {
		t.Fatal(err)
	}
	wantItems := []anaplan.DimensionItem{{ID: "201000000001", Name: "North", Code: "N"}, {ID: "201000000002", Name: "South", Code: "S"}}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("DimensionItems (-want +got):\n%s", diff)
	}
	vers, err := f.m.LineItemDimensionItems(ctx, "206000000001", anaplan.VersionsDimensionID)
	if err != nil || len(vers) != 2 || vers[0].Name != "Actual" {
		t.Errorf("LineItemDimensionItems(Versions) = %v, %v", vers, err)
	}
	cities, err := f.m.ViewDimensionItems(ctx, "102000000001", "101000000002")
	if err != nil || len(cities) != 3 {
		t.Errorf("ViewDimensionItems = %v, %v", cities, err)
	}
	if _, err := f.m.DimensionItems(ctx, anaplan.TimeDimensionID); !isStatus(err, 400) {
		t.Errorf("DimensionItems(Time) = %v, want a 400", err)
	}

	tests := []struct {
		name         string
		dim          string
		names, codes []string
		want         []string
		status       int
	}{
		{"names, case-insensitive, a miss skipped", "101000000002", []string{"leeds", "Nowhere", "BRISTOL"}, nil, []string{"202000000001", "202000000003"}, 0},
		{"codes", "101000000002", nil, []string{"yrk"}, []string{"202000000002"}, 0},
		{"time by name", anaplan.TimeDimensionID, []string{"Feb 24"}, nil, []string{"5438300002"}, 0},
		{"codes on a dimension without codes", anaplan.VersionsDimensionID, nil, []string{"A"}, nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.m.LookupDimensionItems(ctx, tt.dim, tt.names, tt.codes)
			if tt.status != 0 {
				if !isStatus(err, tt.status) {
					t.Fatalf("err = %v, want status %d", err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range got {
				ids = append(ids, it.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := f.m.LookupDimensionItems(ctx, "101000000002", []string{"a"}, []string{"b"}); err == nil {
		t.Error("LookupDimensionItems with names and codes: no error")
	}
}

func TestNumericIDs(t *testing.T) {
	d := salesModel()
	d.NumericIDs = true
	f := newDataFixture(t, d)
	ctx := context.Background()
	mods, err := anaplan.Collect(f.m.Modules(ctx))
	if err != nil || mods[0].ID != "102000000001" {
		t.Fatalf("Modules = %v, %v", mods, err)
	}
	items, err := anaplan.Collect(f.m.ListItems(ctx, "101000000002"))
	if err != nil || items[0].ID != "202000000001" || items[0].ParentID != "201000000001" {
		t.Fatalf("ListItems = %+v, %v", items, err)
	}
	info, err := f.m.ViewInfo(ctx, "102000000001")
	if err != nil || info.ID != "102000000001" || info.Rows[0].ID != "101000000002" {
		t.Fatalf("ViewInfo = %+v, %v", info, err)
	}
}

func TestModelStateHints(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	tests := []struct {
		status int
		want   string
	}{
		{409, "busy"},
		{423, "locked"},
		{424, "offline"},
		{422, "archived"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			f.srv.FailNext(1, anaplantest.Fault{Status: tt.status, Path: "/2/0/models/" + testModel + "/views/"})
			_, err := f.m.ReadCells(ctx, "102000000001", nil)
			var ae *anaplan.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.status || !strings.Contains(ae.Hint, tt.want) {
				t.Fatalf("err = %v, want status %d with a hint saying %q", err, tt.status, tt.want)
			}
		})
	}
	f.srv.FailNext(1, anaplantest.Fault{Status: 409, Path: "/2/0/models/" + testModel + "/modules"})
	if _, err := anaplan.Collect(f.m.Modules(ctx)); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("Modules on a busy model: %v, want the busy hint", err)
	}
}

func isStatus(err error, status int) bool {
	var ae *anaplan.APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}
