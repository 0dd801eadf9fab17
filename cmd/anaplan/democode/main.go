// Command democode does with the Go library what 'anaplan demo' does with
// the command line: sign in, look around, upload a file, run an import, run
// an export and download its result. 'anaplan demo' prints this file at its
// end; it builds with the module, so what it shows compiles.
//
//	export ANAPLAN_CONNECTION='AuthScheme=Basic;User=…;Password=…;Region=EU1'
//	go run ./cmd/anaplan/democode Demo 'Sales Planning'
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: democode WORKSPACE MODEL (names or IDs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1], os.Args[2]); err != nil {
		cancel()
		log.Fatal(err) // after run's deferred Close
	}
}

func run(ctx context.Context, workspace, model string) (err error) {
	// 1. Sign in.
	c, err := anaplan.New(ctx, anaplan.FromConnectionString(os.Getenv("ANAPLAN_CONNECTION")))
	if err != nil {
		return err
	}
	defer func() { // logs out, or saves OAuth tokens: a failed save is an error
		if cerr := c.Close(context.WithoutCancel(ctx)); err == nil {
			err = cerr
		}
	}()
	me, err := c.CurrentUser(ctx)
	if err != nil {
		return err
	}
	fmt.Println("signed in as", me.Email)

	// 2. Look around: find the model by name or ID.
	for w, err := range c.Workspaces(ctx) {
		if err != nil {
			return err
		}
		fmt.Println("workspace", w.Name, w.ID)
	}
	info, err := c.FindModel(ctx, workspace, model) // ErrNotFound, ErrAmbiguous
	if err != nil {
		return err
	}
	m := c.Model(info.WorkspaceID, info.ID)

	// 3. Upload a file.
	file, err := m.FindFile(ctx, "sales.csv")
	if err != nil {
		return err
	}
	data := "Region,Product,Month,Units,Revenue\nNorth,Widgets,Jan 26,120,2400\n"
	if _, err := m.Upload(ctx, file.ID, strings.NewReader(data), &anaplan.UploadOptions{Gzip: true}); err != nil {
		return err
	}

	// 4. Run an import and wait for it.
	imp, err := m.FindImport(ctx, "Load sales")
	if err != nil {
		return err
	}
	res, err := m.RunImport(ctx, imp.ID, nil) // a failed task is a *anaplan.TaskError
	if err != nil {
		return err
	}
	fmt.Println("import:", res.Message())

	// 5. Run an export and download its result (the file has the export's ID).
	exp, err := m.FindExport(ctx, "Revenue by region.csv")
	if err != nil {
		return err
	}
	if _, err := m.RunExport(ctx, exp.ID, nil); err != nil {
		return err
	}
	out, err := os.Create("revenue.csv")
	if err != nil {
		return err
	}
	if _, err := m.Download(ctx, exp.ID, out, nil); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	fmt.Println("saved revenue.csv")
	return nil
}
