package anaplantest_test

import (
	"context"
	"fmt"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// A test of code that runs actions needs neither a sign-in nor real-time
// waits: TokenSource hands out the fake's tokens, and SetInstantTasks
// completes every task at its first poll.
func ExampleServer_TokenSource() {
	srv := anaplantest.NewServer()
	defer srv.Close()
	srv.AddImport("WS", "MODEL", anaplantest.Import{ID: "112000000001", Name: "Load sales", Task: anaplantest.TaskBehaviour{Polls: 10}})
	srv.SetInstantTasks(true)

	ctx := context.Background()
	c, err := anaplan.New(ctx,
		anaplan.WithEndpoints(srv.Endpoints()),
		anaplan.WithHTTPClient(srv.Client()),
		anaplan.WithTokenSource(srv.TokenSource("ada@example.com")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	res, err := c.Model("WS", "MODEL").RunImport(ctx, "112000000001", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Successful, srv.Tasks("WS", "MODEL")[0].Polls)
	// Output:
	// true 1
}
