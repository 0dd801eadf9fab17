package anaplan_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// exampleModel starts a fake Anaplan with a small model (a list of regions,
// a Sales module on Region × Time) and signs a client in to it. Against a
// real tenant you would only call anaplan.New and c.Model.
func exampleModel() (*anaplantest.Server, *anaplan.Client, *anaplan.ModelHandle) {
	srv := anaplantest.NewServer()
	srv.AddUser("ada@example.com", "s3cret")
	err := srv.AddModelData("WS1", "M1", anaplantest.ModelData{
		Lists: []anaplantest.List{{ID: "101000000001", Name: "Region", Items: []anaplantest.ListItem{{Name: "North"}, {Name: "South"}}}},
		Modules: []anaplantest.Module{{ID: "102000000001", Name: "Sales", Dimensions: []string{"Region", "Time"},
			LineItems: []anaplantest.LineItem{{Name: "Revenue"}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := anaplan.New(context.Background(),
		anaplan.WithBasic("ada@example.com", "s3cret"),
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	return srv, c, c.Model("WS1", "M1")
}

// Read a page of a view into a Grid: labels of the rows and columns, and the
// cells as text.
func ExampleModelHandle_ReadCells() {
	srv, c, m := exampleModel()
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	g, err := m.ReadCells(ctx, "102000000001", &anaplan.ReadCellsOptions{MaxRows: 2}) // the module's default view
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("columns:", g.Columns[0][0], "…", g.Columns[len(g.Columns)-1][0])
	for _, r := range g.Rows {
		fmt.Println(strings.Join(r.Labels, "/"), r.Cells[:3])
	}
	// Output:
	// columns: Jan 24 … Dec 24
	// North [0 0 0]
	// South [0 0 0]
}

// Write cells by names (IDs work too, and items by code), then read one back.
// Refused cells are data in the result, with their index.
func ExampleModelHandle_WriteCells() {
	srv, c, m := exampleModel()
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	cell := func(region, month string, v any) anaplan.CellWrite {
		return anaplan.CellWrite{LineItemName: "Revenue", Value: v, Dimensions: []anaplan.CellDimension{
			{DimensionName: "Region", ItemName: region},
			{DimensionID: anaplan.TimeDimensionID, ItemName: month},
		}}
	}
	res, err := m.WriteCells(ctx, "Sales", []anaplan.CellWrite{
		cell("North", "Jan 24", 120.5),
		cell("Atlantis", "Jan 24", 1),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed:", res.Changed)
	for _, f := range res.Failures {
		fmt.Println(f)
	}
	g, err := m.ReadCells(ctx, "102000000001", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Rows[0].Labels[0], g.Columns[0][0], g.Rows[0].Cells[0])
	// Output:
	// changed: 1
	// item 1: invalidItem: no such item in dimension Region
	// North Jan 24 120.5
}

// Add list items: any number, sent in batches Anaplan accepts.
func ExampleModelHandle_AddListItems() {
	srv, c, m := exampleModel()
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	res, err := m.AddListItems(ctx, "Region", []anaplan.ListItem{
		{Name: "East", Code: "E"},
		{Name: "West", Code: "W"},
		{Name: "North"}, // already there: ignored
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("added %d, ignored %d, failed %d\n", res.Added, res.Ignored, len(res.Failures))
	for it, err := range m.ListItems(ctx, "Region") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s)\n", it.Name, it.Code)
	}
	// Output:
	// added 2, ignored 1, failed 0
	// North ()
	// South ()
	// East (E)
	// West (W)
}
