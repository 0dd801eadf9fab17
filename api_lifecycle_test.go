package anaplan_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
	"github.com/go-anaplan/anaplan/anaplantest"
	"github.com/google/go-cmp/cmp"
)

func TestModelStatusFallback(t *testing.T) {
	for _, postOnly := range []bool{false, true} {
		name := "GET"
		if postOnly {
			name = "GET 405, then POST"
		}
		t.Run(name, func(t *testing.T) {
			d := salesModel()
			d.StatusPOSTOnly = postOnly
			f := newDataFixture(t, d)
			s, err := f.m.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !s.IsOpen() || s.IsClosed() || s.Busy() || s.Progress != -1 || s.CreationTime.IsZero() {
				t.Errorf("status = %+v, want open and idle", s)
			}
			gets := f.srv.Calls("GET /2/0/models/{modelID}/status")
			posts := f.srv.Calls("POST /2/0/workspaces/{workspaceID}/models/{modelID}/status")
			wantPosts := 0
			if postOnly {
				wantPosts = 1
			}
			if gets != 1 || posts != wantPosts {
				t.Errorf("%d GETs and %d POSTs, want 1 and %d", gets, posts, wantPosts)
			}
		})
	}
}

func TestOpenCloseModelWait(t *testing.T) {
	d := salesModel()
	d.Closed = true
	d.LifecyclePolls = 2
	f := newDataFixture(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Without Wait the call returns at once; the model is still opening.
	if err := f.m.OpenModel(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if step := f.srv.ModelStep(testWS, testModel); step != "Opening" {
		t.Errorf("step after open = %q, want Opening", step)
	}
	var seen []string
	opts := &anaplan.ModelWaitOptions{Wait: true, PollInterval: time.Millisecond, Progress: func(s anaplan.ModelStatus) { seen = append(seen, s.CurrentStep) }}
	if err := f.m.OpenModel(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Opening", "Opening", "Open"}, seen); diff != "" {
		t.Errorf("steps seen (-want +got):\n%s", diff)
	}
	seen = nil
	if err := f.m.CloseModel(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Closing", "Closing", "Closed"}, seen); diff != "" {
		t.Errorf("steps seen closing (-want +got):\n%s", diff)
	}

	// A wait that ctx ends says so.
	d.LifecyclePolls = 1 << 20
	if err := f.srv.AddModelData(testWS, testModel, d); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	err := f.m.OpenModel(short, &anaplan.ModelWaitOptions{Wait: true, PollInterval: 5 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "may still do so") {
		t.Errorf("err = %v, want a wait cut short by ctx", err)
	}
}

func TestCalendarAndVersions(t *testing.T) {
	d := salesModel()
	d.Years = 2
	d.CurrentPeriod = "2024-03-10"
	f := newDataFixture(t, d)
	ctx := context.Background()

	p, err := f.m.CurrentPeriod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&anaplan.Period{Text: "Mar 24", LastDay: "2024-03-31", CalendarType: "Calendar Months/Quarters/Years"}, p); diff != "" {
		t.Errorf("current period (-want +got):\n%s", diff)
	}
	if p, err = f.m.SetCurrentPeriod(ctx, "2025-02-01"); err != nil || p.Text != "Feb 25" || p.LastDay != "2025-02-28" {
		t.Errorf("SetCurrentPeriod = %+v, %v", p, err)
	}
	if p, err = f.m.SetCurrentPeriod(ctx, ""); err != nil || p.Text != "" {
		t.Errorf("reset = %+v, %v", p, err)
	}
	if _, err := f.m.SetCurrentPeriod(ctx, "2031-01-01"); !isStatus(err, 400) {
		t.Errorf("a date out of range = %v, want a 400", err)
	}
	if _, err := f.m.SetCurrentPeriod(ctx, "01/02/2024"); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("a malformed date = %v, want an error naming the form", err)
	}

	cal, err := f.m.ModelCalendar(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cal.CalendarType == "" || cal.FiscalYear == nil || cal.FiscalYear.Year != "FY24" || cal.FutureYears != 1 || !cal.Totals["quarterTotals"] {
		t.Errorf("calendar = %+v", cal)
	}
	fy, err := f.m.SetFiscalYear(ctx, "FY25")
	if err != nil || fy.Year != "FY25" || fy.StartDate != "2025-01-01" {
		t.Errorf("SetFiscalYear = %+v, %v", fy, err)
	}
	if _, err := f.m.SetFiscalYear(ctx, "FY40"); !isStatus(err, 400) || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("a year out of range = %v", err)
	}

	vs, err := f.m.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || !vs[0].IsActual || !vs[1].IsCurrent || vs[1].EditFrom == nil || vs[1].EditFrom.Date != "2024-01-01" || vs[1].Switchover != nil {
		t.Fatalf("versions = %+v", vs)
	}
	so, err := f.m.SetSwitchover(ctx, vs[1].ID, "2024-07-15")
	if err != nil || so.PeriodText != "Jul 24" || so.Date != "2024-07-01" {
		t.Errorf("SetSwitchover = %+v, %v", so, err)
	}
	vs, _ = f.m.Versions(ctx)
	if vs[1].Switchover == nil || vs[1].Switchover.PeriodText != "Jul 24" {
		t.Errorf("switchover after set = %+v", vs[1].Switchover)
	}
	if _, err := f.m.SetSwitchover(ctx, vs[0].ID, "2024-07-15"); !isStatus(err, 400) {
		t.Errorf("switchover of Actual = %v, want a 400", err)
	}
}

func TestLifecycleNoAccess(t *testing.T) {
	f := newFixture(t)
	f.srv.AddModel(testWS, anaplantest.Model{ID: "hidden", Users: []string{"someone@else"}})
	m := f.c.Model(testWS, "hidden")
	if _, err := m.Status(context.Background()); !isStatus(err, 404) || !strings.Contains(err.Error(), "no access") {
		t.Errorf("Status of a model without access = %v, want a 404 that says so", err)
	}
	if _, err := m.Versions(context.Background()); !isStatus(err, 404) {
		t.Errorf("Versions = %v", err)
	}
}
