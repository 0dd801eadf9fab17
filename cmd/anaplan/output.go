package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

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
// cells cleaned of tabs, line breaks and terminal control characters.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		cleaned := make([]string, len(cells))
		for i, c := range cells {
			cleaned[i] = strings.Join(strings.Fields(clean(c)), " ")
			if cleaned[i] == "" {
				cleaned[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(cleaned, "\t"))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

// clean makes text from the server (names, messages) safe to print on a
// terminal: control characters (escape sequences start with one), Unicode
// direction overrides and invalid UTF-8 become spaces, so that a hostile
// name can neither move the cursor, recolour or retitle the terminal, nor
// reorder what is shown.
func clean(s string) string {
	ok := true
	for i, r := range s {
		if unsafeRune(r) || (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if unsafeRune(r) || (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune: C0 and C1 controls, DEL, and the bidirectional formatting
// characters.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// scrubArgs removes from a message for the person every argument of the
// command line that may hold a secret: a connection string, or anything
// else with "=" or ";" in it (a flag's value given as --flag=VALUE is
// looked at alone). Flag parse errors quote values, so quoted forms go too.
func scrubArgs(msg string, args []string) string {
	for _, a := range args {
		v := a
		if strings.HasPrefix(a, "-") {
			_, after, ok := strings.Cut(a, "=")
			if !ok {
				continue
			}
			v = after
		}
		if !mayHoldSecret(v) {
			continue
		}
		for _, form := range []string{strconv.Quote(v), v} {
			msg = strings.ReplaceAll(msg, form, "(an argument not shown: it may hold a secret)")
		}
	}
	return msg
}

// mayHoldSecret: the text looks like a connection string or a piece of one.
func mayHoldSecret(s string) bool {
	return strings.ContainsAny(s, "=;")
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
	stopped bool // after Ctrl-C: nothing more is drawn
}

func (a *app) progress(label string) *bar {
	b := &bar{label: label, minStep: 100 * time.Millisecond, now: time.Now}
	if a.terminal {
		b.w = a.stderr
		showBar(b)
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
	if b.stopped {
		return
	}
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
	hideBar(b)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
	b.drawn = false
}

// stop erases the bar's line and draws nothing more.
func (b *bar) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
	b.drawn, b.stopped = false, true
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
