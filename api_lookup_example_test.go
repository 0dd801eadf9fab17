package anaplan_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// Find a model and one of its imports by name, and tell absence from
// ambiguity.
func ExampleClient_FindModel() {
	srv := anaplantest.NewServer() // a fake Anaplan; with a real tenant: anaplan.WithRegion(anaplan.EU1)
	defer srv.Close()
	srv.AddUser("ada@example.com", "secret")
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws1", Name: "Sales"})
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws2", Name: "Sales (dev)"})
	srv.AddModel("ws1", anaplantest.Model{ID: "M1", Name: "Forecast"})
	srv.AddModel("ws2", anaplantest.Model{ID: "M2", Name: "Forecast"})
	srv.AddImport("ws1", "M1", anaplantest.Import{ID: "112000000001", Name: "Load sales"})

	ctx := context.Background()
	c, err := anaplan.New(ctx, anaplan.WithBasic("ada@example.com", "secret"),
		anaplan.WithEndpoints(srv.Endpoints()), anaplan.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	_, err = c.FindModel(ctx, "", "Forecast") // in any workspace: two of them
	var le *anaplan.LookupError
	if errors.Is(err, anaplan.ErrAmbiguous) && errors.As(err, &le) {
		fmt.Println("ambiguous:", le.IDs, "in", le.WorkspaceIDs)
	}

	info, err := c.FindModel(ctx, "Sales", "forecast") // names or IDs; case is ignored when nothing matches exactly
	if err != nil {
		log.Fatal(err)
	}
	m := c.Model(info.WorkspaceID, info.ID)
	imp, err := m.FindImport(ctx, "Load sales")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("import", imp.ID, "of model", info.ID)

	_, err = m.FindExport(ctx, "Revenue")
	fmt.Println(errors.Is(err, anaplan.ErrNotFound), err)
	// Output:
	// ambiguous: [M1 M2] in [ws1 ws2]
	// import 112000000001 of model M1
	// true anaplan: no export called or with ID "Revenue" in the model
}
