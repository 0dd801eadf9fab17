package anaplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file decodes a view's format=v1 answer into a Grid without
// reflection: a million-cell view is decoded in one pass, and the cells of
// a row share one allocation.

// gridParser walks a JSON document held in memory.
type gridParser struct {
	b []byte
	i int
	// spans are the cells of the row being read: offsets into b for plain
	// strings (s >= 0), or an index into strs for strings that needed
	// unescaping (s < 0).
	spans []span
	strs  []string
}

type span struct{ s, e int }

var errGridSyntax = errors.New("the view's data is not the JSON expected")

func (p *gridParser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errGridSyntax, what, p.i)
}

func (p *gridParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *gridParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *gridParser) expect(c byte) error {
	if p.peek() != c {
		return p.fail("want " + string(c))
	}
	p.i++
	return nil
}

// null consumes a null, if there is one.
func (p *gridParser) null() bool {
	if p.peek() == 'n' && len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// scalar reads a string (or, tolerantly, a number, bool or null, as its
// text) and returns its span: plain strings as offsets into b, others
// through strs.
func (p *gridParser) scalar() (span, error) {
	if p.peek() != '"' {
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t' {
				break
			}
			p.i++
		}
		lit := string(p.b[start:p.i])
		switch {
		case lit == "":
			return span{}, p.fail("want a value")
		case lit == "null":
			lit = ""
		case lit[0] == '{' || lit[0] == '[':
			return span{}, p.fail("want a string")
		}
		p.strs = append(p.strs, lit)
		return span{-len(p.strs), 0}, nil
	}
	start := p.i + 1
	high := false
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			if high && !utf8.Valid(p.b[start:j]) {
				return p.escaped(start - 1) // encoding/json's replacement of bad UTF-8
			}
			p.i = j + 1
			return span{start, j}, nil
		case c >= utf8.RuneSelf:
			high = true
		case c == '\\':
			return p.escaped(start - 1)
		case c < 0x20:
			p.i = j
			return span{}, p.fail("control character in a string")
		}
	}
	p.i = len(p.b)
	return span{}, p.fail("unterminated string")
}

// escaped reads a string with escapes that starts at q (its quote).
func (p *gridParser) escaped(q int) (span, error) {
	j := q + 1
	for ; j < len(p.b); j++ {
		if p.b[j] == '\\' {
			j++
			continue
		}
		if p.b[j] == '"' {
			break
		}
	}
	if j >= len(p.b) {
		p.i = len(p.b)
		return span{}, p.fail("unterminated string")
	}
	var s string
	if err := json.Unmarshal(p.b[q:j+1], &s); err != nil {
		p.i = q
		return span{}, p.fail("bad string escape")
	}
	p.i = j + 1
	p.strs = append(p.strs, s)
	return span{-len(p.strs), 0}, nil
}

// str reads one string on its own.
func (p *gridParser) str() (string, error) {
	p.strs = p.strs[:0]
	sp, err := p.scalar()
	if err != nil {
		return "", err
	}
	return p.text(sp, "", 0), nil
}

// text returns the string of a span; plain ones are cut from arena, which
// holds b[base:…].
func (p *gridParser) text(sp span, arena string, base int) string {
	if sp.s < 0 {
		return p.strs[-sp.s-1]
	}
	if arena == "" {
		return string(p.b[sp.s:sp.e])
	}
	return arena[sp.s-base : sp.e-base]
}

// spansOf reads an array of strings (or null) into p.spans.
func (p *gridParser) spansOf() error {
	p.spans = p.spans[:0]
	if p.null() {
		return nil
	}
	if err := p.expect('['); err != nil {
		return err
	}
	if p.peek() == ']' {
		p.i++
		return nil
	}
	for {
		sp, err := p.scalar()
		if err != nil {
			return err
		}
		p.spans = append(p.spans, sp)
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.fail("want , or ]")
		}
	}
}

// strings reads an array of strings, each its own allocation.
func (p *gridParser) strings() ([]string, error) {
	p.strs = p.strs[:0]
	if err := p.spansOf(); err != nil {
		return nil, err
	}
	out := make([]string, len(p.spans))
	for k, sp := range p.spans {
		out[k] = p.text(sp, "", 0)
	}
	return out, nil
}

// skip skips any JSON value.
func (p *gridParser) skip() error {
	switch p.peek() {
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return nil
				}
			case '"':
				p.strs = p.strs[:0]
				if _, err := p.scalar(); err != nil {
					return err
				}
				continue
			}
			p.i++
		}
		return p.fail("unterminated value")
	}
	p.strs = p.strs[:0]
	_, err := p.scalar()
	return err
}

// members calls f for each key of an object (or null).
func (p *gridParser) members(f func(key string) error) error {
	if p.null() {
		return nil
	}
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek() == '}' {
		p.i++
		return nil
	}
	for {
		k, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("want , or }")
		}
	}
}

// elements calls f for each element of an array (or null).
func (p *gridParser) elements(f func() error) error {
	if p.null() {
		return nil
	}
	if err := p.expect('['); err != nil {
		return err
	}
	if p.peek() == ']' {
		p.i++
		return nil
	}
	for {
		if err := f(); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.fail("want , or ]")
		}
	}
}

// row reads {"rowCoordinates":[…],"cells":[…]}. The cells of a row are cut
// from one string holding the row's text.
func (p *gridParser) row() (GridRow, error) {
	var r GridRow
	err := p.members(func(k string) error {
		// Keys match as encoding/json matches them: ignoring case.
		switch strings.ToLower(k) {
		case "rowcoordinates":
			l, err := p.strings()
			r.Labels = l
			return err
		case "cells":
			p.strs = p.strs[:0]
			p.ws()
			start := p.i
			if err := p.spansOf(); err != nil {
				return err
			}
			arena := string(p.b[start:p.i])
			r.Cells = make([]string, len(p.spans))
			for k, sp := range p.spans {
				r.Cells[k] = p.text(sp, arena, start)
			}
			return nil
		}
		return p.skip()
	})
	return r, err
}

// parseGrid decodes a whole format=v1 answer.
func parseGrid(b []byte) (*Grid, error) {
	p := &gridParser{b: b}
	g := &Grid{}
	if p.peek() != '{' {
		return nil, p.fail("the answer is not a JSON object")
	}
	err := p.members(func(k string) error {
		var err error
		switch strings.ToLower(k) { // as encoding/json: ignoring case
		case "pages":
			g.Pages, err = p.strings()
		case "columncoordinates":
			g.Columns = [][]string{}
			err = p.elements(func() error {
				c, err := p.strings()
				g.Columns = append(g.Columns, c)
				return err
			})
		case "rows":
			g.Rows = nil // a repeated key replaces, as in encoding/json
			err = p.elements(func() error {
				r, err := p.row()
				g.Rows = append(g.Rows, r)
				return err
			})
		default:
			err = p.skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.peek() != 0 {
		return nil, p.fail("data after the answer")
	}
	if len(g.Pages) == 0 {
		g.Pages = nil // [] and absent mean the same: no page dimensions
	}
	return g, nil
}
