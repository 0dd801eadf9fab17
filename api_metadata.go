package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file is the model's metadata: modules, line items, views and their
// dimensions, lists and their metadata, the items of a dimension and their
// lookup by names or codes. It also holds what the model-data files share:
// IDs that arrive as JSON strings or numbers, the {api}/models/{m} base, and
// the hints of model-state errors. Wire reference: ANAPLAN-DATA.md §1.

// Well-known dimension IDs of every model.
const (
	TimeDimensionID     = "20000000003"
	VersionsDimensionID = "20000000020"
	UsersDimensionID    = "101999999999"
)

// Module is a module of a model.
type Module struct {
	ID   string
	Name string
}

// LineItem is a line item of a module, with the fields of
// GET …/lineItems?includeAll=true that are stable across Anaplan's answers.
type LineItem struct {
	ID, Name, ModuleID, ModuleName string
	Format                         string // NUMBER, BOOLEAN, TEXT, DATE, LIST, TIME PERIOD, NONE
	Formula                        string // "" for an input line item
	AppliesTo                      []Dimension
	Code                           string
	Notes                          string
	Version                        *Dimension // the versions it applies to, when not all
	TimeScale                      string     // "Month"…
	Summary                        string     // "Sum", "None"…
	IsSummary                      bool
	CellCount                      int64
	// FormatMetadata is formatMetadata as Anaplan sent it (dataType and
	// the type's own fields), for callers that need more than Format.
	FormatMetadata json.RawMessage
}

// View is a view of a module. A module's default view has the module's ID.
type View struct {
	ID       string
	Name     string
	ModuleID string
	Code     string
}

// Dimension is a dimension of a line item or view: a list, a subset, Time,
// Versions, Users or the line items of a module.
type Dimension struct {
	ID   string
	Name string
}

// ViewInfo says how a view lays its dimensions out. An axis without
// dimensions is empty.
type ViewInfo struct {
	ID, Name             string
	Rows, Columns, Pages []Dimension
}

// List is a list of a model.
type List struct {
	ID   string
	Name string
}

// ListInfo is a list's metadata (GET …/lists/{l}). Fields Anaplan left out
// are zero.
type ListInfo struct {
	ID, Name                 string
	Parent                   *Dimension // the parent list of a hierarchy
	Properties               []ListProperty
	ItemCount                int64
	NumberedList             bool
	ProductionData           bool
	WorkflowEnabled          bool
	HasSelectiveAccess       bool
	ManagedBy                string
	NextItemIndex            int64
	UseTopLevelAsPageDefault bool
	TopLevelItem             string      // the top-level item's name, if the list has one
	Subsets                  []Dimension // the list's subsets, when Anaplan names them
}

// ListProperty is a property of a list.
type ListProperty struct {
	Name   string
	Format string
	Notes  string
}

// DimensionItem is an item of a dimension. Code is empty when the dimension
// has no codes.
type DimensionItem struct {
	ID, Name, Code string
}

// flexID is an ID that Anaplan sends as a JSON string, and that some
// answers (and some clients' fakes) send as a number.
type flexID string

// UnmarshalJSON accepts "123", 123 and null.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("an ID must be a string or a number, not %.20s", b)
	}
	*f = flexID(n.String())
	return nil
}

// flexInt is a count that may arrive as a number or a numeric string.
type flexInt int64

// UnmarshalJSON accepts 12, "12" and null.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fl, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not a count: %.20s", s)
		}
		n = int64(fl)
	}
	*f = flexInt(n)
	return nil
}

type wireNamed struct {
	ID   flexID `json:"id"`
	Name string `json:"name"`
	Code string `json:"code"`
}

func (w wireNamed) dim() Dimension { return Dimension{ID: string(w.ID), Name: w.Name} }

func dims(ws []wireNamed) []Dimension {
	if len(ws) == 0 {
		return nil
	}
	out := make([]Dimension, len(ws))
	for i, w := range ws {
		out[i] = w.dim()
	}
	return out
}

// modelBase is {api}/models/{m}: the path most model-data calls use.
func (m *ModelHandle) modelBase() string {
	return m.c.endpoints.API + "/models/" + url.PathEscape(m.model)
}

// modelHint adds to a model-data error the hint of a model-state status
// that send did not already explain.
func modelHint(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Hint != "" {
		return err
	}
	switch ae.StatusCode {
	case http.StatusConflict:
		ae.Hint = "the model is busy: an import, export, cell write or other change is running; try again when it ends (ModelHandle.Status shows the current step)"
	case http.StatusLocked:
		ae.Hint = "the model is locked (by a workspace administrator or a running change): try again later"
	case http.StatusFailedDependency:
		ae.Hint = "the model is offline or in maintenance: bring it online (or wait for maintenance to end) and try again"
	case http.StatusUnprocessableEntity:
		ae.Hint = "the model is archived: unarchive it before using it"
	case http.StatusTooEarly:
		ae.Hint = "the model is deployed (production mode): this change is not allowed on it"
	}
	return err
}

// getModelJSON is getJSON for model-data calls: 404 says that it may mean no
// access, and model-state statuses say what they mean.
func (m *ModelHandle) getModelJSON(ctx context.Context, u string, v any) error {
	return modelHint(m.c.getJSON(ctx, u, v, true))
}

// sendModelJSON is sendJSON for model-data calls (see getModelJSON).
func (m *ModelHandle) sendModelJSON(ctx context.Context, method, u string, body, v any) error {
	return modelHint(m.c.sendJSON(ctx, method, u, body, v, true))
}

// convertSeq maps the items of a list iterator.
func convertSeq[W, T any](seq iter.Seq2[W, error], f func(W) T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for w, err := range seq {
			if err != nil {
				var zero T
				yield(zero, modelHint(err))
				return
			}
			if !yield(f(w), nil) {
				return
			}
		}
	}
}

func checkID(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return errorf("anaplan: the %s ID is empty", what)
	}
	return nil
}

// Modules lists the model's modules.
func (m *ModelHandle) Modules(ctx context.Context, opts ...ListOption) iter.Seq2[Module, error] {
	return convertSeq(list[wireNamed](ctx, m.c, m.modelBase()+"/modules", "modules", true, opts),
		func(w wireNamed) Module { return Module{ID: string(w.ID), Name: w.Name} })
}

type wireLineItem struct {
	ID             flexID          `json:"id"`
	Name           string          `json:"name"`
	ModuleID       flexID          `json:"moduleId"`
	ModuleName     string          `json:"moduleName"`
	Format         string          `json:"format"`
	Formula        string          `json:"formula"`
	AppliesTo      []wireNamed     `json:"appliesTo"`
	Code           string          `json:"code"`
	Notes          string          `json:"notes"`
	Version        *wireNamed      `json:"version"`
	TimeScale      string          `json:"timeScale"`
	Summary        string          `json:"summary"`
	IsSummary      bool            `json:"isSummary"`
	CellCount      flexInt         `json:"cellCount"`
	FormatMetadata json.RawMessage `json:"formatMetadata"`
}

func (w wireLineItem) lineItem() LineItem {
	li := LineItem{
		ID: string(w.ID), Name: w.Name, ModuleID: string(w.ModuleID), ModuleName: w.ModuleName,
		Format: w.Format, Formula: w.Formula, AppliesTo: dims(w.AppliesTo), Code: w.Code, Notes: w.Notes,
		TimeScale: w.TimeScale, Summary: w.Summary, IsSummary: w.IsSummary, CellCount: int64(w.CellCount),
		FormatMetadata: w.FormatMetadata,
	}
	if w.Version != nil {
		d := w.Version.dim()
		li.Version = &d
	}
	return li
}

// LineItems lists the line items of one module (in the order the module
// shows them), or of every module when moduleID is "". It asks for every
// field (includeAll=true). A module the user cannot read answers 404.
func (m *ModelHandle) LineItems(ctx context.Context, moduleID string) iter.Seq2[LineItem, error] {
	u := m.modelBase() + "/lineItems?includeAll=true"
	if moduleID != "" {
		u = m.modelBase() + "/modules/" + url.PathEscape(moduleID) + "/lineItems?includeAll=true"
	}
	return func(yield func(LineItem, error) bool) {
		var v struct {
			Items []wireLineItem `json:"items"`
		}
		if err := m.getModelJSON(ctx, u, &v); err != nil {
			yield(LineItem{}, err)
			return
		}
		for _, w := range v.Items {
			if !yield(w.lineItem(), nil) {
				return
			}
		}
	}
}

type wireView struct {
	ID       flexID `json:"id"`
	Name     string `json:"name"`
	Code     string `json:"code"`
	ModuleID flexID `json:"moduleId"`
}

func (w wireView) view() View {
	return View{ID: string(w.ID), Name: w.Name, ModuleID: string(w.ModuleID), Code: w.Code}
}

// Views lists the views of one module, or of the whole model when moduleID
// is "". Subsidiary views are left out; ViewsWithSubsidiaries includes them.
func (m *ModelHandle) Views(ctx context.Context, moduleID string) iter.Seq2[View, error] {
	return m.views(ctx, moduleID, false)
}

// ViewsWithSubsidiaries is Views including the subsidiary views of line
// items (includesubsidiaryviews=true).
func (m *ModelHandle) ViewsWithSubsidiaries(ctx context.Context, moduleID string) iter.Seq2[View, error] {
	return m.views(ctx, moduleID, true)
}

func (m *ModelHandle) views(ctx context.Context, moduleID string, subsidiary bool) iter.Seq2[View, error] {
	u := m.modelBase() + "/views"
	if moduleID != "" {
		u = m.modelBase() + "/modules/" + url.PathEscape(moduleID) + "/views"
	}
	if subsidiary {
		u += "?includesubsidiaryviews=true" // lowercase: Anaplan reads anything else as false
	}
	return convertSeq(list[wireView](ctx, m.c, u, "views", true, nil), wireView.view)
}

// ViewInfo returns how a view lays out its dimensions on rows, columns and
// pages. viewID may also be a line item's ID (its subsidiary view).
func (m *ModelHandle) ViewInfo(ctx context.Context, viewID string) (*ViewInfo, error) {
	if err := checkID("view", viewID); err != nil {
		return nil, err
	}
	var v struct {
		ViewName string      `json:"viewName"`
		ViewID   flexID      `json:"viewId"`
		Rows     []wireNamed `json:"rows"`
		Columns  []wireNamed `json:"columns"`
		Pages    []wireNamed `json:"pages"`
	}
	if err := m.getModelJSON(ctx, m.modelBase()+"/views/"+url.PathEscape(viewID), &v); err != nil {
		return nil, err
	}
	id := string(v.ViewID)
	if id == "" {
		id = viewID
	}
	return &ViewInfo{ID: id, Name: v.ViewName, Rows: dims(v.Rows), Columns: dims(v.Columns), Pages: dims(v.Pages)}, nil
}

// Lists lists the model's lists.
func (m *ModelHandle) Lists(ctx context.Context, opts ...ListOption) iter.Seq2[List, error] {
	return convertSeq(list[wireNamed](ctx, m.c, m.base+"/lists", "lists", true, opts),
		func(w wireNamed) List { return List{ID: string(w.ID), Name: w.Name} })
}

// ListInfo returns a list's metadata: its properties, parent list, item
// count and flags.
func (m *ModelHandle) ListInfo(ctx context.Context, listID string) (*ListInfo, error) {
	if err := checkID("list", listID); err != nil {
		return nil, err
	}
	var v struct {
		Metadata *struct {
			ID         flexID     `json:"id"`
			Name       string     `json:"name"`
			Parent     *wireNamed `json:"parent"`
			Properties []struct {
				Name   string `json:"name"`
				Format string `json:"format"`
				Notes  string `json:"notes"`
			} `json:"properties"`
			ItemCount          flexInt         `json:"itemCount"`
			NumberedList       bool            `json:"numberedList"`
			ProductionData     bool            `json:"productionData"`
			WorkflowEnabled    bool            `json:"workflowEnabled"`
			HasSelectiveAccess bool            `json:"hasSelectiveAccess"`
			ManagedBy          string          `json:"managedBy"`
			NextItemIndex      flexInt         `json:"nextItemIndex"`
			UseTopLevel        bool            `json:"useTopLevelAsPageDefault"`
			TopLevelItem       json.RawMessage `json:"topLevelItem"`
			Subsets            []wireNamed     `json:"subsets"`
		} `json:"metadata"`
	}
	if err := m.getModelJSON(ctx, m.base+"/lists/"+url.PathEscape(listID), &v); err != nil {
		return nil, err
	}
	md := v.Metadata
	if md == nil {
		return nil, errors.New("anaplan: the list's answer holds no metadata")
	}
	li := &ListInfo{
		ID: string(md.ID), Name: md.Name, ItemCount: int64(md.ItemCount), NumberedList: md.NumberedList,
		ProductionData: md.ProductionData, WorkflowEnabled: md.WorkflowEnabled, HasSelectiveAccess: md.HasSelectiveAccess,
		ManagedBy: md.ManagedBy, NextItemIndex: int64(md.NextItemIndex), UseTopLevelAsPageDefault: md.UseTopLevel,
		Subsets: dims(md.Subsets),
	}
	if md.Parent != nil {
		d := md.Parent.dim()
		li.Parent = &d
	}
	for _, p := range md.Properties {
		li.Properties = append(li.Properties, ListProperty{Name: p.Name, Format: p.Format, Notes: p.Notes})
	}
	// topLevelItem is a name in some answers and {id,name} in others.
	if len(md.TopLevelItem) > 0 {
		var s string
		var n wireNamed
		if json.Unmarshal(md.TopLevelItem, &s) == nil {
			li.TopLevelItem = s
		} else if json.Unmarshal(md.TopLevelItem, &n) == nil {
			li.TopLevelItem = n.Name
		}
	}
	return li, nil
}

// LineItemDimensions returns the dimensions of a line item (Time and
// Versions included when it has them).
func (m *ModelHandle) LineItemDimensions(ctx context.Context, lineItemID string) ([]Dimension, error) {
	if err := checkID("line item", lineItemID); err != nil {
		return nil, err
	}
	var v struct {
		Dimensions []wireNamed `json:"dimensions"`
	}
	if err := m.getModelJSON(ctx, m.modelBase()+"/lineItems/"+url.PathEscape(lineItemID)+"/dimensions", &v); err != nil {
		return nil, err
	}
	return dims(v.Dimensions), nil
}

func (m *ModelHandle) dimensionItems(ctx context.Context, u string) ([]DimensionItem, error) {
	var v struct {
		Items []wireNamed `json:"items"`
	}
	if err := m.getModelJSON(ctx, u, &v); err != nil {
		return nil, err
	}
	out := make([]DimensionItem, len(v.Items))
	for i, w := range v.Items {
		out[i] = DimensionItem{ID: string(w.ID), Name: w.Name, Code: w.Code}
	}
	return out, nil
}

// DimensionItems returns every item of a dimension: a list, a subset, a
// line-item subset or Users (Time answers 400: use the model calendar).
// Anaplan answers 400 for a dimension of more than 1,000,000 items: read
// such a list with ReadList.
func (m *ModelHandle) DimensionItems(ctx context.Context, dimensionID string) ([]DimensionItem, error) {
	if err := checkID("dimension", dimensionID); err != nil {
		return nil, err
	}
	return m.dimensionItems(ctx, m.modelBase()+"/dimensions/"+url.PathEscape(dimensionID)+"/items")
}

// LineItemDimensionItems returns the items of one dimension of a line item.
func (m *ModelHandle) LineItemDimensionItems(ctx context.Context, lineItemID, dimensionID string) ([]DimensionItem, error) {
	if err := errors.Join(checkID("line item", lineItemID), checkID("dimension", dimensionID)); err != nil {
		return nil, err
	}
	return m.dimensionItems(ctx, m.modelBase()+"/lineItems/"+url.PathEscape(lineItemID)+"/dimensions/"+url.PathEscape(dimensionID)+"/items")
}

// ViewDimensionItems returns the items of a dimension as a view shows them:
// hidden items, filters and selective access applied, in no particular
// order.
func (m *ModelHandle) ViewDimensionItems(ctx context.Context, viewID, dimensionID string) ([]DimensionItem, error) {
	if err := errors.Join(checkID("view", viewID), checkID("dimension", dimensionID)); err != nil {
		return nil, err
	}
	return m.dimensionItems(ctx, m.modelBase()+"/views/"+url.PathEscape(viewID)+"/dimensions/"+url.PathEscape(dimensionID)+"/items")
}

// LookupDimensionItems finds items of a dimension (a list, Time, Versions or
// Users) by names or by codes, case-insensitively; give one of the two.
// Names or codes that match nothing are left out of the answer, so compare
// its length with what was asked. Codes on a dimension without codes answer
// 400.
func (m *ModelHandle) LookupDimensionItems(ctx context.Context, dimensionID string, names, codes []string) ([]DimensionItem, error) {
	if err := checkID("dimension", dimensionID); err != nil {
		return nil, err
	}
	if (len(names) == 0) == (len(codes) == 0) {
		return nil, errors.New("anaplan: LookupDimensionItems takes names or codes (one of the two, not empty)")
	}
	body := struct {
		Names []string `json:"names,omitempty"`
		Codes []string `json:"codes,omitempty"`
	}{names, codes}
	var v struct {
		Items []wireNamed `json:"items"`
	}
	// A lookup changes nothing: it is safe to repeat after a network error.
	if err := m.sendModelJSON(withRetrySafe(ctx), http.MethodPost, m.modelBase()+"/dimensions/"+url.PathEscape(dimensionID)+"/items", body, &v); err != nil {
		return nil, err
	}
	out := make([]DimensionItem, len(v.Items))
	for i, w := range v.Items {
		out[i] = DimensionItem{ID: string(w.ID), Name: w.Name, Code: w.Code}
	}
	return out, nil
}
