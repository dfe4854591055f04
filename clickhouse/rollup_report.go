package clickhouse

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/report"
)

// VisitorsEstimate says how close the unique visitors read from rollups are: HyperLogLog with 2^12
// registers has a standard error of 1.04/sqrt(4096) = 1.6%; three of them bound the error with
// probability 99.7%. (bench/results/*-rollups.md has the error measured over 100,000,000 clicks.)
var VisitorsEstimate = report.Estimate{Error: 0.05, Confidence: 0.997, Method: "HyperLogLog, 2^12 registers"}

// rollupPlan is how a slice is read with rollups: the rollup table, the runs of the days it reads
// there, the runs of the whole months it reads from the family's month rows instead of their days,
// and the ranges of hours it counts from the raw tables.
type rollupPlan struct {
	f       family
	columns []string // the raw columns the slice groups or filters by
	runs    []uint64
	months  []monthRead
	raw     [][2]time.Time
}

// monthRead is a whole month a plan reads from month rows: its start and the run of its rows.
type monthRead struct {
	start time.Time
	run   uint64
}

// rolledUp is what is rolled up: the run of each day (the first recorded), and for each month the
// run of its month rows made from each set of day runs (by monthDays' hash).
type rolledUp struct {
	days   map[time.Time]uint64
	months map[time.Time]map[uint64]uint64
}

// planRollup decides whether a slice can be read with rollups, and how. It cannot when the source
// has none (commission lines), when exact visitors are asked for, when a bound is not a whole hour,
// when it is filtered by day or hour, when no rollup table holds the dimensions asked, or when no
// day of the range is rolled up.
func planRollup(src report.Source, s report.Slice, r rolledUp) (rollupPlan, bool) {
	var p rollupPlan
	if src == report.SourceLines || (src == report.SourceClicks && s.ExactVisitors) ||
		!s.From.Equal(s.From.Truncate(time.Hour)) || !s.To.Equal(s.To.Truncate(time.Hour)) || !s.To.After(s.From) {
		return p, false
	}
	hour := slices.Contains(s.By, "hour")
	if s.Where["day"] != "" || s.Where["hour"] != "" {
		return p, false // a filter on the time itself: the raw tables
	}
	for _, d := range append(slices.Clone(s.By), slices.Sorted(maps.Keys(s.Where))...) {
		if d == "day" || d == "hour" {
			continue
		}
		c := dimensionColumns[src][d]
		if c == "" {
			return p, false
		}
		if !slices.Contains(p.columns, c) {
			p.columns = append(p.columns, c)
		}
	}
	found := false
	for _, f := range families {
		if f.src == src && (f.hourly || !hour) && containsAll(f.keys, p.columns) {
			p.f, found = f, true
			break
		}
	}
	if !found {
		return p, false
	}
	from, to := s.From.UTC(), s.To.UTC()
	// Whole months of the range whose month rows were made from the day runs there are now.
	inMonth := map[time.Time]bool{}
	if p.f.months && !hour && !slices.Contains(s.By, "day") {
		for m := monthOf(from); m.Before(to); m = m.AddDate(0, 1, 0) {
			if m.Before(from) || m.AddDate(0, 1, 0).After(to) {
				continue
			}
			days, _ := monthDays(m, r.days)
			if run, ok := r.months[m][days]; ok {
				p.months = append(p.months, monthRead{m, run})
				inMonth[m] = true
			}
		}
	}
	for d := from.Truncate(24 * time.Hour); d.Before(to); d = d.Add(24 * time.Hour) {
		a, b := maxTime(from, d), minTime(to, d.Add(24*time.Hour))
		if run, ok := r.days[d]; ok && (p.f.hourly || (a.Equal(d) && b.Equal(d.Add(24*time.Hour)))) {
			if !inMonth[monthOf(d)] {
				p.runs = append(p.runs, run)
			}
			continue
		}
		if n := len(p.raw); n > 0 && p.raw[n-1][1].Equal(a) {
			p.raw[n-1][1] = b
		} else {
			p.raw = append(p.raw, [2]time.Time{a, b})
		}
	}
	return p, len(p.runs)+len(p.months) > 0
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// What a rollup query counts: for clicks, the counts, the visitors, or both.
type rollupValues uint8

const (
	valuesAll rollupValues = iota
	valuesCounts
	valuesVisitors
)

// rollupQuery is one query of sql/report/rollup.sql: the plan, the slice, what it counts, and an
// extra condition on the parts (restricting the visitors' query to the rows a report shows).
type rollupQuery struct {
	src   report.Source
	p     rollupPlan
	s     report.Slice
	v     rollupValues
	extra string
	xargs []any
	// A condition on the rollup rows only, in place of extra there (not on the raw events the
	// query adds): extra restated for the table's index.
	rollupExtra string
	rollupXargs []any
	// The hours of the slice holding rows written late or replayed.
	replayed [][2]time.Time
}

// sql renders the query and its parameters in the order of their placeholders.
func (q *rollupQuery) sql() (string, []any, error) {
	var conds []string
	var fargs []any
	for _, k := range slices.Sorted(maps.Keys(q.s.Where)) {
		conds = append(conds, "AND "+dimensionColumns[q.src][k]+" = ?")
		fargs = append(fargs, q.s.Where[k])
	}
	// The rollup rows take rollupExtra instead of extra when there is one: it says the same of
	// them, in terms of the table's index, and a second set to test on every row read costs.
	rowsWhere, rowsFargs := strings.Join(append(slices.Clone(conds), q.rollupExtra), " "), slices.Clone(fargs)
	if q.extra != "" {
		conds = append(conds, q.extra)
		fargs = append(fargs, q.xargs...)
		if q.rollupExtra == "" {
			rowsWhere, rowsFargs = strings.Join(conds, " "), fargs
		}
	}
	where := strings.Join(conds, " ")
	columns, groupColumns := "", ""
	for _, c := range q.p.columns {
		columns += c + ", "
		groupColumns += ", " + c
	}
	bots := u8(q.s.IncludeBots)
	var metrics, states string
	var margs []any
	var values []string
	switch q.src {
	case report.SourceClicks:
		// Visitors: the one state column the report counts (humans, or bots too), read alone.
		who := "humans"
		if q.s.IncludeBots {
			who = "all"
		}
		vMetric, vState, vColumn := fragment("report/rollup_visitors_"+who), fragment("rollups/click_visitors_"+who), "visitors_"+who
		switch q.v {
		case valuesCounts:
			metrics, states, values = fragment("report/rollup_click_metrics"), fragment("rollups/click_counts"), clickCounts
			margs = []any{bots, bots, bots}
		case valuesVisitors:
			metrics, states, values = vMetric, vState, []string{vColumn}
		default:
			metrics = fragment("report/rollup_click_metrics") + ",\n" + vMetric
			states = fragment("rollups/click_counts") + ",\n" + vState
			values, margs = append(slices.Clone(clickCounts), vColumn), []any{bots, bots, bots}
		}
	case report.SourceImpressions:
		metrics, states, values = fragment("report/rollup_impression_metrics"), fragment("rollups/impression_states"), familyValues[q.src]
		margs = []any{bots}
	case report.SourceAssociations:
		metrics, states, values = fragment("report/rollup_association_metrics"), fragment("rollups/association_states"), familyValues[q.src]
	default:
		return "", nil, fmt.Errorf("the %s have no rollups", q.src)
	}
	fill := strings.NewReplacer("{columns}", columns, "{group_columns}", groupColumns, "{where}", where,
		"{click_states}", states, "{impression_states}", states, "{association_states}", states,
		"{impressions_once}", fragment("rollups/impressions_once"), "{associations_resolved}", fragment("rollups/associations_resolved"))

	var parts []string
	args := margs
	// The rollup rows of the runs the plan reads: of days (in the range but the months read from
	// month rows), and of whole months.
	rows := strings.ReplaceAll(template("report/rollup_rows"), "{where}", rowsWhere)
	var monthRuns []uint64
	var spans [][2]time.Time
	for _, m := range q.p.months {
		monthRuns, spans = append(monthRuns, m.run), append(spans, [2]time.Time{m.start, m.start.AddDate(0, 1, 0)})
	}
	for _, r := range []struct {
		table  string
		runs   []uint64
		ranges [][2]time.Time
	}{
		{q.p.f.table(), q.p.runs, subtractRanges([2]time.Time{q.s.From, q.s.To}, spans)},
		{q.p.f.monthTable(), monthRuns, [][2]time.Time{{q.s.From, q.s.To}}},
	} {
		if len(r.runs) == 0 {
			continue
		}
		ranges, rargs := rangeSQLOn("period", r.ranges)
		parts = append(parts, strings.NewReplacer("{table}", r.table, "{ranges}", ranges, "{values}", strings.Join(values, ", ")).Replace(fill.Replace(rows)))
		args = append(append(append(args, r.runs), rargs...), rowsFargs...)
		if q.rollupExtra != "" {
			args = append(append(args, rargs...), q.rollupXargs...)
		}
	}
	// What the rollups do not hold: the hours of days not rolled up, and what was written late.
	rawRange, rawArgs := rangeSQL(q.p.raw)
	repRange, repArgs := rangeSQL(q.replayed)
	switch q.src {
	case report.SourceClicks, report.SourceImpressions:
		raw, replayed := "report/rollup_raw_clicks", "report/rollup_replayed_clicks"
		if q.src == report.SourceImpressions {
			raw, replayed = "report/rollup_raw_impressions", "report/rollup_replayed_impressions"
		}
		if len(q.p.raw) > 0 {
			parts = append(parts, strings.ReplaceAll(fill.Replace(template(raw)), "{range}", rawRange))
			args = append(append(args, rawArgs...), fargs...)
		}
		if len(q.replayed) > 0 {
			parts = append(parts, strings.ReplaceAll(fill.Replace(template(replayed)), "{range}", repRange))
			args = append(append(append(append(args, repArgs...), fargs...), repArgs...), repArgs...)
		}
	case report.SourceAssociations:
		// Associations are sets of ids: counting one twice (in a rollup and here) changes nothing.
		ranges := mergeRanges(append(slices.Clone(q.p.raw), q.replayed...))
		if len(ranges) > 0 {
			r, ra := rangeSQL(ranges)
			parts = append(parts, strings.ReplaceAll(fill.Replace(template("report/rollup_raw_associations")), "{range}", r))
			args = append(append(append(append(args, ra...), ra...), ra...), fargs...)
		}
	}
	var dims, group, nonempty []string
	for _, b := range q.s.By {
		c := rollupDimension(q.src, b)
		dims = append(dims, c+" AS d_"+b+",")
		group = append(group, "d_"+b)
		if q.src == report.SourceAssociations && (b == "partner" || b == "link") {
			nonempty = append(nonempty, "AND "+c+" != ''")
		}
	}
	groupBy := ""
	if len(group) > 0 {
		groupBy = "GROUP BY " + strings.Join(group, ", ")
	}
	sql := strings.NewReplacer("{dims}", strings.Join(dims, "\n    "), "    {metrics}", metrics,
		"{parts}", strings.Join(parts, "\nUNION ALL\n"), "{nonempty}", strings.Join(nonempty, " "), "{group_by}", groupBy).
		Replace(template("report/rollup"))
	return sql, args, nil
}

// rollupDimension is a dimension's column in a rollup query: the raw column's name, or for the
// time dimensions the start of each row's day or hour (period).
func rollupDimension(src report.Source, dim string) string {
	switch dim {
	case "day":
		return "toString(toDate(period))"
	case "hour":
		return "formatDateTime(period, '%Y-%m-%dT%H:00Z')"
	}
	return dimensionColumns[src][dim]
}

// rangeSQL is a condition on ts for ranges of hours, and its parameters.
func rangeSQL(rs [][2]time.Time) (string, []any) { return rangeSQLOn("ts", rs) }

// rangeSQLOn is a condition on a time column for ranges, and its parameters.
func rangeSQLOn(column string, rs [][2]time.Time) (string, []any) {
	var conds []string
	var args []any
	for _, r := range rs {
		conds = append(conds, "("+column+" >= ? AND "+column+" < ?)")
		args = append(args, DateTime(r[0]), DateTime(r[1]))
	}
	return strings.Join(conds, " OR "), args
}

// subtractRanges is r without the spans (sorted, each inside r).
func subtractRanges(r [2]time.Time, spans [][2]time.Time) [][2]time.Time {
	var out [][2]time.Time
	at := r[0]
	for _, s := range spans {
		if s[0].After(at) {
			out = append(out, [2]time.Time{at, s[0]})
		}
		at = maxTime(at, s[1])
	}
	if r[1].After(at) {
		out = append(out, [2]time.Time{at, r[1]})
	}
	return out
}

// mergeRanges sorts ranges and merges those that touch or overlap.
func mergeRanges(rs [][2]time.Time) [][2]time.Time {
	slices.SortFunc(rs, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var out [][2]time.Time
	for _, r := range rs {
		if n := len(out); n > 0 && !r[0].After(out[n-1][1]) {
			out[n-1][1] = maxTime(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// maxRanges bounds the ranges a query names: past it, they become one range from the first start
// to the last end (which counts the same: hours between hold nothing to add).
const maxRanges = 16

func boundRanges(rs [][2]time.Time) [][2]time.Time {
	if len(rs) <= maxRanges {
		return rs
	}
	return [][2]time.Time{{rs[0][0], rs[len(rs)-1][1]}}
}

// rollupGroups reads a slice with rollups (planRollup said how); hours are the slice's hours
// holding rows of the source written late or replayed. For clicks grouped by something, the
// counts come first, for every group; then unique visitors, the costly part, only for the groups
// the report shows (report.TopGroups). A slice of one partner or one link has few groups: its
// counts and visitors come in one query.
func (db *DB) rollupGroups(ctx context.Context, src report.Source, s report.Slice, p rollupPlan, hours []time.Time) (report.Answer, error) {
	q := rollupQuery{src: src, p: p, s: s, replayed: boundRanges(hourRanges(hours))}
	q.p.raw = boundRanges(q.p.raw)
	var ans report.Answer
	var err error
	if src == report.SourceClicks {
		ans.Estimates = map[string]report.Estimate{"visitors": VisitorsEstimate}
	}
	if src != report.SourceClicks || len(s.By) == 0 || s.Where["partner"] != "" || s.Where["link"] != "" {
		ans.Groups, err = db.runRollup(ctx, &q)
		return ans, err
	}
	q.v = valuesCounts
	if ans.Groups, err = db.runRollup(ctx, &q); err != nil {
		return ans, err
	}
	top := report.TopGroups(s.By, ans.Groups, s.Limit)
	if len(top) == 0 {
		return ans, nil
	}
	q.v = valuesVisitors
	if len(top) < len(ans.Groups) {
		// The dimension that tells the shown groups apart best restricts what is read.
		best, bestN := -1, 0
		for i, b := range s.By {
			if b == "day" || b == "hour" {
				continue
			}
			seen := map[string]bool{}
			for _, g := range top {
				seen[g.Dims[i]] = true
			}
			if len(seen) > bestN {
				best, bestN = i, len(seen)
			}
		}
		if best >= 0 {
			vals := make([]string, 0, len(top))
			seen := map[string]bool{}
			for _, g := range top {
				if v := g.Dims[best]; !seen[v] {
					seen[v] = true
					vals = append(vals, v)
				}
			}
			col := dimensionColumns[src][s.By[best]]
			q.extra, q.xargs = "AND "+col+" IN (SELECT arrayJoin(?))", []any{vals}
			if col == "link" && len(p.f.keys) > 1 && p.f.keys[0] == "partner_id" && p.f.keys[1] == "link" {
				// The table's index finds the links' rows by their partners.
				in := "IN"
				if l, err := db.layout(ctx); err != nil {
					return ans, err
				} else if l.cluster != "" {
					in = "GLOBAL IN"
				}
				// {table} stays: each part's own table (of days, of months) finds its pairs.
				q.rollupExtra = strings.ReplaceAll(fragment("report/rollup_link_pairs"), "{in}", in)
				q.rollupXargs = []any{vals} // after the part's ranges
			}
		}
	}
	visitors, err := db.runRollup(ctx, &q)
	if err != nil {
		return ans, err
	}
	byKey := make(map[string]uint64, len(visitors))
	for _, g := range visitors {
		byKey[strings.Join(g.Dims, "\x00")] = g.Counts["visitors"]
	}
	for i := range ans.Groups {
		ans.Groups[i].Counts["visitors"] = byKey[strings.Join(ans.Groups[i].Dims, "\x00")]
	}
	return ans, nil
}

func (db *DB) runRollup(ctx context.Context, q *rollupQuery) ([]report.Group, error) {
	sql, args, err := q.sql()
	if err != nil {
		return nil, err
	}
	return db.groups(ctx, sql, args, len(q.s.By))
}
