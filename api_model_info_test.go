package anaplan_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
)

// TestModelInfo: Info asks GET {api}/models/{m}?modelDetails=true, never
// the workspace path that Anaplan answers 405 (issue 8.1; Info got that
// 405 before).
func TestModelInfo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.srv.AddModel(testWS, anaplantest.Model{ID: testModel, Name: "Budget", MemoryUsage: 123456789})
	info, err := f.m.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != testModel || info.WorkspaceID != testWS || info.MemoryUsage != 123456789 || info.CreationDate == "" {
		t.Errorf("Info = %+v, want the model with its details", info)
	}
	if n := f.srv.Calls("GET /2/0/models/{modelID}"); n != 1 {
		t.Errorf("%d requests for GET /2/0/models/{modelID}, want 1", n)
	}
	if n := f.srv.Calls("GET " + modelPattern); n != 0 {
		t.Errorf("%d requests for the workspace path (405 in Anaplan)", n)
	}

	t.Run("the lists ask for details", func(t *testing.T) {
		for name, seq := range map[string]func() ([]anaplan.Model, error){
			"Models":          func() ([]anaplan.Model, error) { return anaplan.Collect(f.c.Models(ctx)) },
			"WorkspaceModels": func() ([]anaplan.Model, error) { return anaplan.Collect(f.c.WorkspaceModels(ctx, testWS)) },
		} {
			ms, err := seq()
			if err != nil || len(ms) != 1 || ms[0].MemoryUsage != 123456789 {
				t.Errorf("%s = %+v, %v; want the details", name, ms, err)
			}
		}
	})

	t.Run("a model of another workspace", func(t *testing.T) {
		_, err := f.c.Model("OTHER-WS", testModel).Info(ctx)
		if err == nil || !strings.Contains(err.Error(), testWS) || !strings.Contains(err.Error(), "Client.Model") {
			t.Errorf("Info: %v; want an error naming the model's workspace", err)
		}
	})

	t.Run("no such model", func(t *testing.T) {
		_, err := f.c.Model(testWS, "NO-SUCH-MODEL").Info(ctx)
		var ae *anaplan.APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || ae.Hint == "" {
			t.Errorf("Info: %v; want a 404 with the no-access hint", err)
		}
	})
}
