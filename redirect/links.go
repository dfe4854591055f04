package redirect

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

// Link is one partner link: /r/Code redirects to URL and claims the visitor for PartnerID in
// Program.
type Link struct {
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	PartnerID string    `json:"partner"`
	Program   string    `json:"program"`
	Campaign  string    `json:"campaign"`
	Status    string    `json:"status"`     // active (default) or disabled
	ExpiresAt time.Time `json:"expires_at"` // zero: never

	order uint32 // place in (PartnerID, Code) order among the served links, from 1 (Links.Replace)
}

// Link statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Active reports whether the link redirects and claims at t.
func (l *Link) Active(t time.Time) bool {
	return l.Status != StatusDisabled && (l.ExpiresAt.IsZero() || t.Before(l.ExpiresAt))
}

// MaxCodeLen is the longest link code.
const MaxCodeLen = 128

// ValidCode reports whether code can be a link code: 1 to MaxCodeLen letters, digits, '-', '_',
// '.' or '~' (the URL-safe characters, so a code never needs escaping), other than "." and "..".
func ValidCode(code []byte) bool {
	if len(code) == 0 || len(code) > MaxCodeLen || string(code) == "." || string(code) == ".." {
		return false // "." and ".." are path segments that browsers and routers resolve away
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// LoadError names the file, the line and what is wrong.
type LoadError struct {
	File string
	Line int // 0 when the error is about the whole file
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// ReadLinks reads a links file: CSV with a header (code,url,partner,program,campaign and optional
// status, expires_at; columns in any order) or a JSON array of objects with the same names. Every
// link is checked (knownProgram says which programs it may name); the first bad one refuses the
// whole file.
func ReadLinks(path string, knownProgram func(name string) bool) ([]Link, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Err: err}
	}
	var links []Link
	var lines []int
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(trimmed, []byte("[")) {
		links, lines, err = readLinksJSON(data)
	} else {
		links, lines, err = readLinksCSV(data, true, 0)
	}
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			le.File = path
			return nil, le
		}
		return nil, &LoadError{File: path, Err: err}
	}
	seen := make(map[string]int, len(links))
	for i := range links {
		if err := checkLink(&links[i], knownProgram); err != nil {
			return nil, &LoadError{File: path, Line: lines[i], Err: err}
		}
		if first, dup := seen[links[i].Code]; dup {
			return nil, &LoadError{File: path, Line: lines[i], Err: fmt.Errorf("code %q is already on line %d", links[i].Code, first)}
		}
		seen[links[i].Code] = lines[i]
	}
	compact(links)
	return links, nil
}

// compact moves the links' text into one allocation, with the names that repeat (partners,
// programs, campaigns) stored once. The parsers leave one or more strings per line; 100,000 links
// would be as many objects for the garbage collector to visit at every cycle, and its mark phase
// takes its share of the only core while requests wait.
func compact(links []Link) {
	n := 0
	for i := range links {
		l := &links[i]
		n += len(l.Code) + len(l.URL) + len(l.PartnerID) + len(l.Program) + len(l.Campaign)
	}
	arena := make([]byte, 0, n) // never grows past n, so the strings cut from it stay put
	keep := func(v string) string {
		off := len(arena)
		arena = append(arena, v...)
		return b2s(arena[off:])
	}
	names := make(map[string]string)
	shared := func(v string) string {
		k, ok := names[v]
		if !ok {
			k = keep(v)
			names[k] = k
		}
		return k
	}
	for i := range links {
		l := &links[i]
		l.Code, l.URL = keep(l.Code), keep(l.URL)
		l.PartnerID, l.Program, l.Campaign = shared(l.PartnerID), shared(l.Program), shared(l.Campaign)
		// checkLink left "active" or "disabled": the constants, not the parsed copies.
		if l.Status == StatusDisabled {
			l.Status = StatusDisabled
		} else {
			l.Status = StatusActive
		}
	}
}

// FieldError is a link that cannot be served, and the field that makes it so.
type FieldError struct {
	Field string // code, url, partner, program, campaign, status or expires_at
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// CheckLink checks l as a links file's line is checked (the code's alphabet, the destination's
// rules, the names' length, a configured program, the status) and fills in its default status.
// The error is a *FieldError.
func CheckLink(l *Link, knownProgram func(string) bool) error {
	if err := checkLink(l, knownProgram); err != nil {
		return err
	}
	return nil
}

func checkLink(l *Link, knownProgram func(string) bool) *FieldError {
	if !ValidCode([]byte(l.Code)) {
		return &FieldError{"code", fmt.Errorf("code %q: use 1 to %d letters, digits, '-', '_', '.' or '~'", l.Code, MaxCodeLen)}
	}
	if err := attribution.CheckDestination(l.URL); err != nil {
		return &FieldError{"url", fmt.Errorf("url: %w", err)}
	}
	if err := checkText("partner", l.PartnerID, true); err != nil {
		return &FieldError{"partner", err}
	}
	if err := checkText("campaign", l.Campaign, false); err != nil {
		return &FieldError{"campaign", err}
	}
	if !knownProgram(l.Program) {
		return &FieldError{"program", fmt.Errorf("program %q is not configured (add it to the programs file)", l.Program)}
	}
	if !l.ExpiresAt.IsZero() {
		// Stored as whole seconds from 1970 to 2106 (ClickHouse's DateTime): anything else would
		// come back as another time.
		l.ExpiresAt = l.ExpiresAt.UTC().Truncate(time.Second)
		if l.ExpiresAt.Unix() < 1 || l.ExpiresAt.Unix() > math.MaxUint32 {
			return &FieldError{"expires_at", fmt.Errorf("expires_at %s: want a time from 1970 to 2106", l.ExpiresAt.Format(time.RFC3339))}
		}
	}
	switch l.Status {
	case "":
		l.Status = StatusActive
	case StatusActive, StatusDisabled:
	default:
		return &FieldError{"status", fmt.Errorf("status %q: want %s or %s", l.Status, StatusActive, StatusDisabled)}
	}
	return nil
}

// checkText accepts ids and names of printable characters, at most 128 bytes.
func checkText(field, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%s is empty", field)
		}
		return nil
	}
	if len(v) > 128 {
		return fmt.Errorf("%s is %d bytes, at most 128", field, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] == 0x7f {
			return fmt.Errorf("%s %q has a control character", field, v)
		}
	}
	return nil
}

// DecodeLinksCSV reads up to max links in the links file's CSV form, with the line each is on,
// where the code column may be left out (codes to be generated); it does not check them
// (CheckLink does). More than max is ErrTooManyLinks.
func DecodeLinksCSV(data []byte, max int) ([]Link, []int, error) {
	return readLinksCSV(data, false, max)
}

// ErrTooManyLinks is a body with more links than allowed.
var ErrTooManyLinks = errors.New("too many links")

func readLinksCSV(data []byte, needCode bool, max int) ([]Link, []int, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"code", "url", "partner", "program"} {
		if _, ok := col[need]; !ok && (need != "code" || needCode) {
			return nil, nil, &LoadError{Line: 1, Err: fmt.Errorf("header has no %q column (want code,url,partner,program,campaign[,status,expires_at])", need)}
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var links []Link
	var lines []int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		l := Link{
			Code: get(rec, "code"), URL: get(rec, "url"), PartnerID: get(rec, "partner"),
			Program: get(rec, "program"), Campaign: get(rec, "campaign"), Status: strings.ToLower(get(rec, "status")),
		}
		if v := get(rec, "expires_at"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, nil, &LoadError{Line: line, Err: fmt.Errorf("expires_at %q: want an RFC 3339 time such as 2026-12-31T23:59:59Z", v)}
			}
			l.ExpiresAt = t.UTC()
		}
		if max > 0 && len(links) == max {
			return nil, nil, ErrTooManyLinks
		}
		links = append(links, l)
		lines = append(lines, line)
	}
	return links, lines, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &LoadError{Line: pe.Line, Err: pe.Err}
	}
	return err
}

// lineCounter says which line a byte offset of data is on. Asked for offsets in increasing order
// (as a decoder moves through a file), it reads each byte once: counting from the start for every
// link made a file of 100,000 links take 13 s to load.
type lineCounter struct {
	data    []byte
	off     int64 // counted up to here
	line    int   // the line of off
	scanned int   // bytes read, for the test
}

// NewLineCounter counts the lines of data (for the links API's bodies).
func NewLineCounter(data []byte) *LineCounter { return &LineCounter{data: data} }

// LineCounter says which line of its data a byte offset is on (lineCounter).
type LineCounter = lineCounter

// At returns the line of off.
func (c *lineCounter) At(off int64) int { return c.at(off) }

func (c *lineCounter) at(off int64) int {
	off = min(off, int64(len(c.data)))
	if off < c.off { // back: count afresh (errors only)
		c.off, c.line = 0, 0
	}
	c.line += bytes.Count(c.data[c.off:off], []byte("\n"))
	c.scanned += int(off - c.off)
	c.off = off
	return c.line + 1
}

func readLinksJSON(data []byte) ([]Link, []int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	counter := lineCounter{data: data}
	lineAt := counter.at
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, &LoadError{Line: lineAt(dec.InputOffset()), Err: fmt.Errorf("want a JSON array of links: %v", err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, nil, &LoadError{Line: 1, Err: errors.New("want a JSON array of links")}
	}
	var links []Link
	var lines []int
	for dec.More() {
		start := dec.InputOffset()
		var l Link
		if err := dec.Decode(&l); err != nil {
			return nil, nil, &LoadError{Line: lineAt(max(start, dec.InputOffset()-1)), Err: err}
		}
		// The element starts after the separator and whitespace that precede it.
		for start < int64(len(data)) && strings.ContainsRune(", \t\r\n", rune(data[start])) {
			start++
		}
		l.Status = strings.ToLower(l.Status)
		l.ExpiresAt = l.ExpiresAt.UTC()
		links = append(links, l)
		lines = append(lines, lineAt(start))
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, &LoadError{Line: lineAt(dec.InputOffset()), Err: err}
	}
	return links, lines, nil
}
