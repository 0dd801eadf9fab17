package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-anaplan/anaplan"
)

// This file is the model-data commands: metadata, list items, cells, the
// model's status, open/close, current period and versions.

// pageFlags is a repeatable --page DIM=ITEM.
type pageFlags []string

func (p *pageFlags) String() string     { return strings.Join(*p, ",") }
func (p *pageFlags) Set(v string) error { *p = append(*p, v); return nil }

func init() {
	data := []*command{
		{name: "modules", summary: "list a model's modules", model: true, run: cmdModules},
		{name: "line-items", args: "[MODULE]", summary: "list the line items of a module, or of every module", model: true, nargs: [2]int{0, 1}, run: cmdLineItems},
		{name: "views", args: "[MODULE]", summary: "list the views of a module, or of the model", model: true, nargs: [2]int{0, 1}, run: cmdViews},
		{name: "lists", summary: "list a model's lists", model: true, run: cmdLists},
		{name: "items", args: "[add|update|delete] LIST", summary: "print a list's items (--csv, --json); with add, update or delete, change them from --file (CSV or JSON)",
			model: true, nargs: [2]int{1, 2}, flags: itemsFlags, run: cmdItems},
		{name: "cells", args: "VIEW", summary: "print a page of a view (--page DIM=ITEM, --csv, --json)", model: true, nargs: [2]int{1, 1}, flags: cellsFlags, run: cmdCells},
		{name: "write-cells", args: "MODULE", summary: "write cells from --file (CSV: lineItem,value,<dimension>… or JSON)", model: true, nargs: [2]int{1, 1}, flags: writeCellsFlags, run: cmdWriteCells},
		{name: "model", args: "status|open|close", summary: "show the model's status, or open (wake) or close it (--wait)", model: true, nargs: [2]int{1, 1}, flags: modelFlags, run: cmdModel},
		{name: "period", summary: "show the model's current period, or change it with --set YYYY-MM-DD", model: true, flags: periodFlags, run: cmdPeriod},
		{name: "versions", summary: "list the model's versions", model: true, run: cmdVersions},
	}
	at := slices.IndexFunc(commands, func(c *command) bool { return c.name == "demo" })
	if at < 0 {
		at = len(commands)
	}
	commands = slices.Insert(commands, at, data...)
}

func itemsFlags(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.csv, "csv", false, "print CSV instead of a table")
	fs.StringVar(&o.file, "file", "", "add, update, delete: the items, as CSV (a header of id,name,code,parent and the properties and subsets) or JSON (- for stdin)")
}

func cellsFlags(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.csv, "csv", false, "print the view as Anaplan's CSV instead of a table")
	fs.Var(&o.pages, "page", "DIM=ITEM: the item of a page dimension, by names or IDs (repeatable)")
	fs.IntVar(&o.maxRows, "max-rows", 0, "print at most this many rows (0: all)")
}

func writeCellsFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.file, "file", "", "the cells, as CSV (a header of lineItem,value, then one column per dimension holding item names) or JSON (- for stdin)")
}

func modelFlags(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.wait, "wait", false, "open, close: wait until the model is open (closed)")
	fs.DurationVar(&o.poll, "poll-interval", time.Second, "first wait between status requests (it grows up to 15s)")
}

func periodFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.set, "set", "", `set the current period to the one holding this date (YYYY-MM-DD; "none" clears it)`)
}

// withModel signs in, resolves --workspace and --model, and runs f.
func (a *app) withModel(ctx context.Context, f func(m *anaplan.ModelHandle) error) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		m, _, err := a.model(ctx, c)
		if err != nil {
			return err
		}
		return f(m)
	})
}

func cmdModules(ctx context.Context, a *app, _ []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		return printList(a, m.Modules(ctx), []string{"ID", "NAME"}, func(x anaplan.Module) []string { return []string{x.ID, x.Name} })
	})
}

func cmdLists(ctx context.Context, a *app, _ []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		return printList(a, m.Lists(ctx), []string{"ID", "NAME"}, func(x anaplan.List) []string { return []string{x.ID, x.Name} })
	})
}

// moduleID resolves a module name or ID ("" stays "").
func moduleID(ctx context.Context, m *anaplan.ModelHandle, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	mod, err := findSeq(m.Modules(ctx), key, "module", "modules", func(x anaplan.Module) string { return x.ID }, func(x anaplan.Module) string { return x.Name })
	return mod.ID, err
}

func cmdLineItems(ctx context.Context, a *app, args []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		id, err := moduleID(ctx, m, first(args))
		if err != nil {
			return err
		}
		return printList(a, m.LineItems(ctx, id), []string{"ID", "NAME", "MODULE", "FORMAT", "FORMULA"}, func(x anaplan.LineItem) []string {
			return []string{x.ID, x.Name, x.ModuleName, x.Format, x.Formula}
		})
	})
}

func cmdViews(ctx context.Context, a *app, args []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		id, err := moduleID(ctx, m, first(args))
		if err != nil {
			return err
		}
		return printList(a, m.Views(ctx, id), []string{"ID", "NAME", "MODULE ID"}, func(x anaplan.View) []string {
			return []string{x.ID, x.Name, x.ModuleID}
		})
	})
}

func first(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

func findList(ctx context.Context, m *anaplan.ModelHandle, key string) (anaplan.List, error) {
	return findSeq(m.Lists(ctx), key, "list", "lists", func(x anaplan.List) string { return x.ID }, func(x anaplan.List) string { return x.Name })
}

func cmdItems(ctx context.Context, a *app, args []string) error {
	action := ""
	if len(args) == 2 {
		action = args[0]
		if action != "add" && action != "update" && action != "delete" {
			return usagef("usage: anaplan items [add|update|delete] LIST")
		}
		if a.o.file == "" {
			return usagef("items %s needs --file: a CSV or JSON file of items (- for stdin)", action)
		}
	}
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		l, err := findList(ctx, m, args[len(args)-1])
		if err != nil {
			return err
		}
		if action == "" {
			return a.printItems(ctx, m, l)
		}
		info, err := m.ListInfo(ctx, l.ID)
		if err != nil {
			return err
		}
		items, err := a.readItems(info)
		if err != nil {
			return err
		}
		var res *anaplan.ListItemsResult
		switch action {
		case "add":
			res, err = m.AddListItems(ctx, l.ID, items)
		case "update":
			res, err = m.UpdateListItems(ctx, l.ID, items)
		default:
			res, err = m.DeleteListItems(ctx, l.ID, items)
		}
		if res != nil {
			fmt.Fprintf(a.stdout, "added %d, updated %d, deleted %d, ignored %d, failed %d (of %d items)\n",
				res.Added, res.Updated, res.Deleted, res.Ignored, len(res.Failures), len(items))
			printFailures(a, res.Failures, "row")
		}
		if err != nil {
			return err
		}
		if len(res.Failures) > 0 {
			return fmt.Errorf("%d of %d items failed", len(res.Failures), len(items))
		}
		return nil
	})
}

// printFailures prints one line per failure; rows count from 1 after the
// header, as a spreadsheet shows them.
func printFailures(a *app, fs []anaplan.ItemFailure, what string) {
	for _, f := range fs {
		fmt.Fprintf(a.stdout, "%s %d: %s", what, f.Index+1, clean(f.Type))
		if f.Details != "" {
			fmt.Fprintf(a.stdout, ": %s", clean(f.Details))
		}
		fmt.Fprintln(a.stdout)
	}
}

func (a *app) printItems(ctx context.Context, m *anaplan.ModelHandle, l anaplan.List) error {
	items, err := anaplan.Collect(m.ListItems(ctx, l.ID))
	if err != nil {
		return err
	}
	var props, subsets []string
	for _, it := range items {
		for k := range it.Properties {
			if !slices.Contains(props, k) {
				props = append(props, k)
			}
		}
		for k := range it.Subsets {
			if !slices.Contains(subsets, k) {
				subsets = append(subsets, k)
			}
		}
	}
	slices.Sort(props)
	slices.Sort(subsets)
	header := append([]string{"id", "name", "code", "parent"}, props...)
	header = append(header, subsets...)
	rows := make([][]string, len(items))
	for i, it := range items {
		r := []string{it.ID, it.Name, it.Code, it.Parent}
		for _, p := range props {
			r = append(r, it.Properties[p])
		}
		for _, s := range subsets {
			r = append(r, fmt.Sprint(it.Subsets[s]))
		}
		rows[i] = r
	}
	switch {
	case a.o.json:
		return a.printJSON(items)
	case a.o.csv:
		w := csv.NewWriter(a.stdout)
		_ = w.Write(header)
		_ = w.WriteAll(rows)
		return w.Error()
	}
	for i := range header {
		header[i] = strings.ToUpper(header[i])
	}
	return writeTable(a.stdout, header, rows)
}

// openInput opens --file ("-" is stdin).
func (a *app) openInput() (io.ReadCloser, error) {
	if a.o.file == "-" {
		return io.NopCloser(a.stdin), nil
	}
	f, err := os.Open(a.o.file)
	if err != nil {
		return nil, fmt.Errorf("cannot open the file: %w", err)
	}
	return f, nil
}

// maxInput bounds a --file of items or cells.
const maxInput = 1 << 30

// readInput reads --file and says whether it is JSON.
func (a *app) readInput() ([]byte, bool, error) {
	r, err := a.openInput()
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", a.o.file, err)
	}
	if len(b) > maxInput {
		return nil, false, fmt.Errorf("%s is larger than %d MiB", a.o.file, maxInput>>20)
	}
	t := strings.TrimSpace(string(b[:min(len(b), 64)]))
	return b, strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{"), nil
}

// readItems reads the items of --file: JSON (an array of items as 'items
// --json' prints them, or {"items":[…]}) or CSV with a header.
func (a *app) readItems(info *anaplan.ListInfo) ([]anaplan.ListItem, error) {
	b, isJSON, err := a.readInput()
	if err != nil {
		return nil, err
	}
	if isJSON {
		var items []anaplan.ListItem
		if err := json.Unmarshal(b, &items); err != nil {
			var wrapped struct{ Items []anaplan.ListItem }
			if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
				return nil, fmt.Errorf("%s is not a JSON array of items: %w", a.o.file, err)
			}
			items = wrapped.Items
		}
		return items, nil
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s is not CSV: %w", a.o.file, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s is empty: want a header line (id,name,code,parent,…) and items", a.o.file)
	}
	isSubset := map[string]bool{}
	for _, s := range info.Subsets {
		isSubset[s.Name] = true
	}
	header := recs[0]
	items := make([]anaplan.ListItem, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		var it anaplan.ListItem
		for i, h := range header {
			if i >= len(rec) {
				break
			}
			v := rec[i]
			switch strings.ToLower(strings.TrimSpace(h)) {
			case "id":
				it.ID = v
			case "name":
				it.Name = v
			case "code":
				it.Code = v
			case "parent":
				it.Parent = v
			case "parentid", "listid", "listname":
			default:
				if v == "" {
					continue
				}
				if isSubset[h] {
					if it.Subsets == nil {
						it.Subsets = map[string]bool{}
					}
					it.Subsets[h] = strings.EqualFold(v, "true") || v == "1"
					continue
				}
				if it.Properties == nil {
					it.Properties = map[string]string{}
				}
				it.Properties[h] = v
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// findView resolves a view name or ID.
func findView(ctx context.Context, m *anaplan.ModelHandle, key string) (anaplan.View, error) {
	return findSeq(m.Views(ctx, ""), key, "view", "views", func(x anaplan.View) string { return x.ID }, func(x anaplan.View) string { return x.Name })
}

func cmdCells(ctx context.Context, a *app, args []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		v, err := findView(ctx, m, args[0])
		if err != nil {
			return err
		}
		var pages []anaplan.CellCoordinate
		if len(a.o.pages) > 0 {
			info, err := m.ViewInfo(ctx, v.ID)
			if err != nil {
				return err
			}
			for _, p := range a.o.pages {
				dk, ik, ok := strings.Cut(p, "=")
				if !ok {
					return usagef("--page wants DIM=ITEM, by names or IDs")
				}
				d, err := findIn(info.Pages, dk, "page dimension", func(x anaplan.Dimension) (string, string) { return x.ID, x.Name })
				if err != nil {
					return err
				}
				items, err := m.ViewDimensionItems(ctx, v.ID, d.ID)
				if err != nil {
					return err
				}
				it, err := findIn(items, ik, "item of "+d.Name, func(x anaplan.DimensionItem) (string, string) { return x.ID, x.Name })
				if err != nil {
					return err
				}
				pages = append(pages, anaplan.CellCoordinate{DimensionID: d.ID, ItemID: it.ID})
			}
		}
		if a.o.csv {
			_, err := m.ReadCellsCSV(ctx, v.ID, a.stdout, &anaplan.ReadCellsCSVOptions{Pages: pages, MaxRows: a.o.maxRows})
			return err
		}
		g, err := m.ReadCells(ctx, v.ID, &anaplan.ReadCellsOptions{Pages: pages, MaxRows: a.o.maxRows})
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(g)
		}
		if len(g.Pages) > 0 {
			fmt.Fprintf(a.stdout, "page: %s\n", clean(strings.Join(g.Pages, " / ")))
		}
		nLabels := 0
		if len(g.Rows) > 0 {
			nLabels = len(g.Rows[0].Labels)
		}
		header := make([]string, nLabels, nLabels+len(g.Columns))
		for _, c := range g.Columns {
			header = append(header, strings.Join(c, " / "))
		}
		rows := make([][]string, len(g.Rows))
		for i, r := range g.Rows {
			rows[i] = append(slices.Clone(r.Labels), r.Cells...)
		}
		return writeTable(a.stdout, header, rows)
	})
}

// findSeq picks the item whose ID is key, or else whose name is key
// (exactly, then ignoring case); several with that name is an error.
func findSeq[T any](seq iter.Seq2[T, error], key, what, plural string, id, name func(T) string) (T, error) {
	var zero T
	var exact, folded []T
	for v, err := range seq {
		if err != nil {
			return zero, err
		}
		switch {
		case id(v) == key:
			return v, nil
		case name(v) == key:
			exact = append(exact, v)
		case strings.EqualFold(name(v), key):
			folded = append(folded, v)
		}
	}
	for _, set := range [][]T{exact, folded} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		}
		return zero, fmt.Errorf("several %s are called %q: use the ID", plural, key)
	}
	return zero, fmt.Errorf("no %s called or with ID %q in the model: run 'anaplan %s' to list them", what, key, plural)
}

// findIn picks the element of xs whose ID is key, else whose name is key
// (ignoring case).
func findIn[T any](xs []T, key, what string, idName func(T) (string, string)) (T, error) {
	for _, x := range xs {
		if id, _ := idName(x); id == key {
			return x, nil
		}
	}
	for _, x := range xs {
		if _, name := idName(x); strings.EqualFold(name, key) {
			return x, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("no %s called or with ID %q", what, key)
}

// readCells reads the cells of --file: JSON (an array of cells:
// lineItemName|lineItemId, dimensions, value) or CSV with a header of
// lineItem,value and one column per dimension holding an item name.
func (a *app) readCells() ([]anaplan.CellWrite, error) {
	b, isJSON, err := a.readInput()
	if err != nil {
		return nil, err
	}
	if isJSON {
		var cells []anaplan.CellWrite
		if err := json.Unmarshal(b, &cells); err != nil {
			return nil, fmt.Errorf("%s is not a JSON array of cells: %w", a.o.file, err)
		}
		return cells, nil
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s is not CSV: %w", a.o.file, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s is empty: want a header line (lineItem,value,<dimension>…) and cells", a.o.file)
	}
	header := recs[0]
	li, val := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "lineitem", "line item", "lineitemname":
			li = i
		case "value":
			val = i
		}
	}
	if li < 0 || val < 0 {
		return nil, fmt.Errorf("%s: the header needs a lineItem and a value column", a.o.file)
	}
	cells := make([]anaplan.CellWrite, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		if len(rec) != len(header) {
			return nil, fmt.Errorf("%s: row %d has %d fields, the header %d", a.o.file, len(cells)+2, len(rec), len(header))
		}
		c := anaplan.CellWrite{LineItemName: rec[li], Value: rec[val]}
		for i, h := range header {
			if i != li && i != val {
				c.Dimensions = append(c.Dimensions, anaplan.CellDimension{DimensionName: h, ItemName: rec[i]})
			}
		}
		cells = append(cells, c)
	}
	return cells, nil
}

func cmdWriteCells(ctx context.Context, a *app, args []string) error {
	if a.o.file == "" {
		return usagef("write-cells needs --file: a CSV or JSON file of cells (- for stdin)")
	}
	cells, err := a.readCells()
	if err != nil {
		return err
	}
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		id, err := moduleID(ctx, m, args[0])
		if err != nil {
			return err
		}
		res, err := m.WriteCells(ctx, id, cells)
		if res != nil {
			fmt.Fprintf(a.stdout, "changed %d, failed %d (of %d cells)\n", res.Changed, len(res.Failures), len(cells))
			printFailures(a, res.Failures, "cell")
		}
		if err != nil {
			return err
		}
		if len(res.Failures) > 0 {
			return fmt.Errorf("%d of %d cells failed", len(res.Failures), len(cells))
		}
		return nil
	})
}

func cmdModel(ctx context.Context, a *app, args []string) error {
	verb := args[0]
	if verb != "status" && verb != "open" && verb != "close" {
		return usagef("usage: anaplan model status|open|close")
	}
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		wait := &anaplan.ModelWaitOptions{Wait: a.o.wait, PollInterval: a.o.poll}
		var err error
		switch verb {
		case "open":
			err = m.OpenModel(ctx, wait)
		case "close":
			err = m.CloseModel(ctx, wait)
		}
		if err != nil {
			return err
		}
		s, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(s)
		}
		progress := "-"
		if s.Progress >= 0 {
			progress = fmt.Sprintf("%.0f%%", s.Progress*100)
		}
		return writeTable(a.stdout, []string{"STEP", "PROGRESS", "TOOLTIP"}, [][]string{{s.CurrentStep, progress, s.Tooltip}})
	})
}

func cmdPeriod(ctx context.Context, a *app, _ []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		var p *anaplan.Period
		var err error
		switch set := a.o.set; set {
		case "":
			p, err = m.CurrentPeriod(ctx)
		case "none":
			p, err = m.SetCurrentPeriod(ctx, "")
		default:
			p, err = m.SetCurrentPeriod(ctx, set)
		}
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(p)
		}
		return writeTable(a.stdout, []string{"PERIOD", "LAST DAY", "CALENDAR"}, [][]string{{p.Text, p.LastDay, p.CalendarType}})
	})
}

func cmdVersions(ctx context.Context, a *app, _ []string) error {
	return a.withModel(ctx, func(m *anaplan.ModelHandle) error {
		vs, err := m.Versions(ctx)
		if err != nil {
			return err
		}
		if a.o.json {
			return a.printJSON(vs)
		}
		date := func(d *anaplan.VersionDate) string {
			if d == nil {
				return ""
			}
			return d.PeriodText
		}
		rows := make([][]string, len(vs))
		for i, v := range vs {
			flags := []string{}
			if v.IsActual {
				flags = append(flags, "actual")
			}
			if v.IsCurrent {
				flags = append(flags, "current")
			}
			rows[i] = []string{v.ID, v.Name, strings.Join(flags, ","), date(v.EditFrom), date(v.EditTo), date(v.Switchover)}
		}
		return writeTable(a.stdout, []string{"ID", "NAME", "FLAGS", "EDIT FROM", "EDIT TO", "SWITCHOVER"}, rows)
	})
}
