package anaplan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// lookupFixture is a tenant with names that collide in every way a lookup
// must tell apart: an ID, an exact name, a name differing only in case, a
// name shared by two objects, a name shared across workspaces.
func lookupFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	srv := f.srv
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws2", Name: "Sandbox"})
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws3", Name: "sandbox"})
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws4", Name: "Twin"})
	srv.AddWorkspace(anaplantest.Workspace{ID: "ws5", Name: "Twin"})
	srv.AddModel("ws2", anaplantest.Model{ID: "M2", Name: "Budget"})
	srv.AddModel("ws2", anaplantest.Model{ID: "M3", Name: "Forecast"})
	add := func(id, name string) {
		srv.AddFile(testWS, testModel, anaplantest.File{ID: "f" + id, Name: name})
		srv.AddImport(testWS, testModel, anaplantest.Import{ID: "i" + id, Name: name, FileID: "f" + id})
		srv.AddExport(testWS, testModel, anaplantest.Export{ID: "e" + id, Name: name})
		srv.AddProcess(testWS, testModel, anaplantest.Process{ID: "p" + id, Name: name})
		srv.AddAction(testWS, testModel, anaplantest.Action{ID: "a" + id, Name: name})
	}
	add("1", "Sales")
	add("2", "sales")
	add("3", "Twin")
	add("4", "Twin")
	add("5", "Other")
	return f
}

func TestFindInModel(t *testing.T) {
	f := lookupFixture(t)
	ctx := context.Background()
	// Each kind of object, found by the same rules.
	finders := map[string]func(key string) (id string, err error){
		"file": func(k string) (string, error) {
			v, err := f.m.FindFile(ctx, k)
			return idOf(v, err, func(v *anaplan.File) string { return v.ID })
		},
		"import": func(k string) (string, error) {
			v, err := f.m.FindImport(ctx, k)
			return idOf(v, err, func(v *anaplan.Import) string { return v.ID })
		},
		"export": func(k string) (string, error) {
			v, err := f.m.FindExport(ctx, k)
			return idOf(v, err, func(v *anaplan.Export) string { return v.ID })
		},
		"process": func(k string) (string, error) {
			v, err := f.m.FindProcess(ctx, k)
			return idOf(v, err, func(v *anaplan.Process) string { return v.ID })
		},
		"action": func(k string) (string, error) {
			v, err := f.m.FindAction(ctx, k)
			return idOf(v, err, func(v *anaplan.Action) string { return v.ID })
		},
	}
	prefix := map[string]string{"file": "f", "import": "i", "export": "e", "process": "p", "action": "a"}
	plural := map[string]string{"file": "files", "import": "imports", "export": "exports", "process": "processes", "action": "actions"}
	tests := []struct {
		name    string
		key     string
		wantID  string // without the kind's prefix; "" for an error
		wantIs  error
		wantIDs []string // of the ambiguity, without prefix
	}{
		{name: "by ID", key: "{p}5", wantID: "5"},
		{name: "exact name wins over a case-folded one", key: "sales", wantID: "2"},
		{name: "exact name", key: "Sales", wantID: "1"},
		{name: "name ignoring case when no exact match", key: "OTHER", wantID: "5"},
		{name: "two of the name", key: "Twin", wantIs: anaplan.ErrAmbiguous, wantIDs: []string{"3", "4"}},
		{name: "two of the name ignoring case", key: "SALES", wantIs: anaplan.ErrAmbiguous, wantIDs: []string{"1", "2"}},
		{name: "absent", key: "Nope", wantIs: anaplan.ErrNotFound},
		{name: "an ID of another kind is not an ID of this one", key: "x5", wantIs: anaplan.ErrNotFound},
	}
	for kind, find := range finders {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				key := strings.ReplaceAll(tt.key, "{p}", prefix[kind])
				id, err := find(key)
				if tt.wantIs == nil {
					if err != nil || id != prefix[kind]+tt.wantID {
						t.Fatalf("Find(%q) = %q, %v; want %q", key, id, err, prefix[kind]+tt.wantID)
					}
					return
				}
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("Find(%q) = %q, %v; want an error matching %v", key, id, err, tt.wantIs)
				}
				other := anaplan.ErrNotFound
				if tt.wantIs == anaplan.ErrNotFound {
					other = anaplan.ErrAmbiguous
				}
				if errors.Is(err, other) {
					t.Errorf("the error also matches %v: absence and ambiguity must be distinct", other)
				}
				var le *anaplan.LookupError
				if !errors.As(err, &le) {
					t.Fatalf("error %T is not a *LookupError", err)
				}
				var wantIDs []string
				for _, id := range tt.wantIDs {
					wantIDs = append(wantIDs, prefix[kind]+id)
				}
				if diff := cmp.Diff(wantIDs, le.IDs); diff != "" {
					t.Errorf("IDs (-want +got):\n%s", diff)
				}
				if le.Kind != kind || le.Key != key || le.Count != len(wantIDs) {
					t.Errorf("LookupError = %+v; want Kind %q, Key %q, Count %d", le, kind, key, len(wantIDs))
				}
				var want string
				if tt.wantIs == anaplan.ErrNotFound {
					want = fmt.Sprintf("anaplan: no %s called or with ID %q in the model", kind, key)
				} else {
					want = fmt.Sprintf("anaplan: several %s are called %q in the model (IDs %s): use the ID", plural[kind], key, strings.Join(wantIDs, ", "))
				}
				if err.Error() != want {
					t.Errorf("message\n got %s\nwant %s", err, want)
				}
			})
		}
	}
}

func idOf[T any](v *T, err error, id func(*T) string) (string, error) {
	if err != nil {
		if v != nil {
			return "", fmt.Errorf("a value %+v with the error %w", *v, err)
		}
		return "", err
	}
	return id(v), nil
}

func TestFindWorkspace(t *testing.T) {
	f := lookupFixture(t)
	ctx := context.Background()
	tests := []struct {
		key     string
		wantID  string
		wantIs  error
		wantMsg string
	}{
		{key: testWS, wantID: testWS},
		{key: "Finance", wantID: testWS},
		{key: "finance", wantID: testWS},
		{key: "Sandbox", wantID: "ws2"},
		{key: "sandbox", wantID: "ws3"},
		{key: "SANDBOX", wantIs: anaplan.ErrAmbiguous, wantMsg: `anaplan: several workspaces are called "SANDBOX" among the workspaces the user can see (IDs ws2, ws3): use the ID`},
		{key: "Twin", wantIs: anaplan.ErrAmbiguous, wantMsg: `anaplan: several workspaces are called "Twin" among the workspaces the user can see (IDs ws4, ws5): use the ID`},
		{key: "Nope", wantIs: anaplan.ErrNotFound, wantMsg: `anaplan: no workspace called or with ID "Nope" among the workspaces the user can see`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			w, err := f.c.FindWorkspace(ctx, tt.key)
			if tt.wantIs == nil {
				if err != nil || w.ID != tt.wantID {
					t.Fatalf("FindWorkspace(%q) = %+v, %v; want %s", tt.key, w, err, tt.wantID)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) || w != nil {
				t.Fatalf("FindWorkspace(%q) = %+v, %v; want an error matching %v", tt.key, w, err, tt.wantIs)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", err, tt.wantMsg)
			}
		})
	}
}

func TestFindModel(t *testing.T) {
	f := lookupFixture(t)
	ctx := context.Background()
	tests := []struct {
		workspace, key string
		wantID, wantWS string
		wantIs         error
		wantMsg        string
	}{
		{key: testModel, wantID: testModel, wantWS: testWS},
		{key: "forecast", wantID: "M3", wantWS: "ws2"},
		{workspace: "Finance", key: "Budget", wantID: testModel, wantWS: testWS},
		{workspace: "ws2", key: "budget", wantID: "M2", wantWS: "ws2"},
		{workspace: "sandbox", key: "Budget", wantID: "M2", wantWS: "ws2"},
		{key: "Budget", wantIs: anaplan.ErrAmbiguous,
			wantMsg: `anaplan: several models are called "Budget" among the models the user can see (` + testModel + ` in workspace Finance (` + testWS + `), M2 in workspace Sandbox (ws2)): use the ID`},
		{workspace: "Finance", key: "Forecast", wantIs: anaplan.ErrNotFound,
			wantMsg: `anaplan: no model called or with ID "Forecast" in workspace "Finance"`},
		{key: "Nope", wantIs: anaplan.ErrNotFound, wantMsg: `anaplan: no model called or with ID "Nope" among the models the user can see`},
	}
	for _, tt := range tests {
		t.Run(tt.workspace+"/"+tt.key, func(t *testing.T) {
			m, err := f.c.FindModel(ctx, tt.workspace, tt.key)
			if tt.wantIs == nil {
				if err != nil || m.ID != tt.wantID || m.WorkspaceID != tt.wantWS {
					t.Fatalf("FindModel(%q, %q) = %+v, %v; want %s in %s", tt.workspace, tt.key, m, err, tt.wantID, tt.wantWS)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) || m != nil {
				t.Fatalf("FindModel(%q, %q) = %+v, %v; want an error matching %v", tt.workspace, tt.key, m, err, tt.wantIs)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", err, tt.wantMsg)
			}
			var le *anaplan.LookupError
			if errors.As(err, &le) && tt.wantIs == anaplan.ErrAmbiguous {
				if diff := cmp.Diff([]string{testWS, "ws2"}, le.WorkspaceIDs); diff != "" {
					t.Errorf("WorkspaceIDs (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFindRefusesAnEmptyKey(t *testing.T) {
	f := lookupFixture(t)
	srvFile := anaplantest.File{ID: "f-unnamed", Name: ""}
	f.srv.AddFile(testWS, testModel, srvFile)
	ctx := context.Background()
	for _, key := range []string{"", "  "} {
		if v, err := f.m.FindFile(ctx, key); err == nil || errors.Is(err, anaplan.ErrNotFound) || !strings.Contains(err.Error(), "no file name or ID given") {
			t.Errorf("FindFile(%q) = %+v, %v; want an error saying no name was given", key, v, err)
		}
		if v, err := f.c.FindWorkspace(ctx, key); err == nil {
			t.Errorf("FindWorkspace(%q) = %+v, nil; want an error", key, v)
		}
		if v, err := f.c.FindModel(ctx, "", key); err == nil {
			t.Errorf("FindModel(%q) = %+v, nil; want an error", key, v)
		}
	}
}

// A name shared by many objects keeps a bounded number of candidates, and
// says how many there are.
func TestFindBoundsTheCandidates(t *testing.T) {
	f := newFixture(t)
	for i := range 45 {
		f.srv.AddFile(testWS, testModel, anaplantest.File{ID: fmt.Sprintf("f%02d", i), Name: "data.csv"})
	}
	_, err := f.m.FindFile(context.Background(), "data.csv")
	var le *anaplan.LookupError
	if !errors.As(err, &le) || !errors.Is(err, anaplan.ErrAmbiguous) {
		t.Fatalf("FindFile = %v; want an ambiguity", err)
	}
	if le.Count != 45 || len(le.IDs) != 20 {
		t.Errorf("Count %d, %d IDs; want 45 and 20", le.Count, len(le.IDs))
	}
	if !strings.Contains(err.Error(), "f19 and 25 more): use the ID") {
		t.Errorf("message %q does not say how many more", err)
	}
}

// A server's refusal is not absence: it comes back as the *APIError.
func TestFindPassesServerErrorsThrough(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.c.Model(testWS, "NOSUCHMODEL").FindImport(ctx, "x")
	var ae *anaplan.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("FindImport on a missing model = %v; want the 404 *APIError", err)
	}
	if errors.Is(err, anaplan.ErrNotFound) || errors.Is(err, anaplan.ErrAmbiguous) {
		t.Errorf("a 404 from the server matches a lookup sentinel: %v", err)
	}
}
