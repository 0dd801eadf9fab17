package main

import (
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	t.Setenv("ANAPLAN_CONNECTION", "")
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Basic:      signed in as ada@example.com", "Certificate: signed in as ada@example.com"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
