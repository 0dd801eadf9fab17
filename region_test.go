package anaplan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

func TestRegionEndpoints(t *testing.T) {
	shared := [3]string{"https://auth.anaplan.com", "https://api.anaplan.com/2/0", "https://us1a.app.anaplan.com"}
	want := map[anaplan.Region][3]string{
		anaplan.US1: shared, anaplan.US2: shared, anaplan.US5: shared, anaplan.US7: shared,
		anaplan.EU1: shared, anaplan.EU2: shared, anaplan.EU4: shared, anaplan.AP1: shared,
		anaplan.CA1: {"https://ca1a.auth.anaplan.com", "https://ca1a.api.anaplan.com/2/0", "https://ca1a.app.anaplan.com"},
		anaplan.AU1: {"https://au1a.app2.anaplan.com", "https://api.au1a.app2.anaplan.com/2/0", "https://au1a.app2.anaplan.com"},
	}
	for _, r := range []anaplan.Region{anaplan.US9, anaplan.EU3, anaplan.EU5, anaplan.GB1, anaplan.SG1, anaplan.AE1, anaplan.IN1, anaplan.ID1, anaplan.ME1} {
		l := strings.ToLower(string(r))
		want[r] = [3]string{"https://" + l + ".auth.anaplan.com", "https://" + l + ".api.anaplan.com/2/0", "https://" + l + ".app.anaplan.com"}
	}
	if len(want) != 19 || len(anaplan.Regions()) != 19 {
		t.Fatalf("want all 19 regions, have %d / %d", len(want), len(anaplan.Regions()))
	}
	for _, r := range anaplan.Regions() {
		w, ok := want[r]
		if !ok {
			t.Fatalf("unexpected region %s", r)
		}
		e, err := r.Endpoints()
		if err != nil {
			t.Fatal(err)
		}
		got := anaplan.Endpoints{Auth: w[0], API: w[1], OAuth: oauth2.Endpoint{
			AuthURL: w[2] + "/auth/authorize", TokenURL: w[2] + "/oauth/token", DeviceAuthURL: w[2] + "/oauth/device/code",
			AuthStyle: oauth2.AuthStyleInParams,
		}}
		if d := cmp.Diff(got, e); d != "" {
			t.Errorf("%s (-want +got):\n%s", r, d)
		}
		lower, err := anaplan.ParseRegion(" " + strings.ToLower(string(r)) + " ")
		if err != nil || lower != r {
			t.Errorf("ParseRegion(%s) = %v %v", strings.ToLower(string(r)), lower, err)
		}
	}
	_, err := anaplan.ParseRegion("XX9")
	if err == nil || !strings.Contains(err.Error(), "EU1") || !strings.Contains(err.Error(), "AU1") {
		t.Fatalf("error must list the valid regions: %v", err)
	}
}

func TestEndpointOverridesAndChecks(t *testing.T) {
	ctx := context.Background()
	ts := anaplan.TokenSourceFunc(func(context.Context) (*anaplan.Token, error) { return &anaplan.Token{Value: "v"}, nil })
	c, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithRegion("gb1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoints().API != "https://gb1.api.anaplan.com/2/0" {
		t.Fatalf("region: %+v", c.Endpoints())
	}
	c, err = anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.FromConnectionString("Region=EU3;APIURL=https://private.example.com/2/0/;OAuthURL=https://oauth.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Endpoints()
	if e.API != "https://private.example.com/2/0" || e.Auth != "https://eu3.auth.anaplan.com" || e.OAuth.TokenURL != "https://oauth.example.com/oauth/token" {
		t.Fatalf("overrides: %+v", e)
	}
	// Default region.
	c, _ = anaplan.New(ctx, anaplan.WithTokenSource(ts))
	if c.Endpoints().Auth != "https://auth.anaplan.com" {
		t.Fatalf("default: %+v", c.Endpoints())
	}
	for _, e := range []anaplan.Endpoints{
		{API: "http://api.example.com/2/0"},
		{Auth: "ftp://auth.example.com"},
		{Auth: "https://user:pw@auth.example.com"},
		{API: "not a url"},
	} {
		if _, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithEndpoints(e)); err == nil {
			t.Errorf("%+v accepted", e)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error shows user info: %v", err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"} {
		if _, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithEndpoints(anaplan.Endpoints{Auth: ok})); err != nil {
			t.Errorf("loopback %s refused: %v", ok, err)
		}
	}
	if _, err := anaplan.New(ctx, anaplan.WithTokenSource(ts), anaplan.WithRegion("Mars")); err == nil {
		t.Error("bad region accepted")
	}
}
