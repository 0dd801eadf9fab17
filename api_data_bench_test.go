package anaplan_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// Benchmarks of model data through anaplantest (client and fake in one
// process, on loopback TLS). Run them bounded, e.g.
//
//	go test -run '^$' -bench 'AddListItems1M|ReadCells1M' -benchtime=3x .
//
// Figures are per item / per cell; the allocation figures count the whole
// process (the fake's work included). BenchmarkDecodeGrid1M (internal) has
// the client's decoding alone.

func BenchmarkAddListItems1M(b *testing.B) {
	const n = 1_000_000
	f := newFixture(b)
	items := make([]anaplan.ListItem, n)
	for i := range items {
		s := strconv.Itoa(i)
		items[i] = anaplan.ListItem{Name: "Item " + s, Code: "I" + s}
	}
	ctx := context.Background()
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	var mallocs, bytes uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := f.srv.AddModelData(testWS, testModel, anaplantest.ModelData{Lists: []anaplantest.List{{ID: "101000000001", Name: "L"}}}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		b.StartTimer()
		res, err := f.m.AddListItems(ctx, "101000000001", items)
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		if err != nil || res.Added != n {
			b.Fatalf("AddListItems = %+v, %v", res, err)
		}
		mallocs += ms1.Mallocs - ms0.Mallocs
		bytes += ms1.TotalAlloc - ms0.TotalAlloc
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/item")
	b.ReportMetric(float64(mallocs)/float64(b.N)/n, "allocs/item")
	b.ReportMetric(float64(bytes)/float64(b.N)/n, "B/item")
}

func BenchmarkReadCells1M(b *testing.B) {
	// 10,000 rows × 100 line items = 1,000,000 cells, the most one read
	// returns.
	const rows, cols = 10_000, 100
	d := anaplantest.ModelData{Lists: []anaplantest.List{{Name: "SKU"}}}
	for i := range rows {
		d.Lists[0].Items = append(d.Lists[0].Items, anaplantest.ListItem{Name: "SKU " + strconv.Itoa(i)})
	}
	mod := anaplantest.Module{ID: "102000000001", Name: "Stock", Dimensions: []string{"SKU"}}
	for i := range cols {
		mod.LineItems = append(mod.LineItems, anaplantest.LineItem{Name: "Measure " + strconv.Itoa(i)})
	}
	d.Modules = []anaplantest.Module{mod}
	f := newDataFixture(b, d)
	// Every cell holds a distinct value (one-byte strings would cost Go
	// no allocation and flatter the figures).
	for j := range cols {
		li := "Measure " + strconv.Itoa(j)
		for i := range rows {
			f.srv.SetCell(testWS, testModel, "Stock", li, strconv.Itoa(i*cols+j)+".25", "SKU "+strconv.Itoa(i))
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	var mallocs uint64
	b.ResetTimer()
	for range b.N {
		runtime.ReadMemStats(&ms0)
		g, err := f.m.ReadCells(ctx, "102000000001", nil)
		runtime.ReadMemStats(&ms1)
		if err != nil {
			b.Fatal(err)
		}
		if g.Cells() != rows*cols || g.Rows[9].Cells[7] != "907.25" {
			b.Fatalf("grid has %d cells", g.Cells())
		}
		mallocs += ms1.Mallocs - ms0.Mallocs
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*cols), "ns/cell")
	b.ReportMetric(float64(mallocs)/float64(b.N)/(rows*cols), "allocs/cell")
}

// BenchmarkAddListItems1MClient is the SDK's side of adding 1,000,000
// items: the same calls answered by a plain TLS server that reads each
// batch and answers at once, so that the fake's own bookkeeping is left out.
func BenchmarkAddListItems1MClient(b *testing.B) {
	const n = 1_000_000
	srv := anaplantest.New(b)
	srv.AddUser(testUser, testPassword)
	plain := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"added":100000,"ignored":0,"total":100000}`)
	}))
	defer plain.Close()
	ep := srv.Endpoints()
	ep.API = plain.URL + "/2/0"
	c, err := anaplan.New(context.Background(), anaplan.WithEndpoints(ep), anaplan.WithHTTPClient(plain.Client()),
		anaplan.WithBasic(testUser, testPassword))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	items := make([]anaplan.ListItem, n)
	for i := range items {
		s := strconv.Itoa(i)
		items[i] = anaplan.ListItem{Name: "Item " + s, Code: "I" + s}
	}
	m := c.Model(testWS, testModel)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := m.AddListItems(context.Background(), "101000000001", items); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/item")
}
