package anaplantest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file renders a model's views and lists: as format=v1 JSON grids, as
// CSV in Anaplan's layouts, and as CSV records for other parts of the fake
// (ViewRows, ListRows) such as large-volume reads.

func (v *mdView) allDims() []*dim {
	out := make([]*dim, 0, len(v.rows)+len(v.cols)+len(v.pages))
	out = append(out, v.rows...)
	out = append(out, v.cols...)
	return append(out, v.pages...)
}

// pageSelection reads the pages= selectors (d1:i1,d2:i2, or several pages
// parameters) and returns the item of every page dimension: the selected
// one, or the first. A selector of a dimension not on the pages axis is a
// 400, as in Anaplan.
func (v *mdView) pageSelection(params []string) ([]*mdItem, string) {
	sel := make([]*mdItem, len(v.pages))
	for i, d := range v.pages {
		if items := d.items(); len(items) > 0 {
			sel[i] = items[0]
		}
	}
	for _, p := range params {
		for _, s := range strings.Split(p, ",") {
			if s == "" {
				continue
			}
			did, iid, ok := strings.Cut(s, ":")
			k := -1
			for i, d := range v.pages {
				if d.id == did {
					k = i
				}
			}
			if !ok || k < 0 {
				return nil, "Invalid page selector [" + did + "]"
			}
			it := v.pages[k].find(iid)
			if it == nil || it.id != iid {
				return nil, "Invalid page selector item [" + iid + "] for dimension [" + did + "]"
			}
			sel[k] = it
		}
	}
	return sel, ""
}

func product(ds []*dim) int {
	n := 1
	for _, d := range ds {
		n *= len(d.items())
	}
	return n
}

// pageCells is the number of cells of one page of the view.
func (v *mdView) pageCells() int { return product(v.rows) * product(v.cols) }

// combos calls f with every combination of the items of ds, the first
// dimension outermost. With no dimensions there is one empty combination.
func combos(ds []*dim, f func([]*mdItem) bool) {
	lists := make([][]*mdItem, len(ds))
	for i, d := range ds {
		lists[i] = d.items()
		if len(lists[i]) == 0 {
			return
		}
	}
	cur := make([]*mdItem, len(ds))
	idx := make([]int, len(ds))
	for i := range ds {
		cur[i] = lists[i][0]
	}
	for {
		if !f(cur) {
			return
		}
		k := len(ds) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < len(lists[k]) {
				cur[k] = lists[k][idx[k]]
				break
			}
			idx[k] = 0
			cur[k] = lists[k][0]
		}
		if k < 0 {
			return
		}
	}
}

// cellPlan finds the cells of a view: where each view dimension goes in a
// cell's key.
type cellPlan struct {
	mm   *mdModule
	slot map[*dim]int // index in mm.dims; -1 for Line Items
	lis  map[*mdItem]*mdLineItem
	ids  []string
	li   *mdLineItem
	buf  []byte
}

func newCellPlan(v *mdView) *cellPlan {
	mm := v.module
	p := &cellPlan{mm: mm, slot: map[*dim]int{}, lis: map[*mdItem]*mdLineItem{}, ids: make([]string, len(mm.dims))}
	for i, d := range mm.dims {
		p.slot[d] = i
	}
	p.slot[mm.liDim] = -1
	for _, li := range mm.lineItems {
		p.lis[&li.mdItem] = li
	}
	return p
}

func (p *cellPlan) set(ds []*dim, items []*mdItem) {
	for i, d := range ds {
		if k := p.slot[d]; k >= 0 {
			p.ids[k] = items[i].id
		} else {
			p.li = p.lis[items[i]]
		}
	}
}

func (p *cellPlan) value() string {
	if p.li == nil {
		return ""
	}
	p.buf = append(p.buf[:0], p.li.id...)
	for _, id := range p.ids {
		p.buf = append(p.buf, 0)
		p.buf = append(p.buf, id...)
	}
	if v, ok := p.mm.cells[string(p.buf)]; ok {
		return v
	}
	return emptyValue(p.li.format)
}

func labels(items []*mdItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		if it != nil {
			out[i] = it.name
		}
	}
	return out
}

// writeGridJSON writes one page of a view as format=v1 JSON.
func (m *mdModel) writeGridJSON(w io.Writer, v *mdView, sel []*mdItem, maxRows int) {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	p := newCellPlan(v)
	p.set(v.pages, sel)
	var cols [][]*mdItem
	combos(v.cols, func(c []*mdItem) bool {
		cols = append(cols, append([]*mdItem(nil), c...))
		return true
	})
	b := make([]byte, 0, 64<<10)
	flush := func() {
		_, _ = bw.Write(b)
		b = b[:0]
	}
	strs := func(ss []string) {
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, `{"pages":`...)
	strs(labels(sel))
	b = append(b, `,"columnCoordinates":[`...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		strs(labels(c))
	}
	b = append(b, `],"rows":[`...)
	n := 0
	combos(v.rows, func(r []*mdItem) bool {
		if maxRows > 0 && n >= maxRows {
			return false
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		p.set(v.rows, r)
		b = append(b, `{"rowCoordinates":`...)
		strs(labels(r))
		b = append(b, `,"cells":[`...)
		for i, c := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			p.set(v.cols, c)
			b = appendJSONString(b, p.value())
		}
		b = append(b, "]}"...)
		if len(b) > 32<<10 {
			flush()
		}
		return true
	})
	b = append(b, "]}"...)
	flush()
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, fmt.Sprintf(`\u%04x`, c)...)
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// renderView calls yield with the CSV records of a view in an export
// layout; data is false for the page-selector and header lines.
//
// Layouts, as the fake draws them:
//   - GRID_CURRENT_PAGE: the labels of the selected page items (when the
//     view has pages), one header line per column dimension (an empty
//     field per row dimension, then the column labels), then a record per
//     row: its labels, then its cells.
//   - GRID_ALL_PAGES: the same for every page, one after the other.
//   - TABULAR_MULTI_COLUMN: one header (the page, then row, dimension
//     names, then each column's labels joined by " - "), then a record per
//     page and row.
//   - TABULAR_SINGLE_COLUMN: one header (every dimension's name, then
//     "Value"), then a record per cell.
func (m *mdModel) renderView(v *mdView, exportType string, sel []*mdItem, yield func(rec []string, data bool) bool) error {
	p := newCellPlan(v)
	var cols [][]*mdItem
	combos(v.cols, func(c []*mdItem) bool {
		cols = append(cols, append([]*mdItem(nil), c...))
		return true
	})
	stopped := false
	emit := func(rec []string, data bool) bool {
		if !yield(rec, data) {
			stopped = true
		}
		return !stopped
	}
	grid := func(sel []*mdItem) bool {
		p.set(v.pages, sel)
		if len(v.pages) > 0 && !emit(labels(sel), false) {
			return false
		}
		for k := range v.cols {
			rec := make([]string, len(v.rows), len(v.rows)+len(cols))
			for _, c := range cols {
				rec = append(rec, c[k].name)
			}
			if !emit(rec, false) {
				return false
			}
		}
		combos(v.rows, func(r []*mdItem) bool {
			p.set(v.rows, r)
			rec := labels(r)
			for _, c := range cols {
				p.set(v.cols, c)
				rec = append(rec, p.value())
			}
			return emit(rec, true)
		})
		return !stopped
	}
	names := func(ds []*dim) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.name
		}
		return out
	}
	switch exportType {
	case "", "GRID_CURRENT_PAGE":
		grid(sel)
	case "GRID_ALL_PAGES":
		combos(v.pages, grid)
	case "TABULAR_MULTI_COLUMN":
		head := append(names(v.pages), names(v.rows)...)
		for _, c := range cols {
			head = append(head, strings.Join(labels(c), " - "))
		}
		if !emit(head, false) {
			return nil
		}
		combos(v.pages, func(pg []*mdItem) bool {
			p.set(v.pages, pg)
			combos(v.rows, func(r []*mdItem) bool {
				p.set(v.rows, r)
				rec := append(labels(pg), labels(r)...)
				for _, c := range cols {
					p.set(v.cols, c)
					rec = append(rec, p.value())
				}
				return emit(rec, true)
			})
			return !stopped
		})
	case "TABULAR_SINGLE_COLUMN":
		all := append(append(append([]*dim(nil), v.pages...), v.rows...), v.cols...)
		if !emit(append(names(all), "Value"), false) {
			return nil
		}
		combos(all, func(its []*mdItem) bool {
			p.set(all, its)
			return emit(append(labels(its), p.value()), true)
		})
	default:
		return errors.New("Invalid exportType " + exportType)
	}
	return nil
}

// listCSV calls yield with a list's items as GET …/items answers them in
// CSV: id,name,code,parent,parentId,listId,listName, then the subsets and
// properties.
func (m *mdModel) listCSV(l *mdList, yield func([]string) bool) {
	head := []string{"id", "name", "code", "parent", "parentId", "listId", "listName"}
	for _, s := range l.subsets {
		head = append(head, s.name)
	}
	head = append(head, l.props...)
	if !yield(head) {
		return
	}
	for _, it := range l.items {
		var parent, parentID string
		if it.parent != nil {
			parent, parentID = it.parent.name, it.parent.id
		}
		rec := []string{it.id, it.name, it.code, parent, parentID, l.id, l.name}
		for _, s := range l.subsets {
			rec = append(rec, strconv.FormatBool(it.subsets[s.name]))
		}
		for _, p := range l.props {
			rec = append(rec, it.props[p])
		}
		if !yield(rec) {
			return
		}
	}
}

// ViewRows renders a view of a model as CSV records in the layout of
// exportType (TABULAR_MULTI_COLUMN when empty; also TABULAR_SINGLE_COLUMN,
// GRID_ALL_PAGES and GRID_CURRENT_PAGE), calling yield for each record, the
// header first, until yield returns false. Cells show what was seeded or
// written through the API. It is meant for other parts of the fake, such as
// large-volume reads; it has no cell limit.
//
// The model's data stays locked while ViewRows runs: yield must not call
// the Server's model-data methods.
func (s *Server) ViewRows(workspaceID, modelID, viewID, exportType string, yield func(record []string) bool) error {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m == nil {
		return fmt.Errorf("anaplantest: model %s has no data", modelID)
	}
	v := m.view(viewID)
	if v == nil {
		return fmt.Errorf("anaplantest: model %s has no view %s", modelID, viewID)
	}
	if exportType == "" {
		exportType = "TABULAR_MULTI_COLUMN"
	}
	sel, _ := v.pageSelection(nil)
	return m.renderView(v, exportType, sel, func(rec []string, _ bool) bool { return yield(rec) })
}

// ListRows renders a list of a model as CSV records as a large-volume read
// of a list has them: a header ",Parent,Code", then the list's subsets and
// properties (the first column is the item's name), then one record per
// item, calling yield for each until it returns false.
//
// The model's data stays locked while ListRows runs: yield must not call
// the Server's model-data methods.
func (s *Server) ListRows(workspaceID, modelID, listID string, yield func(record []string) bool) error {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m == nil {
		return fmt.Errorf("anaplantest: model %s has no data", modelID)
	}
	l := m.list(listID)
	if l == nil {
		return fmt.Errorf("anaplantest: model %s has no list %s", modelID, listID)
	}
	head := []string{"", "Parent", "Code"}
	for _, sb := range l.subsets {
		head = append(head, sb.name)
	}
	head = append(head, l.props...)
	if !yield(head) {
		return nil
	}
	for _, it := range l.items {
		parent := ""
		if it.parent != nil {
			parent = it.parent.name
		}
		rec := []string{it.name, parent, it.code}
		for _, sb := range l.subsets {
			rec = append(rec, strconv.FormatBool(it.subsets[sb.name]))
		}
		for _, p := range l.props {
			rec = append(rec, it.props[p])
		}
		if !yield(rec) {
			return nil
		}
	}
	return nil
}
