package report

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

// Source is one place a report's numbers come from: the clicks, the sign-ups and log-ins
// (associations), the commission lines and the impressions.
type Source uint8

const (
	SourceClicks Source = iota
	SourceAssociations
	SourceLines
	SourceImpressions
	sourceCount
)

// Sources lists every source, in the order a report reads them.
func Sources() []Source {
	return []Source{SourceClicks, SourceAssociations, SourceLines, SourceImpressions}
}

var sourceNames = [sourceCount]string{"clicks", "associations", "lines", "impressions"}

func (s Source) String() string {
	if s < sourceCount {
		return sourceNames[s]
	}
	return "invalid"
}

// A dimension is how rows are grouped: its name in requests, and which sources have it (a
// sign-up has no country, a commission line no link).
type dimension struct {
	name    string
	sources uint8 // bit per Source
	ordered bool  // a time dimension: rows sort by it
}

const (
	all         = 1<<SourceClicks | 1<<SourceAssociations | 1<<SourceLines | 1<<SourceImpressions
	clicksOnly  = 1 << SourceClicks
	linkSources = 1<<SourceClicks | 1<<SourceAssociations | 1<<SourceImpressions
)

var dimensions = []dimension{
	{name: "day", sources: all, ordered: true},
	{name: "hour", sources: all, ordered: true},
	{name: "partner", sources: all},
	{name: "program", sources: all},
	{name: "link", sources: linkSources},
	{name: "campaign", sources: 1<<SourceClicks | 1<<SourceImpressions},
	{name: "outcome", sources: clicksOnly},
	{name: "country", sources: clicksOnly},
	{name: "device", sources: clicksOnly},
	{name: "browser", sources: clicksOnly},
	{name: "referer_host", sources: clicksOnly},
}

// Dimensions lists the names a report can group and filter by.
func Dimensions() []string {
	out := make([]string, len(dimensions))
	for i, d := range dimensions {
		out[i] = d.name
	}
	return out
}

// Holds reports whether a source's events have a dimension.
func Holds(src Source, dim string) bool {
	d, ok := dimensionByName(dim)
	return ok && d.sources&(1<<src) != 0
}

func dimensionByName(name string) (dimension, bool) {
	for _, d := range dimensions {
		if d.name == name {
			return d, true
		}
	}
	return dimension{}, false
}

// Metrics lists the metrics in output order. ctr is clicks / impressions, computed from the two;
// base and commission are sums of money per currency; the others are counts a store returns by
// these names (SourceMetrics).
func Metrics() []string {
	return []string{"clicks", "visitors", "claims", "kept", "protected", "not_navigation", "bots", "duplicates",
		"registers", "logins", "orders", "base", "commission", "impressions", "ctr"}
}

// SourceMetrics lists the counts a store returns for a source.
func SourceMetrics(src Source) []string {
	switch src {
	case SourceClicks:
		return []string{"clicks", "visitors", "claims", "kept", "protected", "not_navigation", "bots", "duplicates"}
	case SourceAssociations:
		return []string{"registers", "logins"}
	case SourceLines:
		return []string{"orders"}
	case SourceImpressions:
		return []string{"impressions"}
	}
	return nil
}

// Slice is what a store is asked for one source: the events of [From, To), grouped by By and
// filtered by Where (dimensions the source has, always), bots counted in the click metrics only
// with IncludeBots.
type Slice struct {
	From, To    time.Time
	By          []string
	Where       map[string]string
	IncludeBots bool
}

// Group is one group a store returns: the values of Slice.By in order, the source's counts by
// metric name, and for commission lines the currency with the sums of base and commission.
type Group struct {
	Dims             []string
	Counts           map[string]uint64
	Currency         string
	Base, Commission int64
}

// Store computes the groups of a source, each event id counted once, and reads commission lines.
// The ClickHouse adapter is the product's.
type Store interface {
	Groups(ctx context.Context, src Source, s Slice) ([]Group, error)
	Lines(ctx context.Context, q LinesQuery) ([]attribution.Line, error)
}

// UnknownCode is a code asked for that is no link: how often, first and last.
type UnknownCode struct {
	Code                string
	Hits                uint64
	FirstSeen, LastSeen time.Time
}

// CodeStore reads the counts of codes asked for that are no link.
type CodeStore interface {
	UnknownCodes(ctx context.Context, from, to time.Time, limit int) ([]UnknownCode, error)
}

// Lines returns the current commission lines of q (at most 10,000, newest first).
func Lines(ctx context.Context, store Store, q LinesQuery) ([]attribution.Line, error) {
	if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
		return nil, fmt.Errorf("want a time range with from before to")
	}
	return store.Lines(ctx, q)
}

// LinesQuery selects commission lines: the current state of each, whose event is in [From, To),
// of one partner (or every partner, for the admin) and one program (or every program).
type LinesQuery struct {
	From, To time.Time
	Partner  string
	Program  string
}

// Query is one report.
type Query struct {
	From, To    time.Time         // [From, To)
	By          []string          // dimension names
	Where       map[string]string // dimension name -> value
	IncludeBots bool              // count bots in clicks, visitors and the other click metrics
	Partner     string            // when set, the report covers this partner only (a partner's view)
	Limit       int               // rows; default 1,000
}

// Row is one group: its dimension values and its metrics. Money is per currency, in minor units.
type Row struct {
	Dims       map[string]string
	Counts     map[string]uint64
	Base       map[string]int64
	Commission map[string]int64
}

// Result is a report's rows (sorted: time dimensions ascending, then clicks descending) and their
// totals.
type Result struct {
	Query  Query
	Rows   []Row
	Totals Row
}

// Validate checks a query's names and range.
func (q *Query) Validate() error {
	if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
		return fmt.Errorf("want a time range with from before to")
	}
	seen := map[string]bool{}
	for _, b := range q.By {
		if _, ok := dimensionByName(b); !ok {
			return fmt.Errorf("cannot group by %q: want one of %s", b, strings.Join(Dimensions(), ", "))
		}
		if seen[b] {
			return fmt.Errorf("%q is asked twice", b)
		}
		seen[b] = true
	}
	for k := range q.Where {
		if _, ok := dimensionByName(k); !ok {
			return fmt.Errorf("cannot filter by %q: want one of %s", k, strings.Join(Dimensions(), ", "))
		}
	}
	if q.Partner != "" {
		if v, ok := q.Where["partner"]; ok && v != q.Partner {
			return fmt.Errorf("this token reads partner %q only", q.Partner)
		}
	}
	return nil
}

// Run computes the report from a store.
func Run(ctx context.Context, store Store, q Query) (*Result, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	rows, err := collect(ctx, store, q)
	if err != nil {
		return nil, err
	}
	// Totals: the same sources without grouping, so that a source that cannot be split by an asked
	// dimension (sign-ups have no country) still counts, and unique visitors are not added up.
	totals := rows
	if len(q.By) > 0 {
		whole := q
		whole.By = nil
		if totals, err = collect(ctx, store, whole); err != nil {
			return nil, err
		}
	}
	res := &Result{Query: q, Totals: newRow(nil, nil)}
	for _, r := range totals {
		res.Totals = *r
	}
	for _, r := range rows {
		res.Rows = append(res.Rows, *r)
	}
	var timeDims []string
	for _, b := range q.By {
		if d, _ := dimensionByName(b); d.ordered {
			timeDims = append(timeDims, b)
		}
	}
	sort.SliceStable(res.Rows, func(i, j int) bool {
		a, b := res.Rows[i], res.Rows[j]
		for _, t := range timeDims {
			if a.Dims[t] != b.Dims[t] {
				return a.Dims[t] < b.Dims[t]
			}
		}
		if a.Counts["clicks"] != b.Counts["clicks"] {
			return a.Counts["clicks"] > b.Counts["clicks"]
		}
		for _, n := range q.By {
			if a.Dims[n] != b.Dims[n] {
				return a.Dims[n] < b.Dims[n]
			}
		}
		return false
	})
	if len(res.Rows) > q.Limit {
		res.Rows = res.Rows[:q.Limit]
	}
	return res, nil
}

func newRow(names, vals []string) Row {
	return Row{Dims: zip(names, vals), Counts: map[string]uint64{}, Base: map[string]int64{}, Commission: map[string]int64{}}
}

// collect asks the store for each source grouped by q.By and merges their groups by dimension
// values. A source that lacks an asked dimension or filter stays out: it would put all its numbers
// in a row with that dimension empty, which reads as a lie.
func collect(ctx context.Context, store Store, q Query) (map[string]*Row, error) {
	where := q.Where
	if q.Partner != "" {
		where = maps.Clone(q.Where)
		if where == nil {
			where = map[string]string{}
		}
		where["partner"] = q.Partner
	}
	rows := map[string]*Row{}
	var key strings.Builder
	for _, src := range Sources() {
		covered := true
		for _, d := range q.By {
			covered = covered && Holds(src, d)
		}
		for d := range where {
			covered = covered && Holds(src, d)
		}
		if !covered {
			continue
		}
		groups, err := store.Groups(ctx, src, Slice{From: q.From, To: q.To, By: q.By, Where: where, IncludeBots: q.IncludeBots})
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", src, err)
		}
		for _, g := range groups {
			key.Reset()
			for _, v := range g.Dims {
				key.WriteString(v)
				key.WriteByte(0)
			}
			r := rows[key.String()]
			if r == nil {
				nr := newRow(q.By, g.Dims)
				r = &nr
				rows[key.String()] = r
			}
			for m, n := range g.Counts {
				r.Counts[m] += n
			}
			if g.Currency != "" {
				r.Base[g.Currency] += g.Base
				r.Commission[g.Currency] += g.Commission
			}
		}
	}
	return rows, nil
}

// CTR is the click-through rate of a row: clicks per impression, or false without impressions.
func (r *Row) CTR() (float64, bool) {
	if r.Counts["impressions"] == 0 {
		return 0, false
	}
	return float64(r.Counts["clicks"]) / float64(r.Counts["impressions"]), true
}

func zip(names, vals []string) map[string]string {
	m := make(map[string]string, len(names))
	for i, n := range names {
		m[n] = vals[i]
	}
	return m
}
