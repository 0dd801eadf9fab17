package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// This file is the items of a list: read, add, update, delete and the reset
// of a list's item index. Wire reference: ANAPLAN-DATA.md §3.

// MaxListItemsPerCall is the most items Anaplan takes in one add, update or
// delete call; the methods here cut larger slices into batches of this size.
const MaxListItemsPerCall = 100_000

// maxListItemsBody bounds the answer of ListItems. Items are decoded one at
// a time, so memory stays small; this only stops an endless answer.
const maxListItemsBody = 4 << 30

// ListItem is an item of a list, as ListItems returns it and as Add, Update
// and Delete take it.
//
// An item as ListItems returned it can be passed straight back to
// UpdateListItems or DeleteListItems: Anaplan refuses an item identified by
// both ID and Code, so those methods send one identifier (ID when set, else
// Code, else, for updates, Name).
type ListItem struct {
	ID         string // set by Anaplan; identifies the item in Update/Delete (or Code)
	Name       string // empty for a numbered list's new items
	Code       string
	Parent     string // parent item's name
	ParentID   string
	Properties map[string]string
	Subsets    map[string]bool
}

// ListItemsResult is the outcome of AddListItems, UpdateListItems or
// DeleteListItems over every batch.
type ListItemsResult struct {
	Added, Updated, Deleted, Ignored, Total int           // summed over every batch
	Failures                                []ItemFailure // Index is the position in the caller's slice

	// Done is how many of the caller's items were in batches Anaplan
	// answered: after an error, items[Done:] were not (or, for the batch
	// that failed, may or may not have been) applied.
	Done int
}

// ItemFailure is an item or cell that Anaplan refused.
type ItemFailure struct {
	Index   int    // requestIndex, mapped back to the caller's slice across batches; -1 when Anaplan's index is out of range
	Type    string // failureType
	Details string // failureMessageDetails
}

// String describes the failure.
func (f ItemFailure) String() string {
	s := "item " + strconv.Itoa(f.Index) + ": " + f.Type
	if f.Details != "" {
		s += ": " + f.Details
	}
	return s
}

// flexString is a property value: Anaplan sends text, but numbers and
// booleans are taken as their JSON text.
type flexString string

// UnmarshalJSON accepts any JSON scalar.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		*f = flexString(b)
	}
	return nil
}

type wireListItem struct {
	ID         flexID                `json:"id"`
	Name       string                `json:"name"`
	Code       string                `json:"code"`
	Parent     string                `json:"parent"`
	ParentID   flexID                `json:"parentId"`
	Properties map[string]flexString `json:"properties"`
	Subsets    map[string]bool       `json:"subsets"`
}

func (w *wireListItem) item() ListItem {
	it := ListItem{ID: string(w.ID), Name: w.Name, Code: w.Code, Parent: w.Parent, ParentID: string(w.ParentID), Subsets: w.Subsets}
	if len(w.Properties) > 0 {
		it.Properties = make(map[string]string, len(w.Properties))
		for k, v := range w.Properties {
			it.Properties[k] = string(v)
		}
	}
	return it
}

// ListItems reads every item of a list with its properties and subsets
// (includeAll=true). The answer is decoded one item at a time, so memory
// does not grow with the list. Anaplan answers 400 for a list of more than
// 1,000,000 items: read such a list with ReadList.
func (m *ModelHandle) ListItems(ctx context.Context, listID string) iter.Seq2[ListItem, error] {
	return func(yield func(ListItem, error) bool) {
		if err := checkID("list", listID); err != nil {
			yield(ListItem{}, err)
			return
		}
		u := m.base + "/lists/" + url.PathEscape(listID) + "/items?includeAll=true"
		req, err := m.c.newRequest(ctx, http.MethodGet, u, nil, "")
		if err != nil {
			yield(ListItem{}, err)
			return
		}
		resp, err := m.c.send(req, true)
		if err != nil {
			yield(ListItem{}, modelHint(err))
			return
		}
		defer resp.Body.Close()
		fail := func(err error) {
			yield(ListItem{}, errorf("anaplan: GET %s: %w", redactURL(u), err))
		}
		dec := json.NewDecoder(io.LimitReader(resp.Body, maxListItemsBody))
		err = streamArray(dec, "listItems", func(dec *json.Decoder) (bool, error) {
			var w wireListItem
			if err := dec.Decode(&w); err != nil {
				return false, fmt.Errorf("a list item is not the JSON expected: %w", err)
			}
			return yield(w.item(), nil), nil
		})
		if err != nil && !errors.Is(err, errStopped) {
			fail(err)
		}
	}
}

// errStopped reports that the consumer of a stream stopped early.
var errStopped = errors.New("stopped")

// streamArray walks a JSON object, calls each for every element of the
// array under key (which may be absent or null), and skips everything else.
func streamArray(dec *json.Decoder, key string, each func(*json.Decoder) (bool, error)) error {
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("the answer is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		k, _ := t.(string)
		if k != key {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("reading the answer: %w", err)
			}
			continue
		}
		t, err = dec.Token()
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		if t == nil {
			continue // null
		}
		if d, ok := t.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("%s is not a JSON array", key)
		}
		for dec.More() {
			more, err := each(dec)
			if err != nil {
				return err
			}
			if !more {
				return errStopped
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
	}
	return nil
}

// wireItemWrite is an item as add, update and delete send it.
type wireItemWrite struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Code       string            `json:"code,omitempty"`
	Parent     string            `json:"parent,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Subsets    map[string]bool   `json:"subsets,omitempty"`
}

type wireFailure struct {
	RequestIndex flexInt `json:"requestIndex"`
	FailureType  string  `json:"failureType"`
	Details      string  `json:"failureMessageDetails"`
}

// wireItemsResult is every shape of the answers of add, update and delete.
type wireItemsResult struct {
	Added    flexInt       `json:"added"`
	Updated  flexInt       `json:"updated"`
	Deleted  flexInt       `json:"deleted"`
	Ignored  flexInt       `json:"ignored"`
	Total    flexInt       `json:"total"`
	Failures []wireFailure `json:"failures"`
	// The second shape of delete's answer.
	Result *struct {
		Deleted  flexInt       `json:"numberOfItemsDeleted"`
		Failures []wireFailure `json:"failures"`
	} `json:"result"`
}

// mapFailures turns a batch's failures into the caller's indexes.
func mapFailures(fs []wireFailure, start, n int) []ItemFailure {
	out := make([]ItemFailure, 0, len(fs))
	for _, f := range fs {
		i := int(f.RequestIndex)
		idx := start + i
		if i < 0 || i >= n {
			idx = -1
		}
		out = append(out, ItemFailure{Index: idx, Type: f.FailureType, Details: f.Details})
	}
	return out
}

// AddListItems adds items to a list, in batches of MaxListItemsPerCall.
// Each item needs a Name (except in a numbered list) and may have a Code, a
// Parent (the parent item's name), Properties and Subsets; ID and ParentID
// are ignored.
//
// Items Anaplan refuses are in the result's Failures, with their index in
// items; err is non-nil only when a call itself failed, and then the result
// covers the batches answered before it (see ListItemsResult.Done).
//
// A batch is a POST: the SDK never sends it twice by itself (it is only
// resent after a 429 or a 401, answers Anaplan gives without acting). When
// a call fails without an answer (a timeout, a lost connection), that batch
// may have been applied anyway. Calling AddListItems again with
// items[res.Done:] is safe: the items the lost call added are counted as
// Ignored (they exist already), not added twice.
func (m *ModelHandle) AddListItems(ctx context.Context, listID string, items []ListItem) (*ListItemsResult, error) {
	if err := checkID("list", listID); err != nil {
		return nil, err
	}
	u := m.base + "/lists/" + url.PathEscape(listID) + "/items?action=add"
	return m.itemBatches(ctx, http.MethodPost, u, items, func(it *ListItem) (wireItemWrite, error) {
		return wireItemWrite{Name: it.Name, Code: it.Code, Parent: it.Parent, Properties: it.Properties, Subsets: it.Subsets}, nil
	})
}

// UpdateListItems changes items of a list, in batches of
// MaxListItemsPerCall. Each item is found by one identifier: ID when set,
// else Code, else Name (Anaplan refuses an item with two). Name, Parent,
// Properties and Subsets are set when not empty; what is left empty is
// unchanged. With ID set, Name renames the item; Code cannot be changed in
// the same call (Anaplan would read it as a second identifier).
//
// Failures and errors are as for AddListItems. The update is a PUT, which
// the SDK's transport resends after a network error or a 502, 503 or 504:
// an update sets the same values again, so a repeated batch changes nothing
// more; the counts are those of the try that was answered.
func (m *ModelHandle) UpdateListItems(ctx context.Context, listID string, items []ListItem) (*ListItemsResult, error) {
	if err := checkID("list", listID); err != nil {
		return nil, err
	}
	u := m.base + "/lists/" + url.PathEscape(listID) + "/items"
	return m.itemBatches(ctx, http.MethodPut, u, items, func(it *ListItem) (wireItemWrite, error) {
		w := wireItemWrite{Name: it.Name, Parent: it.Parent, Properties: it.Properties, Subsets: it.Subsets}
		switch {
		case it.ID != "":
			w.ID = it.ID
		case it.Code != "":
			w.Code = it.Code
		case it.Name == "":
			return w, errors.New("has no ID, Code or Name to find it by")
		}
		return w, nil
	})
}

// DeleteListItems deletes items of a list, in batches of
// MaxListItemsPerCall. Each item is found by its ID when set, else by its
// Code; an item with neither is an error before anything is sent.
//
// Failures ("Not found", "Ambiguous criteria") and errors are as for
// AddListItems; Anaplan's two shapes of answer ({"deleted":n} and
// {"result":{"numberOfItemsDeleted":n}}) both count in Deleted. When a call
// failed without an answer and its batch had been applied, calling again
// reports those items as failures of type "Not found" (they are gone).
func (m *ModelHandle) DeleteListItems(ctx context.Context, listID string, items []ListItem) (*ListItemsResult, error) {
	if err := checkID("list", listID); err != nil {
		return nil, err
	}
	u := m.base + "/lists/" + url.PathEscape(listID) + "/items?action=delete"
	return m.itemBatches(ctx, http.MethodPost, u, items, func(it *ListItem) (wireItemWrite, error) {
		switch {
		case it.ID != "":
			return wireItemWrite{ID: it.ID}, nil
		case it.Code != "":
			return wireItemWrite{Code: it.Code}, nil
		}
		return wireItemWrite{}, errors.New("has no ID or Code to find it by")
	})
}

// itemBatches sends items in batches and sums the answers.
func (m *ModelHandle) itemBatches(ctx context.Context, method, u string, items []ListItem, conv func(*ListItem) (wireItemWrite, error)) (*ListItemsResult, error) {
	res := &ListItemsResult{}
	if len(items) == 0 {
		return res, nil
	}
	// Check every item before the first call, so that a bad item at the end
	// does not leave the list half changed.
	for i := range items {
		if _, err := conv(&items[i]); err != nil {
			return res, errorf("anaplan: list item %d %w", i, err)
		}
	}
	batch := make([]wireItemWrite, 0, min(len(items), MaxListItemsPerCall))
	for start := 0; start < len(items); start += MaxListItemsPerCall {
		end := min(start+MaxListItemsPerCall, len(items))
		batch = batch[:0]
		for i := start; i < end; i++ {
			w, _ := conv(&items[i])
			batch = append(batch, w)
		}
		var v wireItemsResult
		err := m.sendModelJSON(ctx, method, u, struct {
			Items []wireItemWrite `json:"items"`
		}{batch}, &v)
		if err != nil {
			if start > 0 {
				return res, errorf("anaplan: list items %d to %d of %d (the items before were applied): %w", start, end-1, len(items), err)
			}
			return res, err
		}
		res.Added += int(v.Added)
		res.Updated += int(v.Updated)
		res.Ignored += int(v.Ignored)
		res.Total += int(v.Total)
		res.Deleted += int(v.Deleted)
		fs := v.Failures
		if v.Result != nil {
			res.Deleted += int(v.Result.Deleted)
			fs = append(fs, v.Result.Failures...)
		}
		res.Failures = append(res.Failures, mapFailures(fs, start, end-start)...)
		res.Done = end
	}
	return res, nil
}

// ResetListIndex resets the item index of a list (the numbers Anaplan gives
// new items). Anaplan answers 400 when the list has items, and in deployed
// mode when it is not a production list.
func (m *ModelHandle) ResetListIndex(ctx context.Context, listID string) error {
	if err := checkID("list", listID); err != nil {
		return err
	}
	req, err := m.c.newRequest(ctx, http.MethodPost, m.base+"/lists/"+url.PathEscape(listID)+"/resetIndex", nil, "")
	if err != nil {
		return err
	}
	return modelHint(m.c.doJSON(req, nil, true))
}
