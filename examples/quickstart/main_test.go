package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	t.Setenv("ANAPLAN_CONNECTION", "")
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	// Each line names the user once, with no empty name ("Ada , id" once).
	line := regexp.MustCompile(`^(Basic|Certificate): +signed in as ada@example\.com \((\S[^,()]*\S, )?id [0-9a-f]{16,}\); token valid until \S+$`)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		if !line.MatchString(l) || strings.Contains(l, " ,") {
			t.Errorf("line %q does not match %v", l, line)
		}
	}
}
