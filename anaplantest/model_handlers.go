package anaplantest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file serves a model's data (model.go) on Anaplan's routes: metadata
// under {api}/models/{m} (and the workspace form where Anaplan has one),
// list items, cells, status, open/close, the calendar and versions.

// maxModelDataBody bounds a request body of the model-data routes.
const maxModelDataBody = 256 << 20

func (s *Server) registerModelData(mux *http.ServeMux) {
	const (
		M = "/2/0/models/{modelID}"
		W = "/2/0/workspaces/{workspaceID}/models/{modelID}"
	)
	routes := map[string]http.HandlerFunc{
		"GET " + M + "/lineItems":                                             s.mdLineItems,
		"GET " + M + "/modules/{moduleID}/lineItems":                          s.mdLineItems,
		"GET " + M + "/modules/{moduleID}/views":                              s.mdViews,
		"GET " + M + "/views/{viewID}":                                        s.mdViewInfo,
		"GET " + M + "/views/{viewID}/data":                                   s.mdViewData,
		"GET " + M + "/views/{viewID}/dimensions/{dimensionID}/items":         s.mdViewDimItems,
		"GET " + M + "/lineItems/{lineItemID}/dimensions":                     s.mdLineItemDims,
		"GET " + M + "/lineItems/{lineItemID}/dimensions/{dimensionID}/items": s.mdLineItemDimItems,
		"POST " + M + "/modules/{moduleID}/data":                              s.mdWriteCells,
		"GET " + M + "/status":                                                s.mdStatusGET,
		"GET " + W + "/status":                                                s.mdStatusGET,
		"POST " + W + "/status":                                               s.mdStatusPOST,
		"PUT " + M + "/versions/{versionID}/switchover":                       s.mdSwitchover,
		"PUT " + W + "/versions/{versionID}/switchover":                       s.mdSwitchover,
	}
	for _, base := range []string{M, W} {
		routes["GET "+base+"/modules"] = s.mdModules
		routes["GET "+base+"/views"] = s.mdViews
		routes["GET "+base+"/lists"] = s.mdLists
		routes["GET "+base+"/lists/{listID}"] = s.mdListInfo
		routes["GET "+base+"/lists/{listID}/items"] = s.mdListItems
		routes["POST "+base+"/lists/{listID}/items"] = s.mdListItemsPOST
		routes["PUT "+base+"/lists/{listID}/items"] = s.mdListItemsPUT
		routes["POST "+base+"/lists/{listID}/resetIndex"] = s.mdResetIndex
		routes["GET "+base+"/dimensions/{dimensionID}/items"] = s.mdDimItems
		routes["POST "+base+"/dimensions/{dimensionID}/items"] = s.mdDimLookup
		routes["POST "+base+"/open"] = s.mdLifecycle("open")
		routes["POST "+base+"/close"] = s.mdLifecycle("close")
		routes["GET "+base+"/currentPeriod"] = s.mdCurrentPeriod
		routes["PUT "+base+"/currentPeriod"] = s.mdSetCurrentPeriod
		routes["GET "+base+"/modelCalendar"] = s.mdCalendar
		routes["PUT "+base+"/modelCalendar/fiscalYear"] = s.mdSetFiscalYear
		routes["GET "+base+"/modelCalendar/fiscalYear"] = func(w http.ResponseWriter, r *http.Request) {
			writeAPIError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
		routes["GET "+base+"/versions"] = s.mdVersions
	}
	for pattern, h := range routes {
		mux.HandleFunc(pattern, s.authenticated(h))
	}
}

// jid renders an ID as the model sends it: a string, or a number with
// NumericIDs.
func (m *mdModel) jid(id string) any {
	if m.d.NumericIDs && id != "" && strings.Trim(id, "0123456789") == "" {
		return json.Number(id)
	}
	return id
}

func (m *mdModel) named(id, name string) map[string]any {
	return map[string]any{"id": m.jid(id), "name": name}
}

func (m *mdModel) dimJSON(ds []*dim) []map[string]any {
	out := make([]map[string]any, len(ds))
	for i, d := range ds {
		out[i] = m.named(d.id, d.name)
	}
	return out
}

func (m *mdModel) itemsJSON(items []*mdItem, codes bool) []map[string]any {
	out := make([]map[string]any, len(items))
	for i, it := range items {
		j := m.named(it.id, it.name)
		if codes && it.code != "" {
			j["code"] = it.code
		}
		out[i] = j
	}
	return out
}

// withPayload adds key to an answer unless the value is empty: Anaplan
// leaves empty collections out.
func withPayload(body map[string]any, key string, items []map[string]any) map[string]any {
	if len(items) > 0 {
		body[key] = items
	}
	return body
}

// ---- what the handlers share

// withModelData finds the model of the request's path for its user (or
// answers 404) and runs f with the model data locked. Handlers that check
// their body or query first do so before calling it, so that a malformed
// request is answered without a lookup.
func (s *Server) withModelData(w http.ResponseWriter, r *http.Request, f func(m *mdModel)) {
	m, unlock := s.modelDataFor(w, r)
	defer unlock()
	if m != nil {
		f(m)
	}
}

// found reports whether a lookup found x; when it did not, it answers 404
// with message, in the Integration API's error shape.
func found[T any](w http.ResponseWriter, r *http.Request, x *T, message string) bool {
	if x == nil {
		writeAPIError(w, r, http.StatusNotFound, message)
		return false
	}
	return true
}

func (s *Server) mdModules(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		items := make([]map[string]any, len(m.modules))
		for i, mm := range m.modules {
			items[i] = m.named(mm.id, mm.name)
		}
		s.integ().pageLocked(w, r, "modules", items)
	})
}

// pageLocked is page for callers that do not hold in.mu.
func (in *integration) pageLocked(w http.ResponseWriter, r *http.Request, key string, items []map[string]any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.page(w, r, key, items)
}

func (m *mdModel) lineItemJSON(mm *mdModule, li *mdLineItem) map[string]any {
	var applies []map[string]any
	for _, d := range mm.dims {
		if d.list != nil {
			applies = append(applies, m.named(d.id, d.name))
		}
	}
	j := map[string]any{
		"moduleId": m.jid(mm.id), "moduleName": mm.name, "id": m.jid(li.id), "name": li.name,
		"format": li.format, "formula": li.formula, "isSummary": false, "cellCount": mm.cellCount(),
		"formatMetadata": map[string]any{"dataType": li.format}, "summary": "Sum", "timeScale": "Month",
	}
	if li.format != "NUMBER" {
		j["summary"] = "None"
	}
	if len(applies) > 0 {
		j["appliesTo"] = applies
	}
	return j
}

func (mm *mdModule) cellCount() int {
	n := 1
	for _, d := range mm.dims {
		n *= len(d.items())
	}
	return n
}

// modulesFor is the module of the path's {moduleID}, or every module of the
// model when the path names none. It answers 404 and reports false when
// the model has no such module.
func (m *mdModel) modulesFor(w http.ResponseWriter, r *http.Request) ([]*mdModule, bool) {
	id := r.PathValue("moduleID")
	if id == "" {
		return m.modules, true
	}
	mm := m.module(id)
	if !found(w, r, mm, "Module not found") {
		return nil, false
	}
	return []*mdModule{mm}, true
}

func (s *Server) mdLineItems(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		mods, ok := m.modulesFor(w, r)
		if !ok {
			return
		}
		var items []map[string]any
		for _, mm := range mods {
			for _, li := range mm.lineItems {
				items = append(items, m.lineItemJSON(mm, li))
			}
		}
		writeAPI(w, http.StatusOK, withPayload(s.objectBody("lineItem"), "items", items))
	})
}

func (s *Server) mdViews(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		mods, ok := m.modulesFor(w, r)
		if !ok {
			return
		}
		var items []map[string]any
		for _, mm := range mods {
			for _, v := range mm.views {
				items = append(items, map[string]any{"id": m.jid(v.id), "name": v.name, "moduleId": m.jid(mm.id), "code": ""})
			}
		}
		s.integ().pageLocked(w, r, "views", items)
	})
}

func (s *Server) mdViewInfo(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		v := m.view(r.PathValue("viewID"))
		if !found(w, r, v, "View not found") {
			return
		}
		body := map[string]any{"viewName": v.name, "viewId": m.jid(v.id)}
		// Like Anaplan, an empty axis is left out.
		withPayload(body, "rows", m.dimJSON(v.rows))
		withPayload(body, "columns", m.dimJSON(v.cols))
		withPayload(body, "pages", m.dimJSON(v.pages))
		writeJSON(w, http.StatusOK, body)
	})
}

func (s *Server) mdViewDimItems(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		v := m.view(r.PathValue("viewID"))
		if !found(w, r, v, "View not found") {
			return
		}
		m.answerDimItems(w, r, v.allDims(), "Dimension not found in the view")
	})
}

// answerDimItems answers the items of the dimension of the path's
// {dimensionID} among ds, or 404 with notFound when it is not one of them.
func (m *mdModel) answerDimItems(w http.ResponseWriter, r *http.Request, ds []*dim, notFound string) {
	for _, d := range ds {
		if d.id == r.PathValue("dimensionID") {
			m.answerItems(w, r, d.items(), false)
			return
		}
	}
	writeAPIError(w, r, http.StatusNotFound, notFound)
}

func (m *mdModel) answerItems(w http.ResponseWriter, r *http.Request, items []*mdItem, codes bool) {
	if len(items) > MaxItemsPerRead {
		writeAPIError(w, r, http.StatusBadRequest, "The dimension has more than 1000000 items")
		return
	}
	writeAPI(w, http.StatusOK, withPayload(map[string]any{}, "items", m.itemsJSON(items, codes)))
}

func (s *Server) mdLineItemDims(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		mm, li := m.lineItem(r.PathValue("lineItemID"))
		if !found(w, r, li, "Line item not found") {
			return
		}
		writeAPI(w, http.StatusOK, withPayload(map[string]any{}, "dimensions", m.dimJSON(mm.dims)))
	})
}

func (s *Server) mdLineItemDimItems(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		mm, li := m.lineItem(r.PathValue("lineItemID"))
		if !found(w, r, li, "Line item not found") {
			return
		}
		m.answerDimItems(w, r, mm.dims, "Dimension not found for the line item")
	})
}

func (s *Server) mdDimItems(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		id := r.PathValue("dimensionID")
		if id == TimeDimensionID {
			writeAPIError(w, r, http.StatusBadRequest, "Time is not supported: use the model calendar")
			return
		}
		d := m.anyDimension(id)
		if !found(w, r, d, "Dimension not found") {
			return
		}
		m.answerItems(w, r, d.items(), true)
	})
}

func (s *Server) mdDimLookup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Names []string `json:"names"`
		Codes []string `json:"codes"`
	}
	if !readBody(w, r, &req) {
		return
	}
	s.withModelData(w, r, func(m *mdModel) {
		d := m.anyDimension(r.PathValue("dimensionID"))
		if !found(w, r, d, "Dimension not found") {
			return
		}
		if (len(req.Names) == 0) == (len(req.Codes) == 0) {
			writeAPIError(w, r, http.StatusBadRequest, "Send names or codes, one of the two")
			return
		}
		if len(req.Codes) > 0 && (d.list == nil || !d.list.hasCodes) {
			writeAPIError(w, r, http.StatusBadRequest, "The dimension has no codes")
			return
		}
		var matches []*mdItem
		for _, it := range d.items() {
			for _, n := range req.Names {
				if strings.EqualFold(it.name, n) {
					matches = append(matches, it)
					break
				}
			}
			for _, c := range req.Codes {
				if it.code != "" && strings.EqualFold(it.code, c) {
					matches = append(matches, it)
					break
				}
			}
		}
		m.answerItems(w, r, matches, true)
	})
}

// readBody decodes a JSON request body, or answers 400.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxModelDataBody+1))
	if err != nil {
		writeAPIError(w, r, http.StatusBadRequest, "cannot read the body")
		return false
	}
	if len(b) > maxModelDataBody {
		writeAPIError(w, r, http.StatusRequestEntityTooLarge, "the body is too large")
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeAPIError(w, r, http.StatusBadRequest, "the body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// ---- lists

func (s *Server) mdLists(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		items := make([]map[string]any, len(m.lists))
		for i, l := range m.lists {
			items[i] = m.named(l.id, l.name)
		}
		s.integ().pageLocked(w, r, "lists", items)
	})
}

// withList is withModelData for the list of the path's {listID}: it
// answers 404 when the model has no such list.
func (s *Server) withList(w http.ResponseWriter, r *http.Request, f func(m *mdModel, l *mdList)) {
	s.withModelData(w, r, func(m *mdModel) {
		if l := m.list(r.PathValue("listID")); found(w, r, l, "List not found") {
			f(m, l)
		}
	})
}

func (s *Server) mdListInfo(w http.ResponseWriter, r *http.Request) {
	s.withList(w, r, func(m *mdModel, l *mdList) {
		props := make([]map[string]any, len(l.props))
		for i, p := range l.props {
			props[i] = map[string]any{"name": p, "format": "TEXT", "notes": ""}
		}
		md := map[string]any{
			"id": m.jid(l.id), "name": l.name, "hasSelectiveAccess": false, "managedBy": "",
			"numberedList": l.numbered, "useTopLevelAsPageDefault": false, "itemCount": len(l.items),
			"workflowEnabled": false, "productionData": false, "nextItemIndex": l.nextIndex,
		}
		withPayload(md, "properties", props)
		if l.parent != nil {
			md["parent"] = m.named(l.parent.id, l.parent.name)
		}
		var subs []map[string]any
		for _, sb := range l.subsets {
			subs = append(subs, m.named(sb.id, sb.name))
		}
		withPayload(md, "subsets", subs)
		s.writeObject(w, "listMetadata", "metadata", md)
	})
}

func (m *mdModel) listItemJSON(l *mdList, it *mdItem, all bool) map[string]any {
	j := map[string]any{"id": m.jid(it.id), "name": it.name, "listId": m.jid(l.id), "listName": l.name}
	if it.code != "" {
		j["code"] = it.code
	}
	if it.parent != nil {
		j["parent"] = it.parent.name
		j["parentId"] = m.jid(it.parent.id)
	}
	if all {
		if len(l.subsets) > 0 {
			sub := map[string]bool{}
			for _, sb := range l.subsets {
				sub[sb.name] = it.subsets[sb.name]
			}
			j["subsets"] = sub
		}
		if len(l.props) > 0 {
			props := map[string]string{}
			for _, p := range l.props {
				props[p] = it.props[p]
			}
			j["properties"] = props
		}
	}
	return j
}

func (s *Server) mdListItems(w http.ResponseWriter, r *http.Request) {
	s.withList(w, r, func(m *mdModel, l *mdList) {
		if len(l.items) > MaxItemsPerRead {
			writeAPIError(w, r, http.StatusBadRequest, "The list has more than 1000000 items: use a large read request")
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/csv") {
			w.Header().Set("Content-Type", "text/csv")
			cw := csv.NewWriter(w)
			m.listCSV(l, func(rec []string) bool { return cw.Write(rec) == nil })
			cw.Flush()
			return
		}
		all := r.URL.Query().Get("includeAll") == "true"
		items := make([]map[string]any, len(l.items))
		for i, it := range l.items {
			items[i] = m.listItemJSON(l, it, all)
		}
		writeAPI(w, http.StatusOK, withPayload(s.objectBody("listItem"), "listItems", items))
	})
}

// wireItem is an item in an add, update or delete body. IDs may be strings
// or numbers.
type wireItem struct {
	ID         json.RawMessage   `json:"id"`
	Name       *string           `json:"name"`
	Code       *string           `json:"code"`
	Parent     *string           `json:"parent"`
	Properties map[string]string `json:"properties"`
	Subsets    map[string]bool   `json:"subsets"`
}

func (wi *wireItem) id() string { return rawID(wi.ID) }

// rawID is an ID sent as a JSON string or number; "" when absent or null.
func rawID(b json.RawMessage) string {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "null" {
		return ""
	}
	return s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func failure(i int, typ, details string) map[string]any {
	return map[string]any{"requestIndex": i, "failureType": typ, "failureMessageDetails": details}
}

// failureOf is the failure of a failure text "type: details" (see addItem).
func failureOf(i int, text string) map[string]any {
	typ, details, _ := strings.Cut(text, ": ")
	return failure(i, typ, details)
}

func (s *Server) itemsBody(w http.ResponseWriter, r *http.Request) ([]wireItem, bool) {
	var req struct {
		Items []wireItem `json:"items"`
	}
	if !readBody(w, r, &req) {
		return nil, false
	}
	if len(req.Items) > MaxListItemsPerCall {
		writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("Too many items: at most %d a call", MaxListItemsPerCall))
		return nil, false
	}
	return req.Items, true
}

func (s *Server) mdListItemsPOST(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Query().Get("action")
	if action != "add" && action != "delete" {
		writeAPIError(w, r, http.StatusBadRequest, "action must be add or delete")
		return
	}
	items, ok := s.itemsBody(w, r)
	if !ok {
		return
	}
	s.withList(w, r, func(m *mdModel, l *mdList) {
		var failures []map[string]any
		body := s.objectBody("listItemsResult")
		if action == "add" {
			added, ignored := 0, 0
			for i, wi := range items {
				name, code := deref(wi.Name), deref(wi.Code)
				if (name != "" && l.byName[strings.ToLower(name)] != nil) || (code != "" && l.byCode[strings.ToLower(code)] != nil) {
					ignored++ // already there
					continue
				}
				if f := m.addItem(l, "", name, code, deref(wi.Parent), wi.Properties, wi.Subsets); f != "" {
					failures = append(failures, failureOf(i, f))
					continue
				}
				added++
			}
			body["added"], body["ignored"], body["total"] = added, ignored, len(items)
		} else {
			deleted := 0
			for i, wi := range items {
				id, code := wi.id(), deref(wi.Code)
				var it *mdItem
				switch {
				case id != "" && code != "":
					failures = append(failures, failure(i, "Ambiguous criteria", "give an id or a code, not both"))
					continue
				case id != "":
					it = l.byID[id]
				case code != "":
					it = l.byCode[strings.ToLower(code)]
				}
				if it == nil {
					failures = append(failures, failure(i, "Not found", "no such item"))
					continue
				}
				l.remove(it)
				deleted++
			}
			l.compact()
			if m.d.NestedDeleteResult {
				res := map[string]any{"numberOfItemsDeleted": deleted}
				withPayload(res, "failures", failures)
				body["result"] = res
				failures = nil
			} else {
				body["deleted"] = deleted
			}
		}
		withPayload(body, "failures", failures)
		writeAPI(w, http.StatusOK, body)
	})
}

func (s *Server) mdListItemsPUT(w http.ResponseWriter, r *http.Request) {
	items, ok := s.itemsBody(w, r)
	if !ok {
		return
	}
	s.withList(w, r, func(m *mdModel, l *mdList) {
		var failures []map[string]any
		updated := 0
		for i, wi := range items {
			id, code, name := wi.id(), deref(wi.Code), deref(wi.Name)
			var it *mdItem
			byName := false
			switch {
			case id != "" && code != "":
				failures = append(failures, failure(i, "Ambiguous criteria", "give an id, a code or a name, not two"))
				continue
			case id != "":
				it = l.byID[id]
			case code != "":
				it = l.byCode[strings.ToLower(code)]
			case name != "":
				it, byName = l.byName[strings.ToLower(name)], true
			default:
				failures = append(failures, failure(i, "INCOMPLETE_DATA", "the item has no id, code or name"))
				continue
			}
			if it == nil {
				failures = append(failures, failure(i, "Not found", "no such item"))
				continue
			}
			if f := m.setItem(l, it, deref(wi.Parent), wi.Properties, wi.Subsets); f != "" {
				failures = append(failures, failureOf(i, f))
				continue
			}
			if !byName && name != "" && name != it.name {
				if other := l.byName[strings.ToLower(name)]; other != nil && other != it {
					failures = append(failures, failure(i, "INCORRECT_FORMAT", "another item has that name"))
					continue
				}
				delete(l.byName, strings.ToLower(it.name))
				it.name = name
				l.byName[strings.ToLower(name)] = it
			}
			updated++
		}
		body := map[string]any{"total": len(items), "updated": updated, "ignored": 0}
		withPayload(body, "failures", failures)
		writeAPI(w, http.StatusOK, body)
	})
}

func (s *Server) mdResetIndex(w http.ResponseWriter, r *http.Request) {
	s.withList(w, r, func(_ *mdModel, l *mdList) {
		if len(l.items) > 0 {
			writeAPIError(w, r, http.StatusBadRequest, "We can't reset the list item index of a list that contains data. Remove all list items and try again.")
			return
		}
		l.nextIndex = 0
		w.WriteHeader(http.StatusOK)
	})
}

// ---- cells

func (s *Server) mdViewData(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		v := m.view(r.PathValue("viewID"))
		if !found(w, r, v, "View not found") {
			return
		}
		q := r.URL.Query()
		sel, msg := v.pageSelection(q["pages"])
		if msg != "" {
			writeAPIError(w, r, http.StatusBadRequest, msg)
			return
		}
		maxRows, ok := intParam(q, "maxRows", 0, 0)
		if !ok {
			writeAPIError(w, r, http.StatusBadRequest, "maxRows must be a non-negative integer")
			return
		}
		if n := v.pageCells(); n > MaxCellsPerRead {
			writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("The view has %d cells, more than the %d cells a read can return", n, MaxCellsPerRead))
			return
		}
		accept := r.Header.Get("Accept")
		if q.Get("format") == "v1" && !strings.Contains(accept, "text/csv") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			m.writeGridJSON(w, v, sel, maxRows)
			return
		}
		exportType := q.Get("exportType")
		if exportType == "" {
			exportType = "GRID_CURRENT_PAGE"
		}
		if exportType != "GRID_CURRENT_PAGE" && q.Get("moduleId") == "" {
			writeAPIError(w, r, http.StatusBadRequest, "moduleId is required with exportType "+exportType)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		cw := csv.NewWriter(w)
		rows := 0
		if err := m.renderView(v, exportType, sel, func(rec []string, data bool) bool {
			if data {
				if rows++; maxRows > 0 && rows > maxRows {
					return false
				}
			}
			return cw.Write(rec) == nil
		}); err != nil {
			writeAPIError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		cw.Flush()
	})
}

func (s *Server) mdWriteCells(w http.ResponseWriter, r *http.Request) {
	var cells []struct {
		LineItemID   json.RawMessage `json:"lineItemId"`
		LineItemName string          `json:"lineItemName"`
		Dimensions   []struct {
			DimensionID   json.RawMessage `json:"dimensionId"`
			DimensionName string          `json:"dimensionName"`
			ItemID        json.RawMessage `json:"itemId"`
			ItemName      string          `json:"itemName"`
			ItemCode      string          `json:"itemCode"`
		} `json:"dimensions"`
		Value json.RawMessage `json:"value"`
	}
	if !readBody(w, r, &cells) {
		return
	}
	s.withModelData(w, r, func(m *mdModel) {
		mm := m.module(r.PathValue("moduleID"))
		if !found(w, r, mm, "Module not found") {
			return
		}
		if len(cells) > m.d.MaxCellsPerWrite {
			writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("Too many cells: at most %d a call", m.d.MaxCellsPerWrite))
			return
		}
		var failures []map[string]any
		changed := 0
		ids := make([]string, len(mm.dims))
	cells:
		for i, c := range cells {
			var li *mdLineItem
			switch id := rawID(c.LineItemID); {
			case id != "":
				for _, x := range mm.lineItems {
					if x.id == id {
						li = x
					}
				}
			case c.LineItemName != "":
				li = mm.findLineItem(c.LineItemName)
			default:
				failures = append(failures, failure(i, "missingRequiredField", "lineItemId or lineItemName is required"))
				continue
			}
			if li == nil {
				failures = append(failures, failure(i, "invalidLineItem", "no such line item in the module"))
				continue
			}
			clear(ids)
			for _, cd := range c.Dimensions {
				k := -1
				did := rawID(cd.DimensionID)
				for j, d := range mm.dims {
					if (did != "" && d.id == did) || (did == "" && cd.DimensionName != "" && strings.EqualFold(d.name, cd.DimensionName)) {
						k = j
					}
				}
				if k < 0 {
					failures = append(failures, failure(i, "invalidDimension", "no such dimension for the line item"))
					continue cells
				}
				var it *mdItem
				switch iid := rawID(cd.ItemID); {
				case iid != "":
					if x := mm.dims[k].find(iid); x != nil && x.id == iid {
						it = x
					}
				case cd.ItemName != "":
					if x := mm.dims[k].find(cd.ItemName); x != nil && strings.EqualFold(x.name, cd.ItemName) {
						it = x
					}
				case cd.ItemCode != "":
					if x := mm.dims[k].find(cd.ItemCode); x != nil && strings.EqualFold(x.code, cd.ItemCode) {
						it = x
					}
				}
				if it == nil {
					failures = append(failures, failure(i, "invalidItem", "no such item in dimension "+mm.dims[k].name))
					continue cells
				}
				ids[k] = it.id
			}
			for k, id := range ids {
				if id == "" {
					failures = append(failures, failure(i, "missingRequiredField", "no item of dimension "+mm.dims[k].name))
					continue cells
				}
			}
			if li.formula != "" {
				failures = append(failures, failure(i, "cellIsCalculated", "the cell is a calculated/aggregate cell and is not writeable"))
				continue
			}
			val, typ := cellValue(li.format, c.Value)
			if typ != "" {
				failures = append(failures, failure(i, typ, "the value does not fit the line item's format "+li.format))
				continue
			}
			key := li.id + "\x00" + strings.Join(ids, "\x00")
			if mm.value(li, key) != val {
				changed++
			}
			mm.cells[key] = val
		}
		body := s.objectBody("writeCellDataResponse")
		body["numberOfCellsChanged"] = changed
		withPayload(body, "failures", failures)
		writeAPI(w, http.StatusOK, body)
	})
}

// cellValue checks a written value against a line item's format and returns
// it as reads show it, or a failureType.
func cellValue(format string, raw json.RawMessage) (string, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", "missingRequiredField"
	}
	var s string
	isString := raw[0] == '"'
	if isString {
		if json.Unmarshal(raw, &s) != nil {
			return "", "unsupportedValueType"
		}
	} else {
		s = string(raw)
	}
	switch format {
	case "NUMBER":
		if raw[0] == 't' || raw[0] == 'f' {
			return "", "valueDataTypeMismatch"
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return "", "valueDataTypeMismatch"
		}
		return strconv.FormatFloat(f, 'f', -1, 64), ""
	case "BOOLEAN":
		switch strings.ToLower(s) {
		case "true", "false":
			return strings.ToLower(s), ""
		}
		return "", "valueDataTypeMismatch"
	case "DATE":
		if s == "" {
			return "", ""
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return "", "invalidDateValue"
		}
		return s, ""
	}
	if !isString && (raw[0] == '{' || raw[0] == '[') {
		return "", "unsupportedValueType"
	}
	return s, ""
}

// ---- status, open, close

func (m *mdModel) statusJSON(s *Server) map[string]any {
	if m.pollsLeft > 0 {
		m.pollsLeft--
	} else if m.target != "" {
		m.step, m.target = m.target, ""
	}
	progress := -1.0
	if m.target != "" {
		progress = 0.5
	}
	s.mu.Lock()
	created := s.now.UnixMilli()
	s.mu.Unlock()
	return map[string]any{
		"peakMemoryUsageEstimate": nil, "peakMemoryUsageTime": nil, "progress": progress,
		"currentStep": m.step, "tooltip": nil, "taskId": nil, "creationTime": created, "exportTaskType": nil,
	}
}

func (s *Server) mdStatusGET(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		if m.d.StatusPOSTOnly && r.PathValue("workspaceID") == "" {
			writeAPIError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"requestStatus": m.statusJSON(s)})
	})
}

func (s *Server) mdStatusPOST(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		s.writeObject(w, "modelStatus", "requestStatus", m.statusJSON(s))
	})
}

func (s *Server) mdLifecycle(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.withModelData(w, r, func(m *mdModel) {
			final, during := "Open", "Opening"
			if verb == "close" {
				final, during = "Closed", "Closing"
			}
			if m.step != final && m.target != final {
				m.target, m.pollsLeft = final, m.d.LifecyclePolls
				if m.pollsLeft > 0 {
					m.step = during
				} else {
					m.step, m.target = final, ""
				}
			}
			switch {
			case verb == "close":
				w.WriteHeader(http.StatusNoContent)
			case r.PathValue("workspaceID") != "" && m.target == "":
				w.WriteHeader(http.StatusOK)
			default:
				w.WriteHeader(http.StatusAccepted)
			}
		})
	}
}

// ---- calendar and versions

const calendarType = "Calendar Months/Quarters/Years"

func (m *mdModel) periodJSON(date string) map[string]any {
	if date == "" {
		return map[string]any{"periodText": "", "lastDay": "", "calendarType": calendarType}
	}
	i, _ := m.periodOf(date)
	return map[string]any{
		"periodText": m.time[i].name, "lastDay": m.timeDates[i].AddDate(0, 1, -1).Format(time.DateOnly), "calendarType": calendarType,
	}
}

func (s *Server) mdCurrentPeriod(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		writeAPI(w, http.StatusOK, map[string]any{"currentPeriod": m.periodJSON(m.current)})
	})
}

func (s *Server) mdSetCurrentPeriod(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Date *string `json:"date"`
	}
	q := r.URL.Query().Get("date")
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			writeAPIError(w, r, http.StatusBadRequest, "the body is not valid JSON")
			return
		}
	}
	if req.Date != nil && q != "" {
		writeAPIError(w, r, http.StatusBadRequest, "use query parameter or body to set date, not both")
		return
	}
	date := q
	if req.Date != nil {
		date = *req.Date
	}
	s.withModelData(w, r, func(m *mdModel) {
		if date != "" {
			if _, err := time.Parse(time.DateOnly, date); err != nil {
				writeAPIError(w, r, http.StatusBadRequest, "Invalid ISO date format, expected yyyy-MM-dd")
				return
			}
			if _, ok := m.periodOf(date); !ok {
				writeAPIError(w, r, http.StatusBadRequest, "The date "+date+" is out of timescale range")
				return
			}
		}
		m.current = date
		writeAPI(w, http.StatusOK, map[string]any{"currentPeriod": m.periodJSON(date)})
	})
}

func (m *mdModel) fiscalYearJSON() map[string]any {
	y := m.d.FirstYear + m.fiscalYear
	return map[string]any{
		"year":      fmt.Sprintf("FY%02d", y%100),
		"startDate": fmt.Sprintf("%d-01-01", y),
		"endDate":   fmt.Sprintf("%d-12-31", y),
	}
}

func (s *Server) mdCalendar(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		cur := m.periodJSON(m.current)
		delete(cur, "calendarType")
		writeAPI(w, http.StatusOK, map[string]any{"modelCalendar": map[string]any{
			"calendarType": calendarType, "fiscalYear": m.fiscalYearJSON(), "currentPeriod": cur,
			"pastYearsCount": m.fiscalYear, "futureYearsCount": m.d.Years - 1 - m.fiscalYear,
			"totalsSelection": map[string]any{"quarterTotals": true, "halfYearTotals": false, "yearToDateSummary": false,
				"yearToGoSummary": false, "totalOfAllPeriods": false},
		}})
	})
}

func (s *Server) mdSetFiscalYear(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Year string `json:"year"`
	}
	if !readBody(w, r, &req) {
		return
	}
	s.withModelData(w, r, func(m *mdModel) {
		digits := strings.TrimPrefix(strings.ToUpper(req.Year), "FY")
		n, err := strconv.Atoi(digits)
		if err != nil {
			writeAPIError(w, r, http.StatusBadRequest, "Invalid year: "+req.Year)
			return
		}
		if n < 100 {
			n += 2000
		}
		if n < m.d.FirstYear || n >= m.d.FirstYear+m.d.Years {
			writeAPIError(w, r, http.StatusBadRequest, fmt.Sprintf("Specified year is out of range: %d", n))
			return
		}
		m.fiscalYear = n - m.d.FirstYear
		writeAPI(w, http.StatusOK, map[string]any{"modelCalendar": map[string]any{"fiscalYear": m.fiscalYearJSON()}})
	})
}

func (s *Server) mdVersions(w http.ResponseWriter, r *http.Request) {
	s.withModelData(w, r, func(m *mdModel) {
		first, last := m.timeDates[0], m.timeDates[len(m.timeDates)-1]
		bound := func(i int, t time.Time) map[string]any {
			return map[string]any{"periodText": m.time[i].name, "date": t.Format(time.DateOnly)}
		}
		var out []map[string]any
		for i, v := range m.versions {
			j := map[string]any{
				"id": m.jid(v.id), "name": v.name, "isActual": i == 0, "isCurrent": i == 1,
				"editFrom": bound(0, first), "editTo": bound(len(m.time)-1, last.AddDate(0, 1, -1)),
			}
			if d := m.switchover[v.id]; d != "" {
				k, _ := m.periodOf(d)
				j["switchover"] = bound(k, m.timeDates[k])
			}
			out = append(out, j)
		}
		writeAPI(w, http.StatusOK, withPayload(map[string]any{}, "versionMetadata", out))
	})
}

func (s *Server) mdSwitchover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Date string `json:"date"`
	}
	if !readBody(w, r, &req) {
		return
	}
	s.withModelData(w, r, func(m *mdModel) {
		var v *mdItem
		idx := -1
		for i, x := range m.versions {
			if x.id == r.PathValue("versionID") {
				v, idx = x, i
			}
		}
		if !found(w, r, v, "Version not found") {
			return
		}
		if idx == 0 {
			writeAPIError(w, r, http.StatusBadRequest, "The Actual version has no switchover")
			return
		}
		if req.Date == "" {
			delete(m.switchover, v.id)
			writeAPI(w, http.StatusOK, map[string]any{"versionSwitchover": map[string]any{"periodText": "", "date": "", "calendarType": calendarType}})
			return
		}
		k, ok := m.periodOf(req.Date)
		if !ok {
			writeAPIError(w, r, http.StatusBadRequest, "The date "+req.Date+" is outside the model's years")
			return
		}
		m.switchover[v.id] = req.Date
		writeAPI(w, http.StatusOK, map[string]any{"versionSwitchover": map[string]any{
			"periodText": m.time[k].name, "date": m.timeDates[k].Format(time.DateOnly), "calendarType": calendarType,
		}})
	})
}
