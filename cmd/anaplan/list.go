// The listing commands: whoami, workspaces, models, files, imports,
// exports, processes, actions.

package main

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/go-anaplan/anaplan"
)

func cmdWhoami(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		u, err := c.CurrentUser(ctx)
		if err != nil {
			return err
		}
		return a.print(u, []string{"ID", "EMAIL", "NAME"}, [][]string{{u.ID, u.Email, strings.TrimSpace(u.FirstName + " " + u.LastName)}})
	})
}

func cmdWorkspaces(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		ws, err := anaplan.Collect(c.Workspaces(ctx))
		if err != nil {
			return err
		}
		rows := make([][]string, len(ws))
		for i, w := range ws {
			rows[i] = []string{w.ID, w.Name, yesNo(w.Active), size(w.CurrentSize) + " / " + size(w.SizeAllowance)}
		}
		return a.print(nonNil(ws), []string{"ID", "NAME", "ACTIVE", "USED"}, rows)
	})
}

func cmdModels(ctx context.Context, a *app, _ []string) error {
	return a.withClient(ctx, func(c *anaplan.Client) error {
		var ms []anaplan.Model
		for m, err := range c.Models(ctx) {
			if err != nil {
				return err
			}
			if a.o.workspace == "" || m.WorkspaceID == a.o.workspace || strings.EqualFold(m.WorkspaceName, a.o.workspace) {
				ms = append(ms, m)
			}
		}
		rows := make([][]string, len(ms))
		for i, m := range ms {
			rows[i] = []string{m.ID, m.Name, m.ActiveState, m.WorkspaceName}
		}
		return a.print(nonNil(ms), []string{"ID", "NAME", "STATE", "WORKSPACE"}, rows)
	})
}

func cmdList(what string) func(ctx context.Context, a *app, _ []string) error {
	return func(ctx context.Context, a *app, _ []string) error {
		return a.withClient(ctx, func(c *anaplan.Client) error {
			m, _, err := a.model(ctx, c)
			if err != nil {
				return err
			}
			switch what {
			case "files":
				return printList(a, m.Files(ctx), []string{"ID", "NAME", "CHUNKS"}, func(f anaplan.File) []string {
					return []string{f.ID, f.Name, fmt.Sprint(f.ChunkCount)}
				})
			case "imports":
				return printList(a, m.Imports(ctx), []string{"ID", "NAME", "TYPE", "SOURCE FILE"}, func(i anaplan.Import) []string {
					return []string{i.ID, i.Name, i.ImportType, i.ImportDataSourceID}
				})
			case "exports":
				return printList(a, m.Exports(ctx), []string{"ID", "NAME", "FORMAT"}, func(e anaplan.Export) []string {
					return []string{e.ID, e.Name, e.ExportFormat}
				})
			case "processes":
				return printList(a, m.Processes(ctx), []string{"ID", "NAME"}, func(p anaplan.Process) []string {
					return []string{p.ID, p.Name}
				})
			default:
				return printList(a, m.Actions(ctx), []string{"ID", "NAME", "TYPE"}, func(x anaplan.Action) []string {
					return []string{x.ID, x.Name, x.ActionType}
				})
			}
		})
	}
}

func printList[T any](a *app, seq iter.Seq2[T, error], header []string, row func(T) []string) error {
	items, err := anaplan.Collect(seq)
	if err != nil {
		return err
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	return a.print(nonNil(items), header, rows)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
