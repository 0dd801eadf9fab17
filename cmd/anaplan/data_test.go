package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

// dataCommandFlags are the flags each data command takes, for
// TestEachCommandTakesExactlyItsFlags.
var dataCommandFlags = map[string][]string{
	"modules":     {"connection", "connection-file", "json", "model", "workspace"},
	"line-items":  {"connection", "connection-file", "json", "model", "workspace"},
	"views":       {"connection", "connection-file", "json", "model", "workspace"},
	"lists":       {"connection", "connection-file", "json", "model", "workspace"},
	"items":       {"connection", "connection-file", "csv", "file", "json", "model", "workspace"},
	"cells":       {"connection", "connection-file", "csv", "json", "max-rows", "model", "page", "workspace"},
	"write-cells": {"connection", "connection-file", "file", "json", "model", "workspace"},
	"model":       {"connection", "connection-file", "json", "model", "poll-interval", "wait", "workspace"},
	"period":      {"connection", "connection-file", "json", "model", "set", "workspace"},
	"versions":    {"connection", "connection-file", "json", "model", "workspace"},
	"read":        {"concurrency", "connection", "connection-file", "force", "json", "model", "o", "workspace"},
}

// dataTenant is a tenant whose Budget model has a list and a module.
func dataTenant(t *testing.T) *tenant {
	tn := newTenant(t)
	err := tn.srv.AddModelData(wsID, modelID, anaplantest.ModelData{
		Lists: []anaplantest.List{{ID: "101000000001", Name: "Region", Properties: []string{"Manager"},
			Items: []anaplantest.ListItem{{ID: "201000000001", Name: "North", Code: "N"}, {ID: "201000000002", Name: "South", Code: "S"}}}},
		Modules: []anaplantest.Module{{ID: "102000000001", Name: "Sales", Dimensions: []string{"Region", "Versions"},
			LineItems: []anaplantest.LineItem{{ID: "206000000001", Name: "Revenue"}, {ID: "206000000002", Name: "Margin", Formula: "Revenue"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func (tn *tenant) writeFile(name, content string) string {
	tn.t.Helper()
	p := filepath.Join(tn.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tn.t.Fatal(err)
	}
	return p
}

func TestDataMetadataCommands(t *testing.T) {
	tn := dataTenant(t)
	m := []string{"--model", "Budget", "--workspace", "Finance"}
	got := table(t, tn.ok(append([]string{"modules"}, m...)...).stdout)
	if diff := cmp.Diff([][]string{{"ID", "NAME"}, {"102000000001", "Sales"}}, got); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	got = table(t, tn.ok(append([]string{"line-items", "Sales"}, m...)...).stdout)
	if len(got) != 3 || got[2][1] != "Margin" || got[2][4] != "Revenue" {
		t.Errorf("line-items = %v", got)
	}
	got = table(t, tn.ok(append([]string{"lists"}, m...)...).stdout)
	if len(got) != 2 || got[1][1] != "Region" {
		t.Errorf("lists = %v", got)
	}
	got = table(t, tn.ok(append([]string{"versions"}, m...)...).stdout)
	if len(got) != 3 || got[1][1] != "Actual" || got[1][2] != "actual" {
		t.Errorf("versions = %v", got)
	}
	r := tn.ok(append([]string{"model", "status"}, m...)...)
	if !strings.Contains(r.stdout, "Open") {
		t.Errorf("model status = %q", r.stdout)
	}
	r = tn.ok(append([]string{"period", "--set", "2024-05-02"}, m...)...)
	if !strings.Contains(r.stdout, "May 24") {
		t.Errorf("period --set = %q", r.stdout)
	}
	tn.noSecrets(r)
}

func TestDataItemsCommands(t *testing.T) {
	tn := dataTenant(t)
	m := []string{"--model", modelID, "--workspace", "Finance"}
	f := tn.writeFile("new.csv", "name,code,Manager\nEast,E,Ada\nWest,W,\nNorth,N,\n,X,\n")
	r := tn.run(append([]string{"items", "add", "Region", "--file", f}, m...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "added 2, updated 0, deleted 0, ignored 1, failed 1 (of 4 items)") ||
		!strings.Contains(r.stdout, "row 4: INCOMPLETE_DATA") {
		t.Errorf("items add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = tn.ok(append([]string{"items", "Region", "--csv"}, m...)...)
	want := "id,name,code,parent,Manager\n201000000001,North,N,,\n201000000002,South,S,,\n"
	if !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, ",East,E,,Ada\n") {
		t.Errorf("items --csv = %q", r.stdout)
	}
	// What 'items --json' prints can be fed back to update and delete.
	js := tn.ok(append([]string{"items", "Region", "--json"}, m...)...).stdout
	jf := tn.writeFile("items.json", js)
	tn.ok(append([]string{"items", "update", "Region", "--file", jf}, m...)...)
	r = tn.ok(append([]string{"items", "delete", "Region", "--file", jf}, m...)...)
	if !strings.Contains(r.stdout, "deleted 4") {
		t.Errorf("items delete = %q", r.stdout)
	}
	if names, _ := tn.srv.ListItemNames(wsID, modelID, "Region"); len(names) != 0 {
		t.Errorf("left: %v", names)
	}
}

func TestDataCellsCommands(t *testing.T) {
	tn := dataTenant(t)
	m := []string{"--model", modelID, "--workspace", "Finance"}
	f := tn.writeFile("cells.csv", "lineItem,Region,Versions,value\nRevenue,North,Forecast,12\nMargin,North,Forecast,1\n")
	r := tn.run(append([]string{"write-cells", "Sales", "--file", f}, m...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "changed 1, failed 1 (of 2 cells)") || !strings.Contains(r.stdout, "cell 2: cellIsCalculated") {
		t.Errorf("write-cells: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = tn.ok(append([]string{"cells", "Sales", "--page", "Versions=Forecast"}, m...)...)
	lines := strings.SplitN(r.stdout, "\n", 2)
	if lines[0] != "page: Forecast" {
		t.Errorf("page line = %q", lines[0])
	}
	got := table(t, lines[1])
	if diff := cmp.Diff([][]string{{"-", "Revenue", "Margin"}, {"North", "12", "0"}, {"South", "0", "0"}}, got); diff != "" {
		t.Errorf("cells (-want +got):\n%s\n%s", diff, r.stdout)
	}
	r = tn.ok(append([]string{"cells", "Sales", "--csv", "--page", "Versions=Forecast"}, m...)...)
	if r.stdout != "Forecast\n,Revenue,Margin\nNorth,12,0\nSouth,0,0\n" {
		t.Errorf("cells --csv = %q", r.stdout)
	}
	r = tn.run(append([]string{"cells", "Sales", "--page", "Region=North"}, m...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "no page dimension") {
		t.Errorf("a --page of a row dimension: exit %d %s", r.code, r.stderr)
	}
}

// TestReadCommand: read view|list writes one CSV document (the header once)
// to a file, or to stdout with -o -, and refuses to replace a file.
func TestReadCommand(t *testing.T) {
	tn := dataTenant(t)
	m := []string{"--model", modelID, "--workspace", "Finance"}
	out := filepath.Join(t.TempDir(), "sales.csv")
	tn.ok(append([]string{"read", "view", "Sales", "-o", out}, m...)...)
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), "North") || strings.Count(string(b), "\n") < 2 {
		t.Fatalf("read view wrote %q (%v)", b, err)
	}
	if r := tn.run(append([]string{"read", "view", "Sales", "-o", out}, m...)...); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("an existing file: exit %d %s", r.code, r.stderr)
	}
	r := tn.ok(append([]string{"read", "list", "Region", "-o", "-"}, m...)...)
	if !strings.HasPrefix(r.stdout, ",Parent,Code") || !strings.Contains(r.stdout, "North") {
		t.Errorf("read list -o - = %q", r.stdout)
	}
	if r := tn.run(append([]string{"read", "module", "Sales"}, m...)...); r.code != 2 {
		t.Errorf("read module: exit %d", r.code)
	}
}
