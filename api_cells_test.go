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

var months24 = [][]string{{"Jan 24"}, {"Feb 24"}, {"Mar 24"}, {"Apr 24"}, {"May 24"}, {"Jun 24"},
	{"Jul 24"}, {"Aug 24"}, {"Sep 24"}, {"Oct 24"}, {"Nov 24"}, {"Dec 24"}}

func TestReadCellsPages(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	f.srv.SetCell(testWS, testModel, "Sales", "Revenue", "12.5", "York", "Feb 24", "Actual")
	f.srv.SetCell(testWS, testModel, "Sales", "Note", "hello", "Leeds", "Jan 24", "Forecast")
	zeros := func() []string { return strings.Split(strings.Repeat("0,", 11)+"0", ",") }

	tests := []struct {
		name string
		view string
		opts *anaplan.ReadCellsOptions
		want *anaplan.Grid
	}{
		{"current page", "102000000001", nil, &anaplan.Grid{
			Pages: []string{"Actual", "Revenue"}, Columns: months24,
			Rows: []anaplan.GridRow{
				{Labels: []string{"Leeds"}, Cells: zeros()},
				{Labels: []string{"York"}, Cells: append([]string{"0", "12.5"}, zeros()[2:]...)},
				{Labels: []string{"Bristol"}, Cells: zeros()},
			}}},
		{"selected pages, MaxRows", "102000000001", &anaplan.ReadCellsOptions{
			Pages:   []anaplan.CellCoordinate{{anaplan.VersionsDimensionID, "107000000002"}, {anaplantest.LineItemsDimensionID, "206000000004"}},
			MaxRows: 1,
		}, &anaplan.Grid{
			Pages: []string{"Forecast", "Note"}, Columns: months24,
			Rows: []anaplan.GridRow{{Labels: []string{"Leeds"}, Cells: append([]string{"hello"}, make([]string, 11)...)}}}},
		{"no page dimensions", "102000000002", nil, &anaplan.Grid{
			Columns: [][]string{{"Target"}},
			Rows:    []anaplan.GridRow{{Labels: []string{"North"}, Cells: []string{"0"}}, {Labels: []string{"South"}, Cells: []string{"0"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := f.m.ReadCells(ctx, tt.view, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("grid (-want +got):\n%s", diff)
			}
		})
	}

	_, err := f.m.ReadCells(ctx, "102000000001", &anaplan.ReadCellsOptions{Pages: []anaplan.CellCoordinate{{"101000000002", "202000000001"}}})
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Hint, "pages axis") {
		t.Errorf("a page selector of a row dimension: %v, want a 400 about the pages axis", err)
	}
}

func TestReadCellsOverLimit(t *testing.T) {
	d := anaplantest.ModelData{
		Years: 10, // 120 months
		Lists: []anaplantest.List{{Name: "SKU"}},
		Modules: []anaplantest.Module{{ID: "102000000009", Name: "Big", Dimensions: []string{"SKU", "Time"},
			LineItems: []anaplantest.LineItem{{Name: "Units"}}}},
	}
	for i := range 8334 { // 8,334 × 120 = 1,000,080 cells
		d.Lists[0].Items = append(d.Lists[0].Items, anaplantest.ListItem{Name: "sku" + strconv.Itoa(i)})
	}
	f := newDataFixture(t, d)
	_, err := f.m.ReadCells(context.Background(), "102000000009", nil)
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Hint, "ReadView") {
		t.Fatalf("err = %v, want a 400 whose hint says to use ReadView", err)
	}
	if _, err := f.m.ReadCellsCSV(context.Background(), "102000000009", &strings.Builder{}, nil); !isStatus(err, 400) || !strings.Contains(err.Error(), "ReadView") {
		t.Errorf("CSV: err = %v, want the same 400", err)
	}
}

func TestWriteCellsReadBack(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	cells := []anaplan.CellWrite{
		{LineItemID: "206000000001", Value: 1111, Dimensions: []anaplan.CellDimension{
			{DimensionID: "101000000002", ItemID: "202000000002"},
			{DimensionID: anaplan.TimeDimensionID, ItemID: "5438300003"},
			{DimensionID: anaplan.VersionsDimensionID, ItemID: "107000000001"}}},
		{LineItemName: "Cost", Value: "42.5", Dimensions: []anaplan.CellDimension{
			{DimensionName: "City", ItemCode: "BRS"},
			{DimensionName: "Time", ItemName: "Mar 24"},
			{DimensionName: "Versions", ItemName: "Actual"}}},
		{LineItemName: "Margin", Value: 1, Dimensions: []anaplan.CellDimension{ // calculated
			{DimensionName: "City", ItemName: "York"}, {DimensionName: "Time", ItemName: "Mar 24"}, {DimensionName: "Versions", ItemName: "Actual"}}},
		{LineItemName: "Revenue", Value: 1, Dimensions: []anaplan.CellDimension{ // unknown item
			{DimensionName: "City", ItemName: "Paris"}, {DimensionName: "Time", ItemName: "Mar 24"}, {DimensionName: "Versions", ItemName: "Actual"}}},
		{LineItemName: "Revenue", Value: "lots", Dimensions: []anaplan.CellDimension{ // not a number
			{DimensionName: "City", ItemName: "York"}, {DimensionName: "Time", ItemName: "Mar 24"}, {DimensionName: "Versions", ItemName: "Actual"}}},
		{LineItemName: "Note", Value: true, Dimensions: []anaplan.CellDimension{
			{DimensionName: "City", ItemName: "Leeds"}, {DimensionName: "Time", ItemName: "Mar 24"}, {DimensionName: "Versions", ItemName: "Actual"}}},
	}
	res, err := f.m.WriteCells(ctx, "102000000001", cells)
	if err != nil {
		t.Fatal(err)
	}
	want := &anaplan.WriteCellsResult{Changed: 3, Done: 6, Failures: []anaplan.ItemFailure{
		{Index: 2, Type: "cellIsCalculated", Details: "the cell is a calculated/aggregate cell and is not writeable"},
		{Index: 3, Type: "invalidItem", Details: "no such item in dimension City"},
		{Index: 4, Type: "valueDataTypeMismatch", Details: "the value does not fit the line item's format NUMBER"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	// Read back through the view whose pages are Time and Versions.
	g, err := f.m.ReadCells(ctx, "103000000001", &anaplan.ReadCellsOptions{Pages: []anaplan.CellCoordinate{{anaplan.TimeDimensionID, "5438300003"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantGrid := &anaplan.Grid{
		Pages:   []string{"Mar 24", "Actual"},
		Columns: [][]string{{"Revenue"}, {"Cost"}, {"Margin"}, {"Note"}},
		Rows: []anaplan.GridRow{
			{Labels: []string{"Leeds"}, Cells: []string{"0", "0", "0", "true"}},
			{Labels: []string{"York"}, Cells: []string{"1111", "0", "0", ""}},
			{Labels: []string{"Bristol"}, Cells: []string{"0", "42.5", "0", ""}},
		},
	}
	if diff := cmp.Diff(wantGrid, g); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func TestWriteCellsBatches(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	cities := []string{"Leeds", "York", "Bristol"}
	var cells []anaplan.CellWrite
	for i := range 2500 {
		li := "Revenue"
		if i == 5 || i == 1500 || i == 2499 {
			li = "Margin"
		}
		cells = append(cells, anaplan.CellWrite{LineItemName: li, Value: i, Dimensions: []anaplan.CellDimension{
			{DimensionName: "City", ItemName: cities[i%3]},
			{DimensionName: "Time", ItemName: months24[i%12][0]},
			{DimensionName: "Versions", ItemName: "Forecast"}}})
	}
	const route = "POST /2/0/models/{modelID}/modules/{moduleID}/data"
	res, err := f.m.WriteCells(ctx, "Sales", cells)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls(route); n != 3 {
		t.Errorf("%d calls for 2,500 cells, want 3 of at most 1,000", n)
	}
	var idx []int
	for _, fl := range res.Failures {
		idx = append(idx, fl.Index)
	}
	if diff := cmp.Diff([]int{5, 1500, 2499}, idx); diff != "" {
		t.Errorf("failure indexes (-want +got):\n%s", diff)
	}
	if res.Done != 2500 {
		t.Errorf("Done = %d", res.Done)
	}
	// The last write of each cell wins: cell (York, Feb 24) was written by
	// i = 2497 (2497 % 3 = 1, 2497 % 12 = 1).
	if v, _ := f.srv.Cell(testWS, testModel, "Sales", "Revenue", "York", "Feb 24", "Forecast"); v != "2497" {
		t.Errorf("York, Feb 24 = %q, want 2497", v)
	}

	f.srv.ResetCalls()
	if _, err := f.m.WriteCellsWith(ctx, "Sales", cells, &anaplan.WriteCellsOptions{BatchSize: 2500}); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls(route); n != 1 {
		t.Errorf("%d calls with BatchSize 2500, want 1", n)
	}

	bad := []struct {
		name string
		c    anaplan.CellWrite
	}{
		{"no line item", anaplan.CellWrite{Value: 1}},
		{"nil value", anaplan.CellWrite{LineItemName: "Revenue"}},
		{"a struct value", anaplan.CellWrite{LineItemName: "Revenue", Value: struct{}{}}},
		{"a dimension without item", anaplan.CellWrite{LineItemName: "Revenue", Value: 1, Dimensions: []anaplan.CellDimension{{DimensionName: "City"}}}},
	}
	for _, b := range bad {
		f.srv.ResetCalls()
		if _, err := f.m.WriteCells(ctx, "Sales", []anaplan.CellWrite{cells[0], b.c}); err == nil || !strings.Contains(err.Error(), "cell 1") {
			t.Errorf("%s: err = %v, want one about cell 1", b.name, err)
		}
		if n := f.srv.Calls(route); n != 0 {
			t.Errorf("%s: %d calls, want none", b.name, n)
		}
	}
}

func TestReadCellsCSV(t *testing.T) {
	f := newDataFixture(t, salesModel())
	ctx := context.Background()
	f.srv.SetCell(testWS, testModel, "Targets", "Target", "7", "South")
	var b strings.Builder
	n, err := f.m.ReadCellsCSV(ctx, "102000000002", &b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ",Target\nNorth,0\nSouth,7\n"
	if b.String() != want || n != int64(len(want)) {
		t.Errorf("grid CSV = %q (%d bytes), want %q", b.String(), n, want)
	}

	b.Reset()
	_, err = f.m.ReadCellsCSV(ctx, "102000000001", &b, &anaplan.ReadCellsCSVOptions{
		ExportType: "TABULAR_SINGLE_COLUMN", ModuleID: "102000000001", MaxRows: 2, Escaped: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want = "Versions,Line Items,City,Time,Value\nActual,Revenue,Leeds,Jan 24,0\nActual,Revenue,Leeds,Feb 24,0\n"
	if b.String() != want {
		t.Errorf("single-column CSV = %q, want %q", b.String(), want)
	}
	if _, err := f.m.ReadCellsCSV(ctx, "102000000001", &b, &anaplan.ReadCellsCSVOptions{ExportType: "TABULAR_MULTI_COLUMN"}); err == nil {
		t.Error("a tabular export without ModuleID: no error")
	}
	if _, err := f.m.ReadCellsCSV(ctx, "102000000001", &b, &anaplan.ReadCellsCSVOptions{ExportType: "PIE_CHART", ModuleID: "1"}); err == nil {
		t.Error("an unknown export type: no error")
	}
}

func TestWriteCellsBatchOverLimit(t *testing.T) {
	d := salesModel()
	d.MaxCellsPerWrite = 1000 // the stricter reading of the limit
	f := newDataFixture(t, d)
	cells := make([]anaplan.CellWrite, 1500)
	for i := range cells {
		cells[i] = anaplan.CellWrite{LineItemName: "Revenue", Value: i, Dimensions: []anaplan.CellDimension{
			{DimensionName: "City", ItemName: "Leeds"}, {DimensionName: "Time", ItemName: "Jan 24"}, {DimensionName: "Versions", ItemName: "Actual"}}}
	}
	ctx := context.Background()
	res, err := f.m.WriteCellsWith(ctx, "Sales", cells, &anaplan.WriteCellsOptions{BatchSize: 1500})
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Hint, "BatchSize") || res.Done != 0 {
		t.Fatalf("WriteCellsWith(1500) = %+v, %v; want a 400 whose hint names BatchSize", res, err)
	}
	if res, err = f.m.WriteCells(ctx, "Sales", cells); err != nil || res.Done != 1500 {
		t.Fatalf("WriteCells with the default batch = %+v, %v", res, err)
	}
	if _, err := f.m.WriteCellsWith(ctx, "Sales", cells, &anaplan.WriteCellsOptions{BatchSize: anaplan.MaxCellBatch + 1}); err == nil {
		t.Error("a BatchSize over MaxCellBatch: no error")
	}
}
