package anaplantest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the content of a model in the fake: lists and their items,
// modules with line items and views, Time and Versions, the cells, the
// calendar and the model's open/closed state. Seed it with AddModelData; the
// routes that serve it are in model_handlers.go, its rendering as a grid or
// CSV in model_render.go.

// Fixed dimension IDs, as Anaplan has them (Time, Versions, Users), and the
// fake's ID for a module's Line Items dimension (Anaplan's sources do not
// document one).
const (
	TimeDimensionID      = "20000000003"
	VersionsDimensionID  = "20000000020"
	UsersDimensionID     = "101999999999"
	LineItemsDimensionID = "20000000001"
)

// Limits the fake enforces, as Anaplan does.
const (
	MaxListItemsPerCall = 100_000   // items in one add, update or delete
	MaxCellsPerRead     = 1_000_000 // cells of a view read in one call
	MaxItemsPerRead     = 1_000_000 // items of a list or dimension read in one call
	DefaultCellWriteMax = 100_000   // cells in one write (see ModelData.MaxCellsPerWrite)
)

// ModelData is what a model holds, from Go values. See AddModelData.
//
// Dimensions (of a module, or on a view's axis) are named by a list's ID or
// name, "Time", "Versions", or (on views) "Line Items".
type ModelData struct {
	Lists   []List
	Modules []Module

	// FirstYear and Years make the Time dimension: the months of each year
	// ("Jan 24" … "Dec 24"). Defaults: 2024 and 1.
	FirstYear, Years int
	// Versions are the names of the versions; default "Actual" and
	// "Forecast". The first is the Actual version, the second the current.
	Versions []string
	// CurrentPeriod is the current period's date (YYYY-MM-DD), "" for none.
	CurrentPeriod string

	// Closed makes the model start closed (status "Closed").
	Closed bool
	// LifecyclePolls is how many status requests answer "Opening" (or
	// "Closing") after an open (or close) before the model is open (closed).
	LifecyclePolls int
	// StatusPOSTOnly makes GET …/models/{m}/status answer 405, so that
	// clients must use POST …/workspaces/{ws}/models/{m}/status.
	StatusPOSTOnly bool
	// NumericIDs sends every ID of the model data as a JSON number instead
	// of a string (Anaplan sends strings; some answers have been seen with
	// numbers).
	NumericIDs bool
	// NestedDeleteResult answers list deletes with
	// {"result":{"numberOfItemsDeleted":n,"failures":[…]}} instead of
	// {"deleted":n,"failures":[…]}: Anaplan's reference shows both.
	NestedDeleteResult bool
	// MaxCellsPerWrite is the most cells one write takes (a 400 above);
	// 0 means DefaultCellWriteMax. Anaplan's sources say 100,000 or 1,000.
	MaxCellsPerWrite int
}

// List is a list of a model.
type List struct {
	ID   string // "" gets one
	Name string
	// Parent is the ID or name of the parent list in a hierarchy; an
	// item's Parent then names an item of that list.
	Parent     string
	Numbered   bool     // a numbered list: items have codes and generated names
	Properties []string // the names of the list's properties
	Subsets    []string // the names of the list's subsets
	Items      []ListItem
}

// ListItem is an item of a list.
type ListItem struct {
	ID         string // "" gets one
	Name       string
	Code       string
	Parent     string // the name (or code) of an item of the parent list
	Properties map[string]string
	Subsets    []string // the names of the subsets it is in
}

// Module is a module of a model. Every line item has the module's
// dimensions.
type Module struct {
	ID         string // "" gets one
	Name       string
	Dimensions []string // lists (ID or name), "Time", "Versions"
	LineItems  []LineItem
	// Views are the module's saved views. The default view (ID = the
	// module's ID) is added when none has that ID: rows the first list,
	// columns Time (or Line Items), pages the rest.
	Views []View
}

// LineItem is a line item of a module.
type LineItem struct {
	ID      string // "" gets one
	Name    string
	Format  string // NUMBER (the default), TEXT, BOOLEAN, DATE
	Formula string // a calculated line item: writes fail with cellIsCalculated
}

// View is a view of a module: every dimension of the module, and "Line
// Items", on exactly one of its axes.
type View struct {
	ID                   string // "" gets one
	Name                 string
	Rows, Columns, Pages []string
}

// ---- state

type modelData struct {
	mu     sync.Mutex
	models map[string]*mdModel // by workspace + "/" + model
}

type mdItem struct {
	id, name, code string
	parent         *mdItem
	props          map[string]string
	subsets        map[string]bool
}

type mdSubset struct {
	id, name string
}

type mdList struct {
	id, name   string
	parent     *mdList
	numbered   bool
	props      []string
	subsets    []mdSubset
	items      []*mdItem
	byID       map[string]*mdItem
	byName     map[string]*mdItem // lower-case
	byCode     map[string]*mdItem // lower-case
	nextIndex  int
	hasCodes   bool
	isChildOf  bool // some list has it as parent
	deletedAny bool
}

// dim is a dimension: a list, Time, Versions or a module's line items.
type dim struct {
	id, name string
	list     *mdList
	items    func() []*mdItem
}

type mdLineItem struct {
	mdItem
	format, formula string
}

type mdView struct {
	id, name          string
	module            *mdModule
	rows, cols, pages []*dim
}

type mdModule struct {
	id, name  string
	dims      []*dim // the module's dimensions, in order
	lineItems []*mdLineItem
	liDim     *dim
	views     []*mdView
	cells     map[string]string // key: lineItemID \x00 itemID \x00 …, in dims order
}

type mdModel struct {
	ws, id     string
	d          ModelData // the knobs
	seq        int
	lists      []*mdList
	modules    []*mdModule
	time       []*mdItem
	timeDates  []time.Time // first day of each period
	versions   []*mdItem
	timeDim    *dim
	verDim     *dim
	step       string
	pollsLeft  int
	target     string
	current    string // current period date
	fiscalYear int    // index in the years
	switchover map[string]string
}

func (s *Server) md() *modelData {
	s.mdOnce.Do(func() { s.modelData = &modelData{models: map[string]*mdModel{}} })
	return s.modelData
}

// AddModelData gives a model (created with its workspace when absent) its
// content, replacing any it had. It returns an error when the description
// does not hold together (a dimension that names nothing, a view that leaves
// a dimension out…).
func (s *Server) AddModelData(workspaceID, modelID string, d ModelData) error {
	m, err := buildModel(workspaceID, modelID, d)
	if err != nil {
		return fmt.Errorf("anaplantest: model %s: %w", modelID, err)
	}
	in := s.integ()
	in.mu.Lock()
	in.modelLocked(workspaceID, modelID)
	in.mu.Unlock()
	md := s.md()
	md.mu.Lock()
	md.models[workspaceID+"/"+modelID] = m
	md.mu.Unlock()
	return nil
}

func (m *mdModel) newID(prefix int64) string {
	m.seq++
	return strconv.FormatInt(prefix+int64(m.seq), 10)
}

func emptyModel(ws, id string) *mdModel {
	m, _ := buildModel(ws, id, ModelData{})
	return m
}

func buildModel(ws, id string, d ModelData) (*mdModel, error) {
	if d.FirstYear == 0 {
		d.FirstYear = 2024
	}
	if d.Years <= 0 {
		d.Years = 1
	}
	if d.Years > 50 {
		return nil, errors.New("at most 50 years of Time")
	}
	if len(d.Versions) == 0 {
		d.Versions = []string{"Actual", "Forecast"}
	}
	if d.MaxCellsPerWrite <= 0 {
		d.MaxCellsPerWrite = DefaultCellWriteMax
	}
	m := &mdModel{ws: ws, id: id, d: d, step: "Open", switchover: map[string]string{}}
	if d.Closed {
		m.step = "Closed"
	}
	for y := range d.Years {
		year := d.FirstYear + y
		for mo := time.January; mo <= time.December; mo++ {
			t := time.Date(year, mo, 1, 0, 0, 0, 0, time.UTC)
			m.time = append(m.time, &mdItem{id: strconv.Itoa(5438300000 + y*100 + int(mo)), name: t.Format("Jan 06")})
			m.timeDates = append(m.timeDates, t)
		}
	}
	for i, v := range d.Versions {
		m.versions = append(m.versions, &mdItem{id: strconv.Itoa(107000000001 + i), name: v})
	}
	m.timeDim = &dim{id: TimeDimensionID, name: "Time", items: func() []*mdItem { return m.time }}
	m.verDim = &dim{id: VersionsDimensionID, name: "Versions", items: func() []*mdItem { return m.versions }}
	if d.CurrentPeriod != "" {
		if _, ok := m.periodOf(d.CurrentPeriod); !ok {
			return nil, fmt.Errorf("CurrentPeriod %q is not a date of the model's Time", d.CurrentPeriod)
		}
		m.current = d.CurrentPeriod
	}

	// Lists first (every one, so that parents may come later), then items.
	for _, l := range d.Lists {
		ml := &mdList{id: l.ID, name: l.Name, numbered: l.Numbered, props: slices.Clone(l.Properties),
			byID: map[string]*mdItem{}, byName: map[string]*mdItem{}, byCode: map[string]*mdItem{}}
		if ml.id == "" {
			ml.id = m.newID(101000000000)
		}
		if ml.name == "" {
			return nil, errors.New("a list has no name")
		}
		for _, sn := range l.Subsets {
			ml.subsets = append(ml.subsets, mdSubset{id: m.newID(109000000000), name: sn})
		}
		m.lists = append(m.lists, ml)
	}
	for i, l := range d.Lists {
		if l.Parent == "" {
			continue
		}
		p := m.list(l.Parent)
		if p == nil || p == m.lists[i] {
			return nil, fmt.Errorf("list %s: no parent list %q", l.Name, l.Parent)
		}
		m.lists[i].parent = p
		p.isChildOf = true
	}
	// Items of parents before children: add in an order where parents come
	// first.
	done := map[*mdList]bool{}
	var add func(i int) error
	add = func(i int) error {
		ml := m.lists[i]
		if done[ml] {
			return nil
		}
		done[ml] = true
		if ml.parent != nil {
			if err := add(slices.Index(m.lists, ml.parent)); err != nil {
				return err
			}
		}
		for j, it := range d.Lists[i].Items {
			subsets := map[string]bool{}
			for _, sn := range it.Subsets {
				subsets[sn] = true
			}
			if f := m.addItem(ml, it.ID, it.Name, it.Code, it.Parent, it.Properties, subsets); f != "" {
				return fmt.Errorf("list %s, item %d: %s", ml.name, j, f)
			}
		}
		return nil
	}
	for i := range m.lists {
		if err := add(i); err != nil {
			return nil, err
		}
	}

	for _, mod := range d.Modules {
		mm := &mdModule{id: mod.ID, name: mod.Name, cells: map[string]string{}}
		if mm.id == "" {
			mm.id = m.newID(102000000000)
		}
		for _, dn := range mod.Dimensions {
			dd := m.dimension(dn)
			if dd == nil {
				return nil, fmt.Errorf("module %s: no dimension %q", mod.Name, dn)
			}
			if slices.Contains(mm.dims, dd) {
				return nil, fmt.Errorf("module %s: dimension %q twice", mod.Name, dn)
			}
			mm.dims = append(mm.dims, dd)
		}
		for _, li := range mod.LineItems {
			ml := &mdLineItem{mdItem: mdItem{id: li.ID, name: li.Name}, format: strings.ToUpper(li.Format), formula: li.Formula}
			if ml.id == "" {
				ml.id = m.newID(206000000000)
			}
			if ml.format == "" {
				ml.format = "NUMBER"
			}
			mm.lineItems = append(mm.lineItems, ml)
		}
		mm.liDim = &dim{id: LineItemsDimensionID, name: "Line Items", items: func() []*mdItem {
			out := make([]*mdItem, len(mm.lineItems))
			for i, li := range mm.lineItems {
				out[i] = &li.mdItem
			}
			return out
		}}
		views := mod.Views
		if !slices.ContainsFunc(views, func(v View) bool { return v.ID == mm.id }) {
			views = append([]View{mm.defaultView(mod.Name)}, views...)
		}
		for _, v := range views {
			mv := &mdView{id: v.ID, name: v.Name, module: mm}
			if mv.id == "" {
				mv.id = m.newID(103000000000)
			}
			seen := map[*dim]bool{}
			axis := func(names []string) ([]*dim, error) {
				var out []*dim
				for _, n := range names {
					dd := mm.viewDim(m, n)
					if dd == nil {
						return nil, fmt.Errorf("view %s: %q is not a dimension of module %s", v.Name, n, mod.Name)
					}
					if seen[dd] {
						return nil, fmt.Errorf("view %s: dimension %q on two axes", v.Name, n)
					}
					seen[dd] = true
					out = append(out, dd)
				}
				return out, nil
			}
			var err error
			if mv.rows, err = axis(v.Rows); err != nil {
				return nil, err
			}
			if mv.cols, err = axis(v.Columns); err != nil {
				return nil, err
			}
			if mv.pages, err = axis(v.Pages); err != nil {
				return nil, err
			}
			if len(seen) != len(mm.dims)+1 {
				return nil, fmt.Errorf("view %s: every dimension of module %s and Line Items must be on an axis", v.Name, mod.Name)
			}
			mm.views = append(mm.views, mv)
		}
		m.modules = append(m.modules, mm)
	}
	return m, nil
}

// defaultView lays out the module's default view.
func (mm *mdModule) defaultView(name string) View {
	v := View{ID: mm.id, Name: name}
	var rest []string
	for _, d := range mm.dims {
		switch {
		case d.list != nil && len(v.Rows) == 0:
			v.Rows = append(v.Rows, d.id)
		case d.id == TimeDimensionID:
			v.Columns = append(v.Columns, d.id)
		default:
			rest = append(rest, d.id)
		}
	}
	switch {
	case len(v.Columns) == 0:
		v.Columns = append(v.Columns, LineItemsDimensionID)
	case len(v.Rows) == 0:
		v.Rows = append(v.Rows, LineItemsDimensionID)
	default:
		rest = append(rest, LineItemsDimensionID)
	}
	v.Pages = rest
	return v
}

func (m *mdModel) list(key string) *mdList {
	for _, l := range m.lists {
		if l.id == key {
			return l
		}
	}
	for _, l := range m.lists {
		if strings.EqualFold(l.name, key) {
			return l
		}
	}
	return nil
}

// dimension finds a module dimension: a list, Time or Versions.
func (m *mdModel) dimension(key string) *dim {
	switch {
	case key == TimeDimensionID || strings.EqualFold(key, "Time"):
		return m.timeDim
	case key == VersionsDimensionID || strings.EqualFold(key, "Versions"):
		return m.verDim
	}
	l := m.list(key)
	if l == nil {
		return nil
	}
	return l.dim()
}

func (l *mdList) dim() *dim {
	return &dim{id: l.id, name: l.name, list: l, items: func() []*mdItem { return l.items }}
}

// viewDim finds a dimension of the module, or its line items.
func (mm *mdModule) viewDim(m *mdModel, key string) *dim {
	if key == LineItemsDimensionID || strings.EqualFold(key, "Line Items") {
		return mm.liDim
	}
	dd := m.dimension(key)
	if dd == nil {
		return nil
	}
	for _, x := range mm.dims {
		if x.id == dd.id {
			return x
		}
	}
	return nil
}

// addItem adds an item to a list; it returns a failure text, or "" when
// added.
func (m *mdModel) addItem(l *mdList, id, name, code, parent string, props map[string]string, subsets map[string]bool) string {
	if l.numbered {
		if code == "" && name != "" {
			code, name = name, ""
		}
		l.nextIndex++
		name = "#" + strconv.Itoa(l.nextIndex)
	} else {
		if name == "" {
			return "INCOMPLETE_DATA: the item has no name"
		}
		l.nextIndex++
	}
	it := &mdItem{id: id, name: name, code: code}
	if f := m.setItem(l, it, parent, props, subsets); f != "" {
		return f
	}
	if it.id == "" {
		it.id = m.newID(200000000000)
	}
	l.items = append(l.items, it)
	l.byID[it.id] = it
	l.byName[strings.ToLower(it.name)] = it
	if code != "" {
		l.byCode[strings.ToLower(code)] = it
		l.hasCodes = true
	}
	return ""
}

// setItem sets an item's parent, properties and subsets after checking
// them; it returns a failure text, or "" when set.
func (m *mdModel) setItem(l *mdList, it *mdItem, parent string, props map[string]string, subsets map[string]bool) string {
	var p *mdItem
	if parent != "" {
		if l.parent == nil {
			return "INCORRECT_FORMAT: the list has no parent list, so the item cannot have a parent"
		}
		p = l.parent.find(parent)
		if p == nil {
			return "INCORRECT_FORMAT: no parent item " + strconv.Quote(parent)
		}
	}
	for k := range props {
		if !slices.Contains(l.props, k) {
			return "INCORRECT_FORMAT: the list has no property " + strconv.Quote(k)
		}
	}
	for k := range subsets {
		if !slices.ContainsFunc(l.subsets, func(s mdSubset) bool { return s.name == k }) {
			return "INCORRECT_FORMAT: the list has no subset " + strconv.Quote(k)
		}
	}
	if p != nil {
		it.parent = p
	}
	for k, v := range props {
		if it.props == nil {
			it.props = map[string]string{}
		}
		it.props[k] = v
	}
	for k, v := range subsets {
		if it.subsets == nil {
			it.subsets = map[string]bool{}
		}
		it.subsets[k] = v
	}
	return ""
}

// find looks an item up by ID, name or code.
func (l *mdList) find(key string) *mdItem {
	if it := l.byID[key]; it != nil {
		return it
	}
	k := strings.ToLower(key)
	if it := l.byName[k]; it != nil {
		return it
	}
	return l.byCode[k]
}

func (l *mdList) remove(it *mdItem) {
	delete(l.byID, it.id)
	delete(l.byName, strings.ToLower(it.name))
	if it.code != "" {
		delete(l.byCode, strings.ToLower(it.code))
	}
	it.id = "" // marks it for compact
	l.deletedAny = true
}

func (l *mdList) compact() {
	if !l.deletedAny {
		return
	}
	l.items = slices.DeleteFunc(l.items, func(it *mdItem) bool { return it.id == "" })
	l.deletedAny = false
}

// periodOf finds the Time period holding date (YYYY-MM-DD).
func (m *mdModel) periodOf(date string) (int, bool) {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return 0, false
	}
	for i, d := range m.timeDates {
		if !t.Before(d) && t.Before(d.AddDate(0, 1, 0)) {
			return i, true
		}
	}
	return 0, false
}

// ---- lookups for handlers (callers hold md.mu)

// modelDataFor finds the model of the request's path for its user (or
// answers 404 and returns nil), and locks the model data: the caller calls
// the returned unlock.
func (s *Server) modelDataFor(w http.ResponseWriter, r *http.Request) (*mdModel, func()) {
	in := s.integ()
	in.mu.Lock()
	ms := in.modelFor(w, r)
	var wsID string
	if ms != nil {
		wsID = ms.ws.ID
	}
	in.mu.Unlock()
	if ms == nil {
		return nil, func() {}
	}
	md := s.md()
	md.mu.Lock()
	key := wsID + "/" + ms.ID
	m := md.models[key]
	if m == nil {
		m = emptyModel(wsID, ms.ID)
		md.models[key] = m
	}
	return m, md.mu.Unlock
}

func (m *mdModel) module(key string) *mdModule {
	for _, mm := range m.modules {
		if mm.id == key || strings.EqualFold(mm.name, key) {
			return mm
		}
	}
	return nil
}

// view finds a view by ID in any module.
func (m *mdModel) view(id string) *mdView {
	for _, mm := range m.modules {
		for _, v := range mm.views {
			if v.id == id {
				return v
			}
		}
	}
	return nil
}

// anyDimension finds a dimension for the /dimensions routes: a list, a
// subset (as a dimension of its members), Time or Versions.
func (m *mdModel) anyDimension(id string) *dim {
	if d := m.dimension(id); d != nil {
		return d
	}
	for _, l := range m.lists {
		for _, s := range l.subsets {
			if s.id == id {
				return &dim{id: s.id, name: l.name + ": " + s.name, list: l, items: func() []*mdItem {
					var out []*mdItem
					for _, it := range l.items {
						if it.subsets[s.name] {
							out = append(out, it)
						}
					}
					return out
				}}
			}
		}
	}
	return nil
}

// lineItem finds a line item in any module.
func (m *mdModel) lineItem(id string) (*mdModule, *mdLineItem) {
	for _, mm := range m.modules {
		for _, li := range mm.lineItems {
			if li.id == id {
				return mm, li
			}
		}
	}
	return nil, nil
}

// find looks an item of a dimension up by ID, name or code.
func (d *dim) find(key string) *mdItem {
	if d.list != nil {
		return d.list.find(key)
	}
	for _, it := range d.items() {
		if it.id == key || strings.EqualFold(it.name, key) || (it.code != "" && strings.EqualFold(it.code, key)) {
			return it
		}
	}
	return nil
}

// ---- helpers for tests

// lockModelData locks the model data and returns the model's: nil when it
// has none (AddModelData gives a model its data, and so does the first
// model-data request about it). The caller calls unlock.
func (s *Server) lockModelData(workspaceID, modelID string) (*mdModel, func()) {
	md := s.md()
	md.mu.Lock()
	return md.models[workspaceID+"/"+modelID], md.mu.Unlock
}

// SetCell sets a cell of a module, bypassing the API (calculated line items
// included). items name one item of each of the module's dimensions, in the
// module's order, by ID, name or code. It reports whether the cell exists.
func (s *Server) SetCell(workspaceID, modelID, module, lineItem, value string, items ...string) bool {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m == nil {
		return false
	}
	mm, _, key, ok := m.cellKey(module, lineItem, items)
	if !ok {
		return false
	}
	mm.cells[key] = value
	return true
}

// Cell returns a cell's value as reads show it (see SetCell for the
// arguments), and whether the cell exists.
func (s *Server) Cell(workspaceID, modelID, module, lineItem string, items ...string) (string, bool) {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m == nil {
		return "", false
	}
	mm, li, key, ok := m.cellKey(module, lineItem, items)
	if !ok {
		return "", false
	}
	return mm.value(li, key), true
}

func (m *mdModel) cellKey(module, lineItem string, items []string) (*mdModule, *mdLineItem, string, bool) {
	mm := m.module(module)
	if mm == nil || len(items) != len(mm.dims) {
		return nil, nil, "", false
	}
	li := mm.findLineItem(lineItem)
	if li == nil {
		return nil, nil, "", false
	}
	var b strings.Builder
	b.WriteString(li.id)
	for i, d := range mm.dims {
		it := d.find(items[i])
		if it == nil {
			return nil, nil, "", false
		}
		b.WriteByte(0)
		b.WriteString(it.id)
	}
	return mm, li, b.String(), true
}

func (mm *mdModule) findLineItem(key string) *mdLineItem {
	for _, li := range mm.lineItems {
		if li.id == key {
			return li
		}
	}
	for _, li := range mm.lineItems {
		if strings.EqualFold(li.name, key) {
			return li
		}
	}
	return nil
}

// value is a cell's value, or the empty cell's for its format.
func (mm *mdModule) value(li *mdLineItem, key string) string {
	if v, ok := mm.cells[key]; ok {
		return v
	}
	return emptyValue(li.format)
}

func emptyValue(format string) string {
	switch format {
	case "NUMBER":
		return "0"
	case "BOOLEAN":
		return "false"
	}
	return ""
}

// ListItemNames returns the names of a list's items, in order, and whether
// the list exists.
func (s *Server) ListItemNames(workspaceID, modelID, list string) ([]string, bool) {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m == nil {
		return nil, false
	}
	l := m.list(list)
	if l == nil {
		return nil, false
	}
	out := make([]string, len(l.items))
	for i, it := range l.items {
		out[i] = it.name
	}
	return out, true
}

// ModelStep returns the model's current step ("Open", "Closed",
// "Opening"…) as status requests see it, without counting as a poll.
func (s *Server) ModelStep(workspaceID, modelID string) string {
	m, unlock := s.lockModelData(workspaceID, modelID)
	defer unlock()
	if m != nil {
		return m.step
	}
	return "Open"
}
