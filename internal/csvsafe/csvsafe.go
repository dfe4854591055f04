// Package csvsafe writes CSV that a spreadsheet opens as data, never as formulas. A cell that
// begins with '=', '+', '-', '@', a tab or a carriage return is a formula (or a way to smuggle
// one) to Excel, LibreOffice and Google Sheets; text of that shape that reaches a CSV from
// outside (a referer, a user agent, a link code, a partner id) is neutralised with a leading
// apostrophe, as OWASP advises. Numbers keep their sign: "-13.50" stays a number. Safe for
// concurrent use as csv.Writer is not: one Writer per goroutine.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Writer is a csv.Writer whose cells are neutralised (Cell).
type Writer struct {
	*csv.Writer
	cells []string
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{Writer: csv.NewWriter(w)} }

// Write writes one record, each cell through Cell.
func (w *Writer) Write(record []string) error {
	w.cells = w.cells[:0]
	for _, c := range record {
		w.cells = append(w.cells, Cell(c))
	}
	return w.Writer.Write(w.cells)
}

// Cell returns s as a spreadsheet should read it: s itself, or, when s could be read as a formula,
// s behind an apostrophe.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if !number(s) {
			return "'" + s
		}
	}
	return s
}

// number reports whether s is a plain decimal number with an optional sign, or a percentage.
func number(s string) bool {
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	if n := len(s); n > 0 && s[n-1] == '%' {
		s = s[:n-1]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
