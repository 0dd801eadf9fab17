package anaplan

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The pageWriter gets pages in pieces of any size (a page streams from the
// connection): the document it writes must not depend on where the
// pieces are cut.
func TestPageWriterPieces(t *testing.T) {
	tests := []struct {
		name  string
		pages []string
		want  string
	}{
		{name: "header on page 0 only", pages: []string{"a,b\n1,2\n", "3,4\n", "5,6\n"}, want: "a,b\n1,2\n3,4\n5,6\n"},
		{name: "header repeated", pages: []string{"a,b\n1,2\n", "a,b\n3,4\n", "a,b\n5,6\n"}, want: "a,b\n1,2\n3,4\n5,6\n"},
		{name: "header only on some pages", pages: []string{"a,b\n1,2\n", "3,4\n", "a,b\n5,6\n"}, want: "a,b\n1,2\n3,4\n5,6\n"},
		{name: "CRLF line ends", pages: []string{"a,b\r\n1,2\r\n", "a,b\r\n3,4\r\n"}, want: "a,b\r\n1,2\r\n3,4\r\n"},
		{name: "pages without a final line end", pages: []string{"a,b\n1,2", "a,b\n3,4", "5,6"}, want: "a,b\n1,2\n3,4\n5,6"},
		{name: "quoted line end in the header", pages: []string{"\"a\nx\",b\n1,2\n", "\"a\nx\",b\n3,4\n"}, want: "\"a\nx\",b\n1,2\n3,4\n"},
		{name: "escaped quotes in the header", pages: []string{"\"a\"\"\n\",b\n1,2\n", "\"a\"\"\n\",b\n3,4\n"}, want: "\"a\"\"\n\",b\n1,2\n3,4\n"},
		{name: "byte order marks", pages: []string{"\ufeffa,b\n1,2\n", "\ufeffa,b\n3,4\n"}, want: "\ufeffa,b\n1,2\n3,4\n"},
		{name: "a header-only page", pages: []string{"a,b\n", "a,b\n", "a,b\n1,2\n"}, want: "a,b\n1,2\n"},
		{name: "empty pages", pages: []string{"", "a,b\n1,2\n", "", "a,b\n3,4\n"}, want: "a,b\n1,2\n3,4\n"},
		{name: "header without a line end", pages: []string{"a,b", "a,b\n1,2\n"}, want: "a,b\n1,2\n"},
		{name: "a row like the header is kept when it is not first", pages: []string{"a,b\n1,2\n", "3,4\na,b\n"}, want: "a,b\n1,2\n3,4\na,b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= 12; size++ {
				var out bytes.Buffer
				pw := &pageWriter{s: newReadSink(&out, true), limit: 1 << 20}
				for _, page := range tc.pages {
					pw.begin()
					for b := []byte(page); len(b) > 0; {
						k := min(size, len(b))
						if err := pw.write(b[:k]); err != nil {
							t.Fatalf("pieces of %d: %v", size, err)
						}
						b = b[k:]
					}
					if err := pw.end(); err != nil {
						t.Fatalf("pieces of %d: %v", size, err)
					}
				}
				if diff := cmp.Diff(tc.want, out.String()); diff != "" {
					t.Fatalf("pieces of %d bytes (-want +got):\n%s", size, diff)
				}
			}
		})
	}
}

// After a restart the sink compares the new request's first bytes with
// what was written, wherever the pieces are cut, and writes only the rest.
func TestReadSinkReplay(t *testing.T) {
	var out bytes.Buffer
	s := newReadSink(&out, true)
	if err := s.write([]byte("hello, ")); err != nil {
		t.Fatal(err)
	}
	s.restart()
	for _, p := range []string{"hel", "lo", ", wor", "ld"} {
		if err := s.write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if s.replaying() || out.String() != "hello, world" {
		t.Errorf("after a replay: %q (replaying %v), want %q", out.String(), s.replaying(), "hello, world")
	}
	s.restart()
	err := s.write([]byte("hello, WORLD!"))
	if !errors.Is(err, errReadChanged) || out.String() != "hello, world" {
		t.Errorf("changed data: %v, w holds %q; want errReadChanged and nothing more written", err, out.String())
	}
}

// A first record longer than MaxPageBytes is refused, not gathered.
func TestPageWriterLimit(t *testing.T) {
	pw := &pageWriter{s: newReadSink(&bytes.Buffer{}, false), limit: 10}
	pw.begin()
	err := pw.write([]byte("\"a very long header that never ends"))
	if !errors.Is(err, errPageTooLarge) {
		t.Errorf("error %v, want errPageTooLarge", err)
	}
}
