package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/internal/csvsafe"
)

// money writes amounts per currency as "12.50 CNY; 7.00 USD" (empty when none).
func money(m map[string]int64) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		if m[c] != 0 {
			parts = append(parts, attribution.FormatAmount(m[c], c)+" "+c)
		}
	}
	return strings.Join(parts, "; ")
}

func moneyJSON(m map[string]int64) map[string]string {
	out := make(map[string]string, len(m))
	for c, v := range m {
		if v != 0 {
			out[c] = attribution.FormatAmount(v, c)
		}
	}
	return out
}

// cells is a row as text: its dimensions in the query's order, then every metric.
func (r *Row) cells(by []string) []string {
	var out []string
	for _, b := range by {
		out = append(out, r.Dims[b])
	}
	for _, m := range Metrics() {
		switch m {
		case "base":
			out = append(out, money(r.Base))
		case "commission":
			out = append(out, money(r.Commission))
		case "ctr":
			ctr := ""
			if v, ok := r.CTR(); ok {
				ctr = strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
			}
			out = append(out, ctr)
		default:
			out = append(out, strconv.FormatUint(r.Counts[m], 10))
		}
	}
	return out
}

// header names the columns; an estimated metric's name says so ("visitors≈", or in CSV
// "visitors (estimate ±5%)"), since a spreadsheet keeps only the header.
func (res *Result) header(csv bool) []string {
	out := append([]string{}, res.Query.By...)
	for _, m := range Metrics() {
		if e, ok := res.Estimates[m]; ok {
			if csv {
				m += " (estimate ±" + percent(e.Error) + ")"
			} else {
				m += "≈"
			}
		}
		out = append(out, m)
	}
	return out
}

func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }

// EstimateNotes says, a line per estimated metric, how close it is and how to have it exact.
func (res *Result) EstimateNotes() []string {
	var out []string
	for _, m := range slices.Sorted(maps.Keys(res.Estimates)) {
		e := res.Estimates[m]
		out = append(out, fmt.Sprintf("%s≈ is an estimate (%s): within ±%s of the exact count with probability %s; ask for exact visitors to count them exactly",
			m, e.Method, percent(e.Error), percent(e.Confidence)))
	}
	return out
}

// WriteTable writes the rows as aligned columns, then the totals.
func (res *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(res.header(false), "\t")+"\t")
	for i := range res.Rows {
		fmt.Fprintln(tw, strings.Join(res.Rows[i].cells(res.Query.By), "\t")+"\t")
	}
	total := res.Totals.cells(nil)
	lead := make([]string, len(res.Query.By))
	if len(lead) > 0 {
		lead[0] = "total"
	}
	fmt.Fprintln(tw, strings.Join(append(lead, total...), "\t")+"\t")
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range res.EstimateNotes() {
		fmt.Fprintln(w, n)
	}
	return nil
}

// WriteCSV writes a header, the rows, and no totals (a spreadsheet adds its own). Cells that a
// spreadsheet would take for a formula are neutralised (internal/csvsafe).
func (res *Result) WriteCSV(w io.Writer) error {
	cw := csvsafe.NewWriter(w)
	cw.Write(res.header(true))
	for i := range res.Rows {
		cw.Write(res.Rows[i].cells(res.Query.By))
	}
	cw.Flush()
	return cw.Error()
}

type rowJSON map[string]any

func (r *Row) json() rowJSON {
	out := rowJSON{}
	for k, v := range r.Dims {
		out[k] = v
	}
	for _, m := range Metrics() {
		switch m {
		case "base":
			out[m] = moneyJSON(r.Base)
		case "commission":
			out[m] = moneyJSON(r.Commission)
		case "ctr":
			if v, ok := r.CTR(); ok {
				out[m] = v
			} else {
				out[m] = nil
			}
		default:
			out[m] = r.Counts[m]
		}
	}
	return out
}

// WriteJSON writes the query, the rows and the totals.
func (res *Result) WriteJSON(w io.Writer) error {
	q := res.Query
	where := q.Where
	if where == nil {
		where = map[string]string{}
	}
	doc := map[string]any{
		"from": q.From.UTC().Format(time.RFC3339), "to": q.To.UTC().Format(time.RFC3339), "by": nonNil(q.By), "where": where,
		"include_bots": q.IncludeBots, "partner": q.Partner, "metrics": Metrics(), "dimensions": Dimensions(),
		"exact_visitors": q.ExactVisitors,
	}
	// Which metrics are estimates, and how close: {"visitors": {"error": 0.05, "confidence": 0.997, ...}}.
	est := map[string]any{}
	for m, e := range res.Estimates {
		est[m] = map[string]any{"error": e.Error, "confidence": e.Confidence, "method": e.Method}
	}
	doc["estimates"] = est
	rows := make([]rowJSON, len(res.Rows))
	for i := range res.Rows {
		rows[i] = res.Rows[i].json()
	}
	doc["rows"] = rows
	doc["totals"] = res.Totals.json()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ParseTime reads a report bound: RFC 3339, or a date (midnight UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-11-01) or an RFC 3339 time", s)
}

// ParseWhere reads filters written as dim=value,dim=value (or dim:value).
func ParseWhere(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			k, v, ok = strings.Cut(part, ":")
		}
		if !ok || k == "" {
			return nil, fmt.Errorf("filter %q: want dimension=value", part)
		}
		if _, ok := dimensionByName(strings.TrimSpace(k)); !ok {
			return nil, fmt.Errorf("cannot filter by %q: want one of %s", k, strings.Join(Dimensions(), ", "))
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ParseBy reads a comma-separated list of dimensions.
func ParseBy(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, ok := dimensionByName(p); !ok {
				return nil, fmt.Errorf("cannot group by %q: want one of %s", p, strings.Join(Dimensions(), ", "))
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// WriteUnknownCodes writes the codes asked for that are no link as a table, CSV or JSON.
func WriteUnknownCodes(w io.Writer, codes []UnknownCode, format string) error {
	rows := make([][]string, len(codes))
	for i, c := range codes {
		rows[i] = []string{c.Code, strconv.FormatUint(c.Hits, 10), c.FirstSeen.Format(time.RFC3339), c.LastSeen.Format(time.RFC3339)}
	}
	header := []string{"code", "hits", "first_seen", "last_seen"}
	switch format {
	case "csv":
		cw := csvsafe.NewWriter(w)
		cw.Write(header)
		for _, r := range rows {
			cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]any, len(codes))
		for i, c := range codes {
			out[i] = map[string]any{"code": c.Code, "hits": c.Hits, "first_seen": rows[i][2], "last_seen": rows[i][3]}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"codes": out})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
