package anaplan_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// exampleReadServer is a fake Anaplan with a view of 25 rows, produced in
// pages of 10 rows over several status requests.
func exampleReadServer() (*anaplantest.Server, *anaplan.Client) {
	srv := anaplantest.NewServer()
	srv.AddUser("ada@example.com", "s3cret")
	srv.AddModel("8a81b09d5e8c6f27015ece3402487d33", anaplantest.Model{ID: "75A40874E6B64FA3AE0B7E3C5C6E0D8B", Name: "Budget"})
	srv.SetReadSource("8a81b09d5e8c6f27015ece3402487d33", "75A40874E6B64FA3AE0B7E3C5C6E0D8B", "102000000001",
		[]string{"Region", "Product", "Revenue"},
		func(yield func(row []string) bool) {
			for i := range 25 {
				if !yield([]string{"Region " + strconv.Itoa(i%3), "Product " + strconv.Itoa(i), strconv.Itoa(1000 + i)}) {
					return
				}
			}
		})
	srv.SetReadBehaviour("8a81b09d5e8c6f27015ece3402487d33", "75A40874E6B64FA3AE0B7E3C5C6E0D8B", "102000000001",
		anaplantest.ReadBehaviour{PageRows: 10, RepeatHeader: true})
	c, err := anaplan.New(context.Background(),
		anaplan.WithBasic("ada@example.com", "s3cret"),
		anaplan.WithEndpoints(srv.Endpoints()), // with a real tenant: anaplan.WithRegion(anaplan.EU1)
		anaplan.WithHTTPClient(srv.Client()),
	)
	if err != nil {
		log.Fatal(err)
	}
	return srv, c
}

// Read a whole view, however large, into one CSV file with a large-volume
// read request: pages are fetched while Anaplan still produces the rest,
// the header is written once, and the request is deleted at the end.
func ExampleModelHandle_ReadView() {
	srv, c := exampleReadServer()
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	m := c.Model("8a81b09d5e8c6f27015ece3402487d33", "75A40874E6B64FA3AE0B7E3C5C6E0D8B")
	f, err := os.CreateTemp("", "revenue-*.csv")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := m.ReadView(ctx, "102000000001", f, &anaplan.ReadOptions{
		PollInterval: 10 * time.Millisecond, // the default, 1 s, suits a real tenant
		Progress: func(p anaplan.ReadProgress) {
			if p.TotalPages > 0 && p.Pages == p.TotalPages {
				fmt.Printf("%d pages written\n", p.Pages)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes of CSV\n", n)
	// Output:
	// 3 pages written
	// 638 bytes of CSV
}

// Read a view as records rather than bytes.
func ExampleModelHandle_ReadViewRows() {
	srv, c := exampleReadServer()
	defer srv.Close()
	ctx := context.Background()
	defer c.Close(ctx)

	m := c.Model("8a81b09d5e8c6f27015ece3402487d33", "75A40874E6B64FA3AE0B7E3C5C6E0D8B")
	rows := 0
	for rec, err := range m.ReadViewRows(ctx, "102000000001", &anaplan.ReadOptions{PollInterval: 10 * time.Millisecond}) {
		if err != nil {
			log.Fatal(err)
		}
		if rows == 0 {
			fmt.Println("header:", rec)
		}
		rows++
		if rows == 3 {
			fmt.Println("third record:", rec)
			break // stops the read; the request is deleted before the loop ends
		}
	}
	// Output:
	// header: [Region Product Revenue]
	// third record: [Region 1 Product 1 1001]
}
