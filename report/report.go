package report

import (
	"context"
	"embed"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed sql/*.sql sql/click_metrics.fragment
var sqlFiles embed.FS

// SQL returns the embedded query template sql/NAME.sql, with the shared click metrics in place.
func SQL(name string) string {
	b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic(err)
	}
	metrics, _ := sqlFiles.ReadFile("sql/click_metrics.fragment")
	var body []string
	for _, line := range strings.Split(string(metrics), "\n") {
		if !strings.HasPrefix(line, "--") && line != "" {
			body = append(body, line)
		}
	}
	return strings.Replace(string(b), "    {click_metrics}", strings.Join(body, "\n"), 1)
}

// A dimension is how rows are grouped: its name in requests, and the column (or expression) in
// each source table that has it.
type dimension struct {
	name    string
	clicks  string
	assocs  string // "" when associations do not have it
	lines   string // "" when commission lines do not have it
	imps    string // "" when impressions do not have it
	ordered bool   // a time dimension: rows sort by it
}

var dimensions = []dimension{
	{name: "day", clicks: "toString(toDate(ts))", assocs: "toString(toDate(ts))", lines: "toString(toDate(ts))", imps: "toString(toDate(ts))", ordered: true},
	{name: "hour", clicks: hourExpr, assocs: hourExpr, lines: hourExpr, imps: hourExpr, ordered: true},
	{name: "partner", clicks: "partner_id", assocs: "partner_id", lines: "partner_id", imps: "partner_id"},
	{name: "program", clicks: "program", assocs: "program", lines: "program", imps: "program"},
	{name: "link", clicks: "link", assocs: "link", imps: "link"},
	{name: "campaign", clicks: "campaign", imps: "campaign"},
	{name: "outcome", clicks: "outcome"},
	{name: "country", clicks: "country"},
	{name: "device", clicks: "device_type"},
	{name: "browser", clicks: "browser"},
	{name: "referer_host", clicks: "referer_host"},
}

const hourExpr = "formatDateTime(toStartOfHour(ts), '%Y-%m-%dT%H:00Z')"

// Dimensions lists the names a report can group and filter by.
func Dimensions() []string {
	out := make([]string, len(dimensions))
	for i, d := range dimensions {
		out[i] = d.name
	}
	return out
}

func dimensionByName(name string) (dimension, bool) {
	for _, d := range dimensions {
		if d.name == name {
			return d, true
		}
	}
	return dimension{}, false
}

// Metrics, in output order. ctr is clicks / impressions, computed from the two.
var Metrics = []string{"clicks", "visitors", "claims", "kept", "protected", "not_navigation", "bots", "duplicates",
	"registers", "logins", "orders", "base", "commission", "impressions", "ctr"}

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

// build fills a template for one source. col picks the source's column of a dimension ("" when it
// has none). It returns "", nil when a filter names a dimension the source lacks: that source has
// nothing to say about such a slice.
func (q *Query) build(tmpl string, col func(dimension) string) (string, []string, []any, bool) {
	var dims, group, names []string
	for _, b := range q.By {
		d, _ := dimensionByName(b)
		c := col(d)
		if c == "" {
			continue
		}
		dims = append(dims, c+" AS d_"+d.name+",")
		group = append(group, "d_"+d.name)
		names = append(names, d.name)
	}
	where := q.Where
	if q.Partner != "" {
		where = map[string]string{}
		for k, v := range q.Where {
			where[k] = v
		}
		where["partner"] = q.Partner
	}
	var conds []string
	var args []any
	for _, k := range slices.Sorted(maps.Keys(where)) {
		d, _ := dimensionByName(k)
		c := col(d)
		if c == "" {
			return "", nil, nil, false
		}
		conds = append(conds, "AND "+c+" = ?")
		args = append(args, where[k])
	}
	groupBy, groupComma := "", ""
	if len(group) > 0 {
		groupBy, groupComma = "GROUP BY "+strings.Join(group, ", "), strings.Join(group, ", ")+", "
	}
	sql := strings.NewReplacer("{dims}", strings.Join(dims, "\n    "), "{where}", strings.Join(conds, " "),
		"{group_by}", groupBy, "{group_comma}", groupComma).Replace(tmpl)
	return sql, names, args, true
}

// Run computes the report in ClickHouse.
func Run(ctx context.Context, conn driver.Conn, q Query) (*Result, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	rows, err := collect(ctx, conn, q)
	if err != nil {
		return nil, err
	}
	// Totals: the same sources without grouping, so that a source that cannot be split by an asked
	// dimension (sign-ups have no country) still counts, and unique visitors are not added up.
	totals := rows
	if len(q.By) > 0 {
		whole := q
		whole.By = nil
		if totals, err = collect(ctx, conn, whole); err != nil {
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

// collect runs the three sources grouped by q.By and merges their rows by dimension values.
func collect(ctx context.Context, conn driver.Conn, q Query) (map[string]*Row, error) {
	from, to := q.From.UTC().Truncate(time.Second), q.To.UTC().Truncate(time.Second)
	rows := map[string]*Row{}
	get := func(names, vals []string) *Row {
		dims := zip(names, vals)
		var b strings.Builder
		for _, n := range q.By {
			b.WriteString(dims[n])
			b.WriteByte(0)
		}
		r := rows[b.String()]
		if r == nil {
			full := make([]string, len(q.By))
			for i, n := range q.By {
				full[i] = dims[n]
			}
			nr := newRow(q.By, full)
			r = &nr
			rows[b.String()] = r
		}
		return r
	}
	bots := uint8(0)
	if q.IncludeBots {
		bots = 1
	}
	// Repeats can only be where a retry or the spool wrote: count such a range the careful way.
	var replayed uint64
	if err := conn.QueryRow(ctx, SQL("replayed_rows"), from, to).Scan(&replayed); err != nil {
		return nil, fmt.Errorf("cannot read clicks: %w", err)
	}
	clickSQL := SQL("clicks")
	if replayed > 0 {
		clickSQL = SQL("clicks_dedup")
	}
	if sql, names, args, ok := q.build(clickSQL, func(d dimension) string { return d.clicks }); ok {
		all := append([]any{bots, bots, bots, bots, from, to}, args...)
		if replayed > 0 { // the parameters of clicks_dedup.sql
			all = append(append(append(all, from, to), args...), from, to, from, to)
		}
		if err := scan(ctx, conn, sql, all, len(names), 8, func(dims []string, n []uint64, _ []int64, _ string) {
			r := get(names, dims)
			for i, m := range Metrics[:8] {
				r.Counts[m] += n[i]
			}
		}); err != nil {
			return nil, fmt.Errorf("cannot count clicks: %w", err)
		}
	}
	if sql, names, args, ok := q.build(SQL("associations"), func(d dimension) string { return d.assocs }); ok && covered(q, names) {
		if err := scan(ctx, conn, sql, append([]any{from, to}, args...), len(names), 2, func(dims []string, n []uint64, _ []int64, _ string) {
			r := get(names, dims)
			r.Counts["registers"] += n[0]
			r.Counts["logins"] += n[1]
		}); err != nil {
			return nil, fmt.Errorf("cannot count associations: %w", err)
		}
	}
	if sql, names, args, ok := q.build(SQL("commissions"), func(d dimension) string { return d.lines }); ok && covered(q, names) {
		if err := scan(ctx, conn, sql, append([]any{from, to}, args...), len(names), -1, func(dims []string, n []uint64, money []int64, cur string) {
			r := get(names, dims)
			r.Counts["orders"] += n[0]
			r.Base[cur] += money[0]
			r.Commission[cur] += money[1]
		}); err != nil {
			return nil, fmt.Errorf("cannot sum commissions: %w", err)
		}
	}
	if sql, names, args, ok := q.build(SQL("impressions"), func(d dimension) string { return d.imps }); ok && covered(q, names) {
		if err := scan(ctx, conn, sql, append([]any{bots, from, to}, args...), len(names), 1, func(dims []string, n []uint64, _ []int64, _ string) {
			get(names, dims).Counts["impressions"] += n[0]
		}); err != nil {
			return nil, fmt.Errorf("cannot count impressions: %w", err)
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

// covered reports whether a source has every asked dimension: a source missing one would put all
// its numbers in a row with that dimension empty, which reads as a lie, so it stays out.
func covered(q Query, names []string) bool {
	return len(names) == len(q.By)
}

func zip(names, vals []string) map[string]string {
	m := make(map[string]string, len(names))
	for i, n := range names {
		m[n] = vals[i]
	}
	return m
}

// scan runs a query whose rows are nDims strings then counts: nCounts UInt64s, or with nCounts < 0
// the commissions shape (currency, orders, base, commission).
func scan(ctx context.Context, conn driver.Conn, sql string, args []any, nDims, nCounts int,
	f func(dims []string, counts []uint64, money []int64, currency string)) error {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		dims := make([]string, nDims)
		dest := make([]any, 0, nDims+8)
		for i := range dims {
			dest = append(dest, &dims[i])
		}
		if nCounts >= 0 {
			counts := make([]uint64, nCounts)
			for i := range counts {
				dest = append(dest, &counts[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			f(dims, counts, nil, "")
			continue
		}
		var cur string
		var orders uint64
		money := make([]int64, 2)
		dest = append(dest, &cur, &orders, &money[0], &money[1])
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		f(dims, []uint64{orders}, money, cur)
	}
	return rows.Err()
}
