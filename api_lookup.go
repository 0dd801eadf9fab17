package anaplan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
)

// ErrNotFound is matched (with errors.Is) by the error of a Find method
// when nothing has the name or ID looked for. The error is a *LookupError.
var ErrNotFound = errors.New("anaplan: not found")

// ErrAmbiguous is matched (with errors.Is) by the error of a Find method
// when several objects have the name looked for, so that only an ID can
// choose one. The error is a *LookupError naming their IDs.
var ErrAmbiguous = errors.New("anaplan: ambiguous name")

// maxCandidates bounds the IDs a LookupError keeps: a server may list any
// number of objects of one name.
const maxCandidates = 20

// LookupError is the error of a Find method (FindWorkspace, FindModel,
// ModelHandle.FindFile …) that did not resolve a name or an ID to exactly
// one object. It matches ErrNotFound when nothing matched and ErrAmbiguous
// when several objects have the name.
type LookupError struct {
	Kind  string // what was looked for: "workspace", "model", "file", "import", "export", "process", "action"
	Key   string // the name or ID looked for
	Scope string // where: "in the model", "in workspace \"Finance\"", "among the models the user can see" …

	// IDs are the IDs of the objects called Key (at most 20 of them);
	// empty when nothing matched.
	IDs []string
	// WorkspaceIDs, for models, are the workspaces of IDs, one for each.
	WorkspaceIDs []string
	// WorkspaceNames, for models, are the names of those workspaces.
	WorkspaceNames []string
	// Count is how many objects are called Key (it may exceed len(IDs)).
	Count int
}

// Error says what was looked for, where, and for an ambiguous name the IDs
// to choose from.
func (e *LookupError) Error() string {
	var b strings.Builder
	b.WriteString("anaplan: ")
	if e.Count == 0 {
		fmt.Fprintf(&b, "no %s called or with ID %q", e.Kind, e.Key)
		if e.Scope != "" {
			b.WriteString(" " + e.Scope)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "several %s are called %q", plural(e.Kind), e.Key)
	if e.Scope != "" {
		b.WriteString(" " + e.Scope)
	}
	if len(e.WorkspaceIDs) == len(e.IDs) && len(e.IDs) > 0 {
		ws := make([]string, len(e.IDs))
		for i := range e.IDs {
			name := ""
			if i < len(e.WorkspaceNames) && e.WorkspaceNames[i] != "" {
				name = e.WorkspaceNames[i] + " "
			}
			ws[i] = fmt.Sprintf("%s in workspace %s(%s)", e.IDs[i], name, e.WorkspaceIDs[i])
		}
		fmt.Fprintf(&b, " (%s", strings.Join(ws, ", "))
	} else {
		fmt.Fprintf(&b, " (IDs %s", strings.Join(e.IDs, ", "))
	}
	if e.Count > len(e.IDs) {
		fmt.Fprintf(&b, " and %d more", e.Count-len(e.IDs))
	}
	b.WriteString("): use the ID")
	return b.String()
}

// Is reports whether target is ErrNotFound (nothing matched) or
// ErrAmbiguous (several matched).
func (e *LookupError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Count == 0
	case ErrAmbiguous:
		return e.Count > 0
	}
	return false
}

func plural(kind string) string {
	if strings.HasSuffix(kind, "s") {
		return kind + "es"
	}
	return kind + "s"
}

// lookup picks from seq the item whose ID is key; else the one whose name
// is key exactly; else the one whose name is key ignoring case. Several
// items of the chosen kind of match make e (its Key, Count and IDs filled
// in, and more by fill) an error matching ErrAmbiguous; none, one matching
// ErrNotFound. An error of seq is returned as it is.
func lookup[T any](seq iter.Seq2[T, error], key string, e *LookupError, id, name func(T) string, fill func(*LookupError, []T)) (*T, error) {
	var exact, folded []T
	nExact, nFolded := 0, 0
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		switch {
		case id(v) == key:
			return &v, nil
		case name(v) == key:
			nExact++
			if len(exact) < maxCandidates {
				exact = append(exact, v)
			}
		case nExact == 0 && strings.EqualFold(name(v), key):
			nFolded++
			if len(folded) < maxCandidates {
				folded = append(folded, v)
			}
		}
	}
	set, n := exact, nExact
	if n == 0 {
		set, n = folded, nFolded
	}
	if n == 1 {
		return &set[0], nil
	}
	e.Key, e.Count = key, n
	for _, v := range set {
		e.IDs = append(e.IDs, id(v))
	}
	if fill != nil && n > 0 {
		fill(e, set)
	}
	return nil, e
}

// checkKey refuses an empty name or ID, which would otherwise match an
// object without a name.
func checkKey(kind, key string) error {
	if strings.TrimSpace(key) == "" {
		return errorf("anaplan: no %s name or ID given", kind)
	}
	return nil
}

// FindWorkspace returns the workspace whose ID is nameOrID, or else the one
// whose name is nameOrID (exactly, or else ignoring case). Absence and
// ambiguity are a *LookupError matching ErrNotFound or ErrAmbiguous.
func (c *Client) FindWorkspace(ctx context.Context, nameOrID string) (*Workspace, error) {
	if err := checkKey("workspace", nameOrID); err != nil {
		return nil, err
	}
	return lookup(c.Workspaces(ctx), nameOrID, &LookupError{Kind: "workspace", Scope: "among the workspaces the user can see"},
		func(w Workspace) string { return w.ID }, func(w Workspace) string { return w.Name }, nil)
}

// FindModel returns the model whose ID is nameOrID, or else the one whose
// name is nameOrID (exactly, or else ignoring case), among the models of
// workspace (its name or ID), or of every workspace the user can see when
// workspace is "". A model name is often the same in several workspaces (a
// copy for development, another for production): an ambiguous name is a
// *LookupError matching ErrAmbiguous that names each model's workspace;
// absence one matching ErrNotFound. Use the result with
// c.Model(m.WorkspaceID, m.ID).
func (c *Client) FindModel(ctx context.Context, workspace, nameOrID string) (*Model, error) {
	if err := checkKey("model", nameOrID); err != nil {
		return nil, err
	}
	e := &LookupError{Kind: "model", Scope: "among the models the user can see"}
	if workspace != "" {
		e.Scope = fmt.Sprintf("in workspace %q", workspace)
	}
	inWorkspace := func(m Model) bool {
		return workspace == "" || m.WorkspaceID == workspace || strings.EqualFold(m.WorkspaceName, workspace)
	}
	seq := func(yield func(Model, error) bool) {
		for m, err := range c.Models(ctx) {
			if err != nil {
				yield(m, err)
				return
			}
			if inWorkspace(m) && !yield(m, nil) {
				return
			}
		}
	}
	return lookup(seq, nameOrID, e, func(m Model) string { return m.ID }, func(m Model) string { return m.Name },
		func(e *LookupError, set []Model) {
			// Each candidate's workspace is what tells them apart.
			for _, m := range set {
				e.WorkspaceIDs = append(e.WorkspaceIDs, m.WorkspaceID)
				e.WorkspaceNames = append(e.WorkspaceNames, m.WorkspaceName)
			}
		})
}

// FindFile returns the model's file whose ID is nameOrID, or else the one
// whose name is nameOrID (exactly, or else ignoring case). Absence and
// ambiguity are a *LookupError matching ErrNotFound or ErrAmbiguous.
func (m *ModelHandle) FindFile(ctx context.Context, nameOrID string) (*File, error) {
	if err := checkKey("file", nameOrID); err != nil {
		return nil, err
	}
	return lookup(m.Files(ctx), nameOrID, &LookupError{Kind: "file", Scope: "in the model"},
		func(f File) string { return f.ID }, func(f File) string { return f.Name }, nil)
}

// FindImport returns the model's import whose ID is nameOrID, or else the
// one whose name is nameOrID (exactly, or else ignoring case). Absence and
// ambiguity are a *LookupError matching ErrNotFound or ErrAmbiguous.
func (m *ModelHandle) FindImport(ctx context.Context, nameOrID string) (*Import, error) {
	if err := checkKey("import", nameOrID); err != nil {
		return nil, err
	}
	return lookup(m.Imports(ctx), nameOrID, &LookupError{Kind: "import", Scope: "in the model"},
		func(x Import) string { return x.ID }, func(x Import) string { return x.Name }, nil)
}

// FindExport returns the model's export whose ID is nameOrID, or else the
// one whose name is nameOrID (exactly, or else ignoring case). Absence and
// ambiguity are a *LookupError matching ErrNotFound or ErrAmbiguous.
func (m *ModelHandle) FindExport(ctx context.Context, nameOrID string) (*Export, error) {
	if err := checkKey("export", nameOrID); err != nil {
		return nil, err
	}
	return lookup(m.Exports(ctx), nameOrID, &LookupError{Kind: "export", Scope: "in the model"},
		func(x Export) string { return x.ID }, func(x Export) string { return x.Name }, nil)
}

// FindProcess returns the model's process whose ID is nameOrID, or else the
// one whose name is nameOrID (exactly, or else ignoring case). Absence and
// ambiguity are a *LookupError matching ErrNotFound or ErrAmbiguous.
func (m *ModelHandle) FindProcess(ctx context.Context, nameOrID string) (*Process, error) {
	if err := checkKey("process", nameOrID); err != nil {
		return nil, err
	}
	return lookup(m.Processes(ctx), nameOrID, &LookupError{Kind: "process", Scope: "in the model"},
		func(x Process) string { return x.ID }, func(x Process) string { return x.Name }, nil)
}

// FindAction returns the model's action (of the other kinds: delete,
// optimizer …) whose ID is nameOrID, or else the one whose name is nameOrID
// (exactly, or else ignoring case). Absence and ambiguity are a
// *LookupError matching ErrNotFound or ErrAmbiguous.
func (m *ModelHandle) FindAction(ctx context.Context, nameOrID string) (*Action, error) {
	if err := checkKey("action", nameOrID); err != nil {
		return nil, err
	}
	return lookup(m.Actions(ctx), nameOrID, &LookupError{Kind: "action", Scope: "in the model"},
		func(x Action) string { return x.ID }, func(x Action) string { return x.Name }, nil)
}
