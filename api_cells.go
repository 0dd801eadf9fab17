package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file is the cells of a model: a view read as a Grid or streamed as
// CSV, and cells written to a module in batches. Wire reference:
// ANAPLAN-DATA.md §2. Views too large for one read (more than 1,000,000
// cells) are read with ReadView, a large-volume read.

// MaxCellsPerRead is the largest view Anaplan serves through ReadCells and
// ReadCellsCSV; a larger one answers 400.
const MaxCellsPerRead = 1_000_000

// DefaultCellBatch is how many cells WriteCells sends in one call. Anaplan's
// sources disagree on the limit (1,000 cells a call in one, 100,000 cells or
// 15 MB in another): this is the safe one. WriteCellsWith takes another.
const DefaultCellBatch = 1000

// MaxCellBatch is the largest batch WriteCellsWith sends.
const MaxCellBatch = 100_000

// maxGridBody bounds the answer of ReadCells (a view of at most 1,000,000
// cells).
const maxGridBody = 1 << 30

// ReadCellsOptions selects what ReadCells reads. The zero value (or nil)
// reads the current page of every page dimension, every row.
type ReadCellsOptions struct {
	Pages   []CellCoordinate // page selectors: dimension and item IDs
	MaxRows int              // 0: no limit
}

// CellCoordinate is an item of a dimension, both by ID.
type CellCoordinate struct{ DimensionID, ItemID string }

// Grid is a page of a view as GET …/views/{v}/data?format=v1 returns it.
type Grid struct {
	Pages   []string   // the label of each page dimension's selected item
	Columns [][]string // Columns[i]: the labels of column i, one per column dimension
	Rows    []GridRow
}

// GridRow is a row of a Grid.
type GridRow struct {
	Labels []string // one per row dimension
	Cells  []string // Cells[i] lines up with Columns[i]
}

// Cells returns the number of cells in the grid.
func (g *Grid) Cells() int {
	n := 0
	for _, r := range g.Rows {
		n += len(r.Cells)
	}
	return n
}

// viewDataQuery builds the query of GET …/views/{v}/data.
func viewDataQuery(q url.Values, pages []CellCoordinate, maxRows int) error {
	if len(pages) > 0 {
		sel := make([]string, len(pages))
		for i, p := range pages {
			if p.DimensionID == "" || p.ItemID == "" {
				return errorf("anaplan: page selector %d needs a DimensionID and an ItemID", i)
			}
			if strings.ContainsAny(p.DimensionID+p.ItemID, ",:") {
				return errorf("anaplan: page selector %d: IDs cannot hold ',' or ':'", i)
			}
			sel[i] = p.DimensionID + ":" + p.ItemID
		}
		q.Set("pages", strings.Join(sel, ","))
	}
	if maxRows < 0 {
		return errors.New("anaplan: MaxRows cannot be negative")
	}
	if maxRows > 0 {
		q.Set("maxRows", strconv.Itoa(maxRows))
	}
	return nil
}

// cellReadHint explains a 400 from a view read: Anaplan answers 400 for a
// view of more than MaxCellsPerRead cells, and for a page selector of a
// dimension not on the view's pages.
func cellReadHint(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && ae.Hint == "" {
		if strings.Contains(strings.ToLower(ae.Message), "page selector") {
			ae.Hint = "page selectors may only name dimensions on the view's pages axis (see ViewInfo)"
		} else {
			ae.Hint = "Anaplan answers 400 for a view of more than 1,000,000 cells: read it with ReadView (a large-volume read), or select a page or fewer rows"
		}
	}
	return modelHint(err)
}

// ReadCells reads a page of a view into a Grid (format=v1 JSON). viewID may
// also be a line item's ID (its subsidiary view). Pages selects an item of
// some of the view's page dimensions; the others show their current page.
// MaxRows caps the number of rows.
//
// A view of more than 1,000,000 cells is not served: the *APIError (400)
// says to use ReadView. A read changes nothing and is retried like any GET.
func (m *ModelHandle) ReadCells(ctx context.Context, viewID string, opts *ReadCellsOptions) (*Grid, error) {
	if err := checkID("view", viewID); err != nil {
		return nil, err
	}
	var o ReadCellsOptions
	if opts != nil {
		o = *opts
	}
	q := url.Values{"format": {"v1"}}
	if err := viewDataQuery(q, o.Pages, o.MaxRows); err != nil {
		return nil, err
	}
	u := m.modelBase() + "/views/" + url.PathEscape(viewID) + "/data?" + q.Encode()
	req, err := m.c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return nil, err
	}
	resp, err := m.c.send(req, true)
	if err != nil {
		return nil, cellReadHint(err)
	}
	defer resp.Body.Close()
	body, err := readGridBody(resp.Body, resp.ContentLength, maxGridBody)
	if err == nil {
		var g *Grid
		if g, err = parseGrid(body); err == nil {
			return g, nil
		}
	}
	return nil, errorf("anaplan: GET %s: %w", redactURL(u), err)
}

// readGridBody reads an answer of at most limit bytes; hint (the
// Content-Length, when known) only sizes the first buffer.
func readGridBody(r io.Reader, hint int64, limit int) ([]byte, error) {
	size := 64 << 10
	if hint > 0 {
		size = int(min(hint+1, 64<<20))
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("the answer is larger than %d MiB", limit>>20)
	}
	return buf.Bytes(), nil
}

// ReadCellsCSVOptions selects what ReadCellsCSV reads and in which layout.
// The zero value (or nil) reads the current page as a grid.
type ReadCellsCSVOptions struct {
	Pages   []CellCoordinate // page selectors: dimension and item IDs
	MaxRows int              // data rows; 0: no limit
	// ExportType is the layout: "GRID_CURRENT_PAGE" (what Anaplan sends
	// when empty: a page-selector line, one header line per column
	// dimension, then rows), "GRID_ALL_PAGES", "TABULAR_SINGLE_COLUMN" or
	// "TABULAR_MULTI_COLUMN".
	ExportType string
	// ModuleID is the view's module. Anaplan wants it with ExportType; it
	// is required when ExportType is set.
	ModuleID string
	// Escaped asks for text/csv;escaped=true, the form some tenants
	// require, which quotes sensitive fields.
	Escaped bool
}

// ReadCellsCSV streams a view's cells as CSV to w, as Anaplan lays them out,
// and returns the number of bytes written. Memory stays small however large
// the answer. The 1,000,000-cell limit of ReadCells applies.
func (m *ModelHandle) ReadCellsCSV(ctx context.Context, viewID string, w io.Writer, opts *ReadCellsCSVOptions) (int64, error) {
	if err := checkID("view", viewID); err != nil {
		return 0, err
	}
	var o ReadCellsCSVOptions
	if opts != nil {
		o = *opts
	}
	q := url.Values{}
	if err := viewDataQuery(q, o.Pages, o.MaxRows); err != nil {
		return 0, err
	}
	switch o.ExportType {
	case "":
	case "GRID_CURRENT_PAGE", "GRID_ALL_PAGES", "TABULAR_SINGLE_COLUMN", "TABULAR_MULTI_COLUMN":
		if o.ModuleID == "" {
			return 0, errorf("anaplan: ExportType %s needs the view's ModuleID", o.ExportType)
		}
		q.Set("exportType", o.ExportType)
		q.Set("moduleId", o.ModuleID)
	default:
		return 0, errorf("anaplan: unknown ExportType %q (want GRID_CURRENT_PAGE, GRID_ALL_PAGES, TABULAR_SINGLE_COLUMN or TABULAR_MULTI_COLUMN)", o.ExportType)
	}
	u := m.modelBase() + "/views/" + url.PathEscape(viewID) + "/data"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := m.c.newRequest(ctx, http.MethodGet, u, nil, "")
	if err != nil {
		return 0, err
	}
	if o.Escaped {
		req.Header.Set("Accept", "text/csv;escaped=true")
	} else {
		req.Header.Set("Accept", "text/csv")
	}
	resp, err := m.c.send(req, true)
	if err != nil {
		return 0, cellReadHint(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, errorf("anaplan: GET %s: copying the CSV after %d bytes: %w", redactURL(u), n, err)
	}
	return n, nil
}

// CellWrite is one cell to write: a line item, an item of each of its
// dimensions (Time and Versions included), and the value.
type CellWrite struct {
	LineItemID, LineItemName string // one of the two
	Dimensions               []CellDimension
	Value                    any // string, number or bool
}

// CellDimension is the item of one dimension of a cell.
type CellDimension struct {
	DimensionID, DimensionName string // one of the two
	ItemID, ItemName, ItemCode string // one of the three
}

// WriteCellsResult is the outcome of WriteCells over every batch.
type WriteCellsResult struct {
	Changed  int           // numberOfCellsChanged, summed over batches
	Failures []ItemFailure // Index is the position in the caller's slice

	// Done is how many of the caller's cells were in batches Anaplan
	// answered (see ListItemsResult.Done).
	Done int
}

// WriteCellsOptions tune WriteCellsWith. The zero value (or nil) is fine.
type WriteCellsOptions struct {
	// BatchSize is how many cells one call sends: DefaultCellBatch when 0,
	// at most MaxCellBatch.
	BatchSize int
}

type wireCellDim struct {
	DimensionID   string `json:"dimensionId,omitempty"`
	DimensionName string `json:"dimensionName,omitempty"`
	ItemID        string `json:"itemId,omitempty"`
	ItemName      string `json:"itemName,omitempty"`
	ItemCode      string `json:"itemCode,omitempty"`
}

type wireCell struct {
	LineItemID   string        `json:"lineItemId,omitempty"`
	LineItemName string        `json:"lineItemName,omitempty"`
	Dimensions   []wireCellDim `json:"dimensions,omitempty"`
	Value        any           `json:"value"`
}

// cellValue checks that v is something Anaplan takes as a cell value.
func cellValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return v, nil
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, errors.New("the value is not a finite number")
		}
		return v, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errors.New("the value is not a finite number")
		}
		return v, nil
	case nil:
		return nil, errors.New("the value is nil (Anaplan takes a string, a number or a bool; write \"\" to clear a cell)")
	}
	return nil, fmt.Errorf("the value is a %T (Anaplan takes a string, a number or a bool)", v)
}

func (c *CellWrite) wire() (wireCell, error) {
	var w wireCell
	switch {
	case c.LineItemID != "":
		w.LineItemID = c.LineItemID
	case c.LineItemName != "":
		w.LineItemName = c.LineItemName
	default:
		return w, errors.New("has no LineItemID or LineItemName")
	}
	v, err := cellValue(c.Value)
	if err != nil {
		return w, err
	}
	w.Value = v
	if len(c.Dimensions) > 0 {
		w.Dimensions = make([]wireCellDim, len(c.Dimensions))
	}
	for i, d := range c.Dimensions {
		wd := &w.Dimensions[i]
		switch {
		case d.DimensionID != "":
			wd.DimensionID = d.DimensionID
		case d.DimensionName != "":
			wd.DimensionName = d.DimensionName
		default:
			return w, fmt.Errorf("dimension %d has no DimensionID or DimensionName", i)
		}
		switch {
		case d.ItemID != "":
			wd.ItemID = d.ItemID
		case d.ItemName != "":
			wd.ItemName = d.ItemName
		case d.ItemCode != "":
			wd.ItemCode = d.ItemCode
		default:
			return w, fmt.Errorf("dimension %d has no ItemID, ItemName or ItemCode", i)
		}
	}
	return w, nil
}

// WriteCells writes cells of a module, DefaultCellBatch cells a call (see
// WriteCellsWith for another batch size). Each cell names its line item and
// one item of each of the line item's dimensions, by ID or by name (items
// also by code); where both are set the ID is sent.
//
// Cells Anaplan refuses are in the result's Failures with their index in
// cells and Anaplan's failureType (cellIsCalculated, cellIsNotWriteable,
// invalidItem, valueDataTypeMismatch…); err is non-nil only when a call
// itself failed, and then the result covers the batches answered before
// (see WriteCellsResult.Done). A cell that cannot be sent (no line item, a
// nil value) is an error before anything is sent.
//
// A batch is a POST, which the SDK never sends twice by itself (only after
// a 429 or a 401, which Anaplan answers without acting). A call that failed
// without an answer (a timeout, a lost connection) may have been applied:
// writing cells[res.Done:] again sets the same values once more, which is
// harmless; Changed may then not count the cells the lost call changed.
func (m *ModelHandle) WriteCells(ctx context.Context, moduleID string, cells []CellWrite) (*WriteCellsResult, error) {
	return m.WriteCellsWith(ctx, moduleID, cells, nil)
}

// WriteCellsWith is WriteCells with options: the batch size.
func (m *ModelHandle) WriteCellsWith(ctx context.Context, moduleID string, cells []CellWrite, opts *WriteCellsOptions) (*WriteCellsResult, error) {
	if err := checkID("module", moduleID); err != nil {
		return nil, err
	}
	size := DefaultCellBatch
	if opts != nil && opts.BatchSize != 0 {
		if opts.BatchSize < 0 || opts.BatchSize > MaxCellBatch {
			return nil, errorf("anaplan: BatchSize %d is out of range (1 to %d)", opts.BatchSize, MaxCellBatch)
		}
		size = opts.BatchSize
	}
	res := &WriteCellsResult{}
	wire := make([]wireCell, len(cells))
	for i := range cells {
		w, err := cells[i].wire()
		if err != nil {
			return res, errorf("anaplan: cell %d %w", i, err)
		}
		wire[i] = w
	}
	u := m.modelBase() + "/modules/" + url.PathEscape(moduleID) + "/data"
	for start := 0; start < len(wire); start += size {
		end := min(start+size, len(wire))
		var v struct {
			Changed  flexInt       `json:"numberOfCellsChanged"`
			Failures []wireFailure `json:"failures"`
		}
		if err := m.sendModelJSON(ctx, http.MethodPost, u, wire[start:end], &v); err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && ae.Hint == "" {
				ae.Hint = "Anaplan refuses a whole batch that is over its cell limit (1,000 cells a call in some tenants: lower WriteCellsOptions.BatchSize) or that has a cell without a required field or with a value of a type it does not take"
			}
			if start > 0 {
				return res, errorf("anaplan: cells %d to %d of %d (the cells before were written): %w", start, end-1, len(wire), err)
			}
			return res, err
		}
		res.Changed += int(v.Changed)
		res.Failures = append(res.Failures, mapFailures(v.Failures, start, end-start)...)
		res.Done = end
	}
	return res, nil
}
