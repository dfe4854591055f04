package report

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
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
// with IncludeBots. Of more than Limit groups only the first Limit in the report's order
// (TopGroups) need unique visitors; ExactVisitors asks for them counted exactly, not estimated.
type Slice struct {
	From, To      time.Time
	By            []string
	Where         map[string]string
	IncludeBots   bool
	ExactVisitors bool
	Limit         int
}

// Group is one group a store returns: the values of Slice.By in order, the source's counts by
// metric name, and for commission lines the currency with the sums of base and commission.
type Group struct {
	Dims             []string
	Counts           map[string]uint64
	Currency         string
	Base, Commission int64
}

// Answer is a store's groups of a slice, and which of their counts are estimates.
type Answer struct {
	Groups    []Group
	Estimates map[string]Estimate // metric name -> how close the estimate is
}

// Estimate says how close an estimated count is to the exact one: within Error of it (a fraction:
// 0.05 is 5%) with probability Confidence.
type Estimate struct {
	Error      float64
	Confidence float64
	Method     string
}

// Store computes the groups of a source, each event id counted once, and reads commission lines.
// The ClickHouse adapter is the product's.
type Store interface {
	Groups(ctx context.Context, src Source, s Slice) (Answer, error)
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
	// ExactVisitors counts unique visitors exactly, from the raw clicks: slower over long ranges.
	// Without it a store may estimate them (Result.Estimates says so).
	ExactVisitors bool
}

// Row is one group: its dimension values and its metrics. Money is per currency, in minor units.
type Row struct {
	Dims       map[string]string
	Counts     map[string]uint64
	Base       map[string]int64
	Commission map[string]int64
}

// Result is a report's rows (sorted: time dimensions ascending, then clicks descending) and their
// totals, and which metrics are estimates.
type Result struct {
	Query     Query
	Rows      []Row
	Totals    Row
	Estimates map[string]Estimate
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
	res := &Result{Query: q, Totals: newRow(nil, nil), Estimates: map[string]Estimate{}}
	// Totals: the same sources without grouping, so that a source that cannot be split by an asked
	// dimension (sign-ups have no country) still counts, and unique visitors are not added up.
	// Every source's groups and totals are asked for at once: a report waits for the slowest query,
	// not for their sum.
	asks := []Query{q}
	if len(q.By) > 0 {
		whole := q
		whole.By = nil
		asks = append(asks, whole)
	}
	results, err := collectAll(ctx, store, asks, res.Estimates)
	if err != nil {
		return nil, err
	}
	rows, totals := results[0], results[len(results)-1]
	for _, r := range totals {
		res.Totals = *r
	}
	for _, r := range rows {
		res.Rows = append(res.Rows, *r)
	}
	idx := order(len(res.Rows), q.By, func(i int, d string) string { return res.Rows[i].Dims[d] },
		func(i int) uint64 { return res.Rows[i].Counts["clicks"] })
	sorted := make([]Row, 0, min(len(idx), q.Limit))
	for _, i := range idx[:min(len(idx), q.Limit)] {
		sorted = append(sorted, res.Rows[i])
	}
	res.Rows = sorted
	return res, nil
}

// order returns the indexes of n rows in the order a report lists them: by the time dimensions
// ascending, then by clicks descending, then by the dimensions ascending (stable). dim and clicks
// read a row's values, once per row: a comparison reading them from the rows' maps made sorting
// 20,000 groups cost a report tens of milliseconds.
func order(n int, by []string, dim func(i int, d string) string, clicks func(i int) uint64) []int {
	var times []int // the positions in by of the time dimensions
	for j, b := range by {
		if d, _ := dimensionByName(b); d.ordered {
			times = append(times, j)
		}
	}
	type key struct {
		dims   []string
		clicks uint64
	}
	keys := make([]key, n)
	vals := make([]string, n*len(by))
	for i := range keys {
		k := &keys[i]
		k.dims, vals = vals[:len(by):len(by)], vals[len(by):]
		for j, b := range by {
			k.dims[j] = dim(i, b)
		}
		k.clicks = clicks(i)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := &keys[a], &keys[b]
		for _, j := range times {
			if c := strings.Compare(ka.dims[j], kb.dims[j]); c != 0 {
				return c
			}
		}
		if ka.clicks != kb.clicks {
			if ka.clicks > kb.clicks {
				return -1
			}
			return 1
		}
		for j := range ka.dims {
			if c := strings.Compare(ka.dims[j], kb.dims[j]); c != 0 {
				return c
			}
		}
		return 0
	})
	return idx
}

// TopGroups returns the first limit of a source's groups in the order a report lists its rows
// (the click groups with clicks; every row of a report with clicks comes from one of them), for a
// store that computes a costly count (unique visitors) only for the rows a report shows.
func TopGroups(by []string, groups []Group, limit int) []Group {
	pos := make(map[string]int, len(by))
	for i, b := range by {
		pos[b] = i
	}
	idx := order(len(groups), by, func(i int, d string) string { return groups[i].Dims[pos[d]] },
		func(i int) uint64 { return groups[i].Counts["clicks"] })
	if limit > 0 && len(idx) > limit {
		idx = idx[:limit]
	}
	out := make([]Group, len(idx))
	for i, j := range idx {
		out[i] = groups[j]
	}
	return out
}

func newRow(names, vals []string) Row {
	return Row{Dims: zip(names, vals), Counts: map[string]uint64{}, Base: map[string]int64{}, Commission: map[string]int64{}}
}

// collectAll runs collect for each query at once and returns their rows in the same order.
func collectAll(ctx context.Context, store Store, qs []Query, est map[string]Estimate) ([]map[string]*Row, error) {
	type ask struct {
		q   int
		src Source
		s   Slice
	}
	var asks []ask
	for i, q := range qs {
		for _, src := range Sources() {
			if s, ok := slice(q, src); ok {
				asks = append(asks, ask{i, src, s})
			}
		}
	}
	answers := make([]Answer, len(asks))
	errs := make([]error, len(asks))
	var wg sync.WaitGroup
	for i, a := range asks {
		wg.Go(func() {
			if answers[i], errs[i] = store.Groups(ctx, a.src, a.s); errs[i] != nil {
				errs[i] = fmt.Errorf("cannot read %s: %w", a.src, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]map[string]*Row, len(qs))
	for i := range out {
		out[i] = map[string]*Row{}
	}
	for i, a := range asks {
		maps.Copy(est, answers[i].Estimates)
		merge(out[a.q], qs[a.q].By, answers[i].Groups)
	}
	return out, nil
}

// slice is what a query asks of one source, or false when the source stays out: a source that
// lacks an asked dimension or filter would put all its numbers in a row with that dimension
// empty, which reads as a lie.
func slice(q Query, src Source) (Slice, bool) {
	where := q.Where
	if q.Partner != "" {
		where = maps.Clone(q.Where)
		if where == nil {
			where = map[string]string{}
		}
		where["partner"] = q.Partner
	}
	for _, d := range q.By {
		if !Holds(src, d) {
			return Slice{}, false
		}
	}
	for d := range where {
		if !Holds(src, d) {
			return Slice{}, false
		}
	}
	return Slice{From: q.From, To: q.To, By: q.By, Where: where, IncludeBots: q.IncludeBots, ExactVisitors: q.ExactVisitors, Limit: q.Limit}, true
}

// merge adds a source's groups to rows, by their dimension values.
func merge(rows map[string]*Row, by []string, groups []Group) {
	var key strings.Builder
	for _, g := range groups {
		key.Reset()
		for _, v := range g.Dims {
			key.WriteString(v)
			key.WriteByte(0)
		}
		r := rows[key.String()]
		if r == nil {
			nr := newRow(by, g.Dims)
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
