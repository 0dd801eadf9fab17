package anaplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file is a model's life cycle and calendar: its status, opening
// (waking) and closing it, the current period, the model calendar and fiscal
// year, versions and their switchover dates. Wire reference:
// ANAPLAN-DATA.md §1.9 and §1.15–§1.20.

// ModelStatus is what a model is doing (requestStatus).
type ModelStatus struct {
	// CurrentStep is "Open" or "Closed" when the model is idle, "Closing",
	// "Processing …" during an import or export, "Updating" during a cell
	// write.
	CurrentStep string
	Progress    float64 // 0 to 1 while a step runs; -1 when idle
	Tooltip     string  // who is doing what, when Anaplan says
	TaskID      string
	// ExportTaskType is the kind of export running, if any.
	ExportTaskType          string
	CreationTime            time.Time // zero when not sent
	PeakMemoryUsageEstimate int64     // bytes; 0 when not sent
	PeakMemoryUsageTime     int64     // as Anaplan sent it; 0 when not sent
}

// IsOpen reports whether the model is open and idle.
func (s *ModelStatus) IsOpen() bool { return strings.EqualFold(s.CurrentStep, "Open") }

// IsClosed reports whether the model is closed.
func (s *ModelStatus) IsClosed() bool { return strings.EqualFold(s.CurrentStep, "Closed") }

// Busy reports whether the model is running an import, export or cell
// write, during which other changes wait.
func (s *ModelStatus) Busy() bool {
	step := strings.ToLower(s.CurrentStep)
	return strings.HasPrefix(step, "processing") || strings.HasPrefix(step, "updating")
}

type wireModelStatus struct {
	RequestStatus *struct {
		PeakMemoryUsageEstimate *flexInt `json:"peakMemoryUsageEstimate"`
		PeakMemoryUsageTime     *flexInt `json:"peakMemoryUsageTime"`
		Progress                *float64 `json:"progress"`
		CurrentStep             string   `json:"currentStep"`
		Tooltip                 *string  `json:"tooltip"`
		TaskID                  *flexID  `json:"taskId"`
		CreationTime            *flexInt `json:"creationTime"`
		ExportTaskType          *string  `json:"exportTaskType"`
	} `json:"requestStatus"`
}

func (w *wireModelStatus) status() (*ModelStatus, error) {
	r := w.RequestStatus
	if r == nil {
		return nil, errors.New("anaplan: the model status answer holds no requestStatus")
	}
	s := &ModelStatus{CurrentStep: r.CurrentStep, Progress: -1}
	if r.Progress != nil {
		s.Progress = *r.Progress
	}
	if r.Tooltip != nil {
		s.Tooltip = *r.Tooltip
	}
	if r.TaskID != nil {
		s.TaskID = string(*r.TaskID)
	}
	if r.ExportTaskType != nil {
		s.ExportTaskType = *r.ExportTaskType
	}
	if r.CreationTime != nil && *r.CreationTime > 0 {
		s.CreationTime = time.UnixMilli(int64(*r.CreationTime)).UTC()
	}
	if r.PeakMemoryUsageEstimate != nil {
		s.PeakMemoryUsageEstimate = int64(*r.PeakMemoryUsageEstimate)
	}
	if r.PeakMemoryUsageTime != nil {
		s.PeakMemoryUsageTime = int64(*r.PeakMemoryUsageTime)
	}
	return s, nil
}

// Status returns what the model is doing. It asks GET {api}/models/{m}/status
// (what Anaplan serves today) and, when that answers 405, POST
// …/workspaces/{ws}/models/{m}/status (what its reference documents); both
// answers are read with or without the meta/status envelope. Neither
// changes anything, so both are retried like reads.
func (m *ModelHandle) Status(ctx context.Context) (*ModelStatus, error) {
	var v wireModelStatus
	err := m.c.getJSON(ctx, m.modelBase()+"/status", &v, true)
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusMethodNotAllowed {
		v = wireModelStatus{}
		var req *http.Request
		req, err = m.c.newRequest(withRetrySafe(ctx), http.MethodPost, m.base+"/status", nil, "application/json")
		if err != nil {
			return nil, err
		}
		err = m.c.doJSON(req, &v, true)
	}
	if err != nil {
		return nil, modelHint(err)
	}
	return v.status()
}

// ModelWaitOptions tune OpenModel and CloseModel. The zero value (or nil)
// sends the request and returns without waiting.
type ModelWaitOptions struct {
	// Wait makes the call poll Status until the model is open (or closed).
	Wait bool
	// PollInterval is the first wait between status requests (default 1 s);
	// it grows by half each time up to MaxPollInterval (default 15 s).
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Progress, when set, is called with every status seen while waiting.
	Progress func(ModelStatus)
}

// OpenModel opens (wakes) the model: POST {api}/models/{m}/open. Anaplan
// opens it in the background; with opts.Wait, OpenModel returns once Status
// says "Open" (or ctx ends). Opening an open model is harmless.
func (m *ModelHandle) OpenModel(ctx context.Context, opts *ModelWaitOptions) error {
	return m.lifecycle(ctx, "open", (*ModelStatus).IsOpen, opts)
}

// CloseModel closes the model: POST {api}/models/{m}/close. It needs a
// workspace administrator (else 403). With opts.Wait, CloseModel returns once
// Status says "Closed" (or ctx ends).
func (m *ModelHandle) CloseModel(ctx context.Context, opts *ModelWaitOptions) error {
	return m.lifecycle(ctx, "close", (*ModelStatus).IsClosed, opts)
}

func (m *ModelHandle) lifecycle(ctx context.Context, verb string, done func(*ModelStatus) bool, opts *ModelWaitOptions) error {
	// Anaplan's own clients send an empty body labelled application/text.
	req, err := m.c.newRequest(ctx, http.MethodPost, m.modelBase()+"/"+verb, nil, "application/text")
	if err != nil {
		return err
	}
	if err := m.c.doJSON(req, nil, true); err != nil {
		return modelHint(err)
	}
	if opts == nil || !opts.Wait {
		return nil
	}
	interval, maxInterval := opts.PollInterval, opts.MaxPollInterval
	if interval <= 0 {
		interval = time.Second
	}
	if maxInterval <= 0 {
		maxInterval = 15 * time.Second
	}
	maxInterval = max(maxInterval, interval)
	timer := time.NewTimer(0) // the first poll is immediate
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return errorf("anaplan: waiting for the model to %s (it may still do so): %w", verb, ctx.Err())
		case <-timer.C:
		}
		s, err := m.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return errorf("anaplan: waiting for the model to %s (it may still do so): %w", verb, err)
			}
			return errorf("anaplan: waiting for the model to %s: %w", verb, err)
		}
		if opts.Progress != nil {
			opts.Progress(*s)
		}
		if done(s) {
			return nil
		}
		timer.Reset(interval)
		interval = min(interval*3/2, maxInterval)
	}
}

// Period is a period of the model's calendar.
type Period struct {
	Text         string // periodText: "Jan 24"; "" when the current period is not set
	LastDay      string // YYYY-MM-DD
	CalendarType string // "Calendar Months/Quarters/Years", "Weeks: General"…
}

type wirePeriod struct {
	PeriodText   string `json:"periodText"`
	LastDay      string `json:"lastDay"`
	CalendarType string `json:"calendarType"`
}

func (w *wirePeriod) period() *Period {
	if w == nil {
		return nil
	}
	return &Period{Text: w.PeriodText, LastDay: w.LastDay, CalendarType: w.CalendarType}
}

// checkDate accepts "" (reset) and YYYY-MM-DD.
func checkDate(what, date string) error {
	if date == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return errorf("anaplan: the %s %q is not a date in the form YYYY-MM-DD (or \"\" to clear it)", what, date)
	}
	return nil
}

// CurrentPeriod returns the model's current period; its Text is "" when the
// current period is not set.
func (m *ModelHandle) CurrentPeriod(ctx context.Context) (*Period, error) {
	var v struct {
		CurrentPeriod *wirePeriod `json:"currentPeriod"`
	}
	if err := m.getModelJSON(ctx, m.base+"/currentPeriod", &v); err != nil {
		return nil, err
	}
	if v.CurrentPeriod == nil {
		return &Period{}, nil
	}
	return v.CurrentPeriod.period(), nil
}

// SetCurrentPeriod sets the model's current period to the period holding
// date (YYYY-MM-DD; "" resets it) and returns the new current period. A date
// outside the model's time scale answers 400.
func (m *ModelHandle) SetCurrentPeriod(ctx context.Context, date string) (*Period, error) {
	if err := checkDate("date", date); err != nil {
		return nil, err
	}
	var v struct {
		CurrentPeriod *wirePeriod `json:"currentPeriod"`
	}
	body := map[string]string{"date": date}
	if err := m.sendModelJSON(ctx, http.MethodPut, m.base+"/currentPeriod", body, &v); err != nil {
		return nil, err
	}
	if v.CurrentPeriod == nil {
		return &Period{}, nil
	}
	return v.CurrentPeriod.period(), nil
}

// FiscalYear is the model's fiscal year.
type FiscalYear struct {
	Year      string // "FY24"
	StartDate string // YYYY-MM-DD
	EndDate   string
}

// Calendar is the model's calendar (GET …/modelCalendar). Fields Anaplan
// left out are zero; a "Weeks: General" calendar may have none.
type Calendar struct {
	CalendarType  string
	FiscalYear    *FiscalYear
	CurrentPeriod *Period
	PastYears     int
	FutureYears   int
	StartDate     string
	WeeksCount    int
	// Totals are totalsSelection's flags, by the name Anaplan's reference
	// uses (quarterTotals, halfYearTotals, yearToDateSummary,
	// yearToGoSummary, totalOfAllPeriods, extraMonthQuarter): answers that
	// spell them isQuarterTotals… are mapped to the same names.
	Totals map[string]bool
	// ExtraWeekMonth, WeekFormat and WeekGrouping are the week calendars'
	// settings as Anaplan sent them.
	ExtraWeekMonth, WeekFormat, WeekGrouping string
}

type wireFiscalYear struct {
	Year      flexString `json:"year"`
	StartDate string     `json:"startDate"`
	EndDate   string     `json:"endDate"`
}

func (w *wireFiscalYear) fiscalYear() *FiscalYear {
	if w == nil {
		return nil
	}
	return &FiscalYear{Year: string(w.Year), StartDate: w.StartDate, EndDate: w.EndDate}
}

// totalName maps isQuarterTotals to quarterTotals.
func totalName(k string) string {
	if rest, ok := strings.CutPrefix(k, "is"); ok && rest != "" {
		r, n := utf8.DecodeRuneInString(rest)
		if unicode.IsUpper(r) {
			return string(unicode.ToLower(r)) + rest[n:]
		}
	}
	return k
}

// ModelCalendar returns the model's calendar.
func (m *ModelHandle) ModelCalendar(ctx context.Context) (*Calendar, error) {
	var v struct {
		ModelCalendar *struct {
			CalendarType    string                     `json:"calendarType"`
			FiscalYear      *wireFiscalYear            `json:"fiscalYear"`
			CurrentPeriod   *wirePeriod                `json:"currentPeriod"`
			PastYears       flexInt                    `json:"pastYearsCount"`
			FutureYears     flexInt                    `json:"futureYearsCount"`
			StartDate       string                     `json:"startDate"`
			WeeksCount      flexInt                    `json:"weeksCount"`
			TotalsSelection map[string]json.RawMessage `json:"totalsSelection"`
			ExtraWeekMonth  flexString                 `json:"extraWeekMonth"`
			WeekFormat      flexString                 `json:"weekFormat"`
			WeekGrouping    flexString                 `json:"weekGrouping"`
		} `json:"modelCalendar"`
	}
	if err := m.getModelJSON(ctx, m.base+"/modelCalendar", &v); err != nil {
		return nil, err
	}
	c := v.ModelCalendar
	if c == nil {
		return &Calendar{}, nil
	}
	cal := &Calendar{
		CalendarType: c.CalendarType, FiscalYear: c.FiscalYear.fiscalYear(), CurrentPeriod: c.CurrentPeriod.period(),
		PastYears: int(c.PastYears), FutureYears: int(c.FutureYears), StartDate: c.StartDate, WeeksCount: int(c.WeeksCount),
		ExtraWeekMonth: string(c.ExtraWeekMonth), WeekFormat: string(c.WeekFormat), WeekGrouping: string(c.WeekGrouping),
	}
	for k, raw := range c.TotalsSelection {
		var b bool
		if json.Unmarshal(bytes.TrimSpace(raw), &b) == nil {
			if cal.Totals == nil {
				cal.Totals = map[string]bool{}
			}
			cal.Totals[totalName(k)] = b
		}
	}
	return cal, nil
}

// SetFiscalYear sets the model's fiscal year ("FY24") and returns it as
// Anaplan now has it. A year out of the model's range answers 400.
func (m *ModelHandle) SetFiscalYear(ctx context.Context, year string) (*FiscalYear, error) {
	if strings.TrimSpace(year) == "" {
		return nil, errors.New("anaplan: the fiscal year is empty (want a label such as FY24)")
	}
	var v struct {
		ModelCalendar *struct {
			FiscalYear *wireFiscalYear `json:"fiscalYear"`
		} `json:"modelCalendar"`
	}
	if err := m.sendModelJSON(ctx, http.MethodPut, m.base+"/modelCalendar/fiscalYear", map[string]string{"year": year}, &v); err != nil {
		return nil, err
	}
	if v.ModelCalendar == nil || v.ModelCalendar.FiscalYear == nil {
		return &FiscalYear{Year: year}, nil
	}
	return v.ModelCalendar.FiscalYear.fiscalYear(), nil
}

// VersionDate is a period bound of a version: its label and date.
type VersionDate struct {
	PeriodText string
	Date       string // YYYY-MM-DD
}

// ModelVersion is a version of the model (Actual, Forecast…).
type ModelVersion struct {
	ID, Name, Code string
	IsCurrent      bool
	IsActual       bool
	EditFrom       *VersionDate
	EditTo         *VersionDate
	Switchover     *VersionDate // nil when the version has none
	Formula        string
	Notes          string
}

type wireVersionDate struct {
	PeriodText string `json:"periodText"`
	Date       string `json:"date"`
}

func (w *wireVersionDate) date() *VersionDate {
	if w == nil || (w.PeriodText == "" && w.Date == "") {
		return nil
	}
	return &VersionDate{PeriodText: w.PeriodText, Date: w.Date}
}

// Versions returns the model's versions.
func (m *ModelHandle) Versions(ctx context.Context) ([]ModelVersion, error) {
	var v struct {
		Versions []struct {
			ID         flexID           `json:"id"`
			Name       string           `json:"name"`
			Code       string           `json:"code"`
			IsCurrent  bool             `json:"isCurrent"`
			IsActual   bool             `json:"isActual"`
			EditFrom   *wireVersionDate `json:"editFrom"`
			EditTo     *wireVersionDate `json:"editTo"`
			Switchover *wireVersionDate `json:"switchover"`
			Formula    string           `json:"formula"`
			Notes      string           `json:"notes"`
		} `json:"versionMetadata"`
	}
	if err := m.getModelJSON(ctx, m.base+"/versions", &v); err != nil {
		return nil, err
	}
	out := make([]ModelVersion, len(v.Versions))
	for i, w := range v.Versions {
		out[i] = ModelVersion{
			ID: string(w.ID), Name: w.Name, Code: w.Code, IsCurrent: w.IsCurrent, IsActual: w.IsActual,
			EditFrom: w.EditFrom.date(), EditTo: w.EditTo.date(), Switchover: w.Switchover.date(),
			Formula: w.Formula, Notes: w.Notes,
		}
	}
	return out, nil
}

// Switchover is a version's switchover date as Anaplan set it.
type Switchover struct {
	PeriodText   string
	Date         string
	CalendarType string
}

// SetSwitchover sets the switchover date of a version (YYYY-MM-DD; ""
// clears it). Anaplan answers 400 for the Actual version, for an earlier
// date than allowed, and for a date outside the model's years.
func (m *ModelHandle) SetSwitchover(ctx context.Context, versionID, date string) (*Switchover, error) {
	if err := checkID("version", versionID); err != nil {
		return nil, err
	}
	if err := checkDate("switchover date", date); err != nil {
		return nil, err
	}
	var v struct {
		S *struct {
			PeriodText   string `json:"periodText"`
			Date         string `json:"date"`
			CalendarType string `json:"calendarType"`
		} `json:"versionSwitchover"`
	}
	u := m.modelBase() + "/versions/" + url.PathEscape(versionID) + "/switchover"
	if err := m.sendModelJSON(ctx, http.MethodPut, u, map[string]string{"date": date}, &v); err != nil {
		return nil, err
	}
	if v.S == nil {
		return &Switchover{Date: date}, nil
	}
	return &Switchover{PeriodText: v.S.PeriodText, Date: v.S.Date, CalendarType: v.S.CalendarType}, nil
}
