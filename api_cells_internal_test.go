package anaplan

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// gridJSON renders a format=v1 answer of rows × cols cells.
func gridJSON(rows, cols int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"pages":["Actual"],"columnCoordinates":[`)
	for c := range cols {
		if c > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`["Col ` + strconv.Itoa(c) + `"]`)
	}
	b.WriteString(`],"rows":[`)
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"rowCoordinates":["Row ` + strconv.Itoa(r) + `"],"cells":[`)
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + strconv.Itoa(r*c) + `.5"`)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func TestDecodeGrid(t *testing.T) {
	tests := []struct {
		name, in string
		want     *Grid
		bad      bool
	}{
		{"pages absent, unknown keys skipped", `{"x":{"y":[1,2]},"columnCoordinates":[["Jan"]],"rows":[{"rowCoordinates":["A"],"cells":["1"]}]}`,
			&Grid{Columns: [][]string{{"Jan"}}, Rows: []GridRow{{Labels: []string{"A"}, Cells: []string{"1"}}}}, false},
		{"empty pages, null rows", `{"pages":[],"columnCoordinates":[],"rows":null}`, &Grid{Columns: [][]string{}}, false},
		{"not an object", `[1]`, nil, true},
		{"rows not an array", `{"rows":{}}`, nil, true},
		{"cut short", `{"rows":[{"rowCoordinates":["A"]`, nil, true},
		{"escapes, numbers and nulls in cells", `{"rows":[{"cells":["a\"b\u00e9",12.5,null,true,"plain"],"rowCoordinates":["R\n"]}]}`,
			&Grid{Rows: []GridRow{{Labels: []string{"R\n"}, Cells: []string{"a\"bé", "12.5", "", "true", "plain"}}}}, false},
		{"a cell that is an object", `{"rows":[{"cells":[{"a":1}]}]}`, nil, true},
		{"trailing data", `{} x`, nil, true},
		{"unterminated string", `{"pages":["abc`, nil, true},
		{"control character", "{\"pages\":[\"a\x01\"]}", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := parseGrid([]byte(tt.in))
			if tt.bad {
				if err == nil {
					t.Fatalf("decodeGrid = %+v, want an error", g)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("grid (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlexID(t *testing.T) {
	for in, want := range map[string]string{`"101"`: "101", `101000000000`: "101000000000", `null`: "", `1.5e3`: "1.5e3"} {
		var f flexID
		if err := f.UnmarshalJSON([]byte(in)); err != nil || string(f) != want {
			t.Errorf("flexID(%s) = %q, %v; want %q", in, f, err, want)
		}
	}
	var f flexID
	if err := f.UnmarshalJSON([]byte(`{}`)); err == nil {
		t.Error("flexID({}) did not fail")
	}
}

// BenchmarkDecodeGrid1M is the client's side of reading a 1,000,000-cell
// view: decoding the answer into a Grid.
func BenchmarkDecodeGrid1M(b *testing.B) {
	const rows, cols = 10_000, 100
	body := gridJSON(rows, cols)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		g, err := parseGrid(body)
		if err != nil || g.Cells() != rows*cols {
			b.Fatalf("decodeGrid: %d cells, %v", g.Cells(), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*cols), "ns/cell")
}

// FuzzParseGrid checks parseGrid against encoding/json: on any input whose
// pages, columns and cells are all strings, both read the same grid; on
// any input, parseGrid does not panic.
func FuzzParseGrid(f *testing.F) {
	f.Add([]byte(`{"pages":["Actual"],"columnCoordinates":[["Jan"],["Feb"]],"rows":[{"rowCoordinates":["A"],"cells":["1","2"]}]}`))
	f.Add([]byte(`{"rows":[{"cells":["a\"b\u00e9"],"rowCoordinates":["R\n"]}],"x":{"y":[1,{"z":"]"}]}}`))
	f.Add([]byte(`{"pages":[],"rows":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseGrid(b)
		var ref struct {
			Pages   []string   `json:"pages"`
			Columns [][]string `json:"columnCoordinates"`
			Rows    []struct {
				Labels []string `json:"rowCoordinates"`
				Cells  []string `json:"cells"`
			} `json:"rows"`
		}
		if json.Unmarshal(b, &ref) != nil || bytes.Contains(b, []byte("null")) {
			return // parseGrid is more tolerant (numbers, nulls); only compare well-typed inputs
		}
		if err != nil {
			t.Fatalf("parseGrid failed on valid input %q: %v", b, err)
		}
		want := &Grid{Pages: ref.Pages, Columns: ref.Columns}
		if len(want.Pages) == 0 {
			want.Pages = nil
		}
		for _, r := range ref.Rows {
			want.Rows = append(want.Rows, GridRow{Labels: r.Labels, Cells: r.Cells})
		}
		if diff := cmp.Diff(want, g, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("parseGrid(%q) differs from encoding/json (-json +parseGrid):\n%s", b, diff)
		}
	})
}

// BenchmarkDecodeGrid1MEncodingJSON is the baseline for
// BenchmarkDecodeGrid1M: encoding/json decoding the same answer.
func BenchmarkDecodeGrid1MEncodingJSON(b *testing.B) {
	const rows, cols = 10_000, 100
	body := gridJSON(rows, cols)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var v struct {
			Pages   []string   `json:"pages"`
			Columns [][]string `json:"columnCoordinates"`
			Rows    []struct {
				Labels []string `json:"rowCoordinates"`
				Cells  []string `json:"cells"`
			} `json:"rows"`
		}
		if err := json.Unmarshal(body, &v); err != nil || len(v.Rows) != rows {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*cols), "ns/cell")
}
