package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-anaplan/anaplan"
)

// print writes v as JSON with --json, and otherwise the rows as a table.
func (a *app) print(v any, header []string, rows [][]string) error {
	if a.o.json {
		return a.printJSON(v)
	}
	return writeTable(a.stdout, header, rows)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeTable writes an aligned table: columns separated by two spaces,
// cells cleaned of tabs and line breaks.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		clean := make([]string, len(cells))
		for i, c := range cells {
			clean[i] = strings.Join(strings.Fields(c), " ")
			if clean[i] == "" {
				clean[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(clean, "\t"))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// note writes a line for the person on stderr, leaving stdout to data.
func (a *app) note(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// size formats a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// bar draws progress on stderr when it is a terminal, and nothing otherwise.
type bar struct {
	w       io.Writer // nil: disabled
	label   string
	mu      sync.Mutex
	last    time.Time
	drawn   bool
	minStep time.Duration
	now     func() time.Time
}

func (a *app) progress(label string) *bar {
	b := &bar{label: label, minStep: 100 * time.Millisecond, now: time.Now}
	if a.terminal {
		b.w = a.stderr
	}
	return b
}

// transfer shows a transfer's progress.
func (b *bar) transfer(p anaplan.Progress) {
	if b == nil || b.w == nil {
		return
	}
	final := p.TotalChunks > 0 && p.Chunks == p.TotalChunks
	b.draw(final, func() string { return renderTransfer(b.label, p) })
}

// task shows a task's progress.
func (b *bar) task(t anaplan.Task) {
	if b == nil || b.w == nil {
		return
	}
	b.draw(t.State.Final(), func() string { return renderTask(b.label, t) })
}

func (b *bar) draw(force bool, text func() string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !force && b.drawn && now.Sub(b.last) < b.minStep {
		return
	}
	b.last, b.drawn = now, true
	fmt.Fprintf(b.w, "\r\033[K%s", text())
}

// done ends the bar's line.
func (b *bar) done() {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

const barWidth = 30

func gauge(frac float64) string {
	frac = min(max(frac, 0), 1)
	n := int(frac*barWidth + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "]"
}

func renderTransfer(label string, p anaplan.Progress) string {
	if p.TotalBytes > 0 {
		frac := float64(p.Bytes) / float64(p.TotalBytes)
		return fmt.Sprintf("%s %s %3.0f%% %s / %s", label, gauge(frac), frac*100, size(p.Bytes), size(p.TotalBytes))
	}
	if p.TotalChunks > 0 {
		frac := float64(p.Chunks) / float64(p.TotalChunks)
		return fmt.Sprintf("%s %s %3.0f%% %s", label, gauge(frac), frac*100, size(p.Bytes))
	}
	return fmt.Sprintf("%s %s, %d chunks", label, size(p.Bytes), p.Chunks)
}

func renderTask(label string, t anaplan.Task) string {
	state := strings.ToLower(strings.ReplaceAll(string(t.State), "_", " "))
	return fmt.Sprintf("%s %s %3.0f%% %s", label, gauge(t.Progress), t.Progress*100, state)
}
