package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/report"
)

// dimensionColumns maps each source's report dimensions (report.Holds) to the column or
// expression that holds them. Names come from this fixed table, so no request text ever becomes
// SQL; filter values are bound as parameters. A test fails if this table and report's disagree.
var dimensionColumns = map[report.Source]map[string]string{
	report.SourceClicks: {
		"day": dayExpr, "hour": hourExpr, "partner": "partner_id", "program": "program", "link": "link",
		"campaign": "campaign", "outcome": "outcome", "country": "country", "device": "device_type",
		"browser": "browser", "referer_host": "referer_host",
	},
	report.SourceAssociations: {"day": dayExpr, "hour": hourExpr, "partner": "partner_id", "program": "program", "link": "link"},
	report.SourceLines:        {"day": dayExpr, "hour": hourExpr, "partner": "partner_id", "program": "program"},
	report.SourceImpressions: {"day": dayExpr, "hour": hourExpr, "partner": "partner_id", "program": "program", "link": "link",
		"campaign": "campaign"},
}

const (
	dayExpr  = "toString(toDate(ts))"
	hourExpr = "formatDateTime(toStartOfHour(ts), '%Y-%m-%dT%H:00Z')"
)

// DimensionColumn returns the column a source holds a dimension in, or "" when it has none.
func DimensionColumn(src report.Source, dim string) string { return dimensionColumns[src][dim] }

// reportSQL fills a query template of sql/report for a slice: {dims} with the grouped dimensions
// (each as d_NAME), {where} with a bound condition per filter, {group_by} and {group_comma}. It
// returns the filters' values in the order of their placeholders.
func reportSQL(tmpl string, src report.Source, s report.Slice) (string, []any, error) {
	cols := dimensionColumns[src]
	var dims, group []string
	for _, b := range s.By {
		c, ok := cols[b]
		if !ok {
			return "", nil, fmt.Errorf("the %s have no %s", src, b)
		}
		dims = append(dims, c+" AS d_"+b+",")
		group = append(group, "d_"+b)
	}
	var conds []string
	var args []any
	for _, k := range slices.Sorted(maps.Keys(s.Where)) {
		c, ok := cols[k]
		if !ok {
			return "", nil, fmt.Errorf("the %s have no %s", src, k)
		}
		conds = append(conds, "AND "+c+" = ?")
		args = append(args, s.Where[k])
	}
	groupBy, groupComma := "", ""
	if len(group) > 0 {
		groupBy, groupComma = "GROUP BY "+strings.Join(group, ", "), strings.Join(group, ", ")+", "
	}
	// Grouped by partner or link, an event without one stays out of the rows (it counts in the
	// totals, which are not grouped).
	var nonempty []string
	for _, b := range s.By {
		if b == "partner" || b == "link" {
			nonempty = append(nonempty, "AND "+cols[b]+" != ''")
		}
	}
	sql := strings.NewReplacer("{dims}", strings.Join(dims, "\n    "), "{where}", strings.Join(conds, " "),
		"{nonempty}", strings.Join(nonempty, " "), "{group_by}", groupBy, "{group_comma}", groupComma,
		"    {click_metrics}", fragment("report/click_metrics")).Replace(tmpl)
	return sql, args, nil
}

// Groups implements report.Store: one source's groups of a slice, computed in ClickHouse with each
// event id counted once however often a replay wrote it. Days rolled up are read from the rollups
// (rollup_report.go) when the slice allows; the raw tables otherwise.
func (db *DB) Groups(ctx context.Context, src report.Source, s report.Slice) (report.Answer, error) {
	ctx, cancel := db.readContext(ctx)
	defer cancel()
	// A report asks for its sources at once, and several reports may run together: each waits for
	// a reader's place here, as long as its context allows, rather than for a pooled connection,
	// which the driver gives up on after the dial timeout.
	release, err := db.reader(ctx)
	if err != nil {
		return report.Answer{}, err
	}
	defer release()
	began := time.Now()
	if src != report.SourceLines && !db.raw {
		// Which days are rolled up, and which hours hold rows the rollups leave out: read together
		// (one wait, not two), each shared with the report's other queries.
		var hours map[string][]time.Time
		var hoursErr error
		read := make(chan struct{})
		go func() {
			defer close(read)
			hours, hoursErr = db.replayedHours(ctx, s.From, s.To)
		}()
		runs, err := db.reportRuns(ctx)
		<-read
		if err != nil {
			return report.Answer{}, err
		}
		if p, ok := planRollup(src, s, runs); ok {
			if hoursErr != nil {
				return report.Answer{}, hoursErr
			}
			ans, err := db.rollupGroups(ctx, src, s, p, hours[src.String()])
			db.traceReport(src, s, "rollups", began, len(ans.Groups), err)
			return ans, err
		}
	}
	if src == report.SourceLines && !db.raw && linesRollupHolds(s) {
		roll, fresh, err := db.currentLinesRoll(ctx)
		if err != nil {
			return report.Answer{}, err
		}
		if fresh {
			sql, filters, err := reportSQL(Query("report/rollup_lines"), src, s)
			if err != nil {
				return report.Answer{}, err
			}
			groups, err := db.groups(ctx, sql, append([]any{roll.run, DateTime(s.From), DateTime(s.To)}, filters...), len(s.By))
			db.traceReport(src, s, "rollups", began, len(groups), err)
			return report.Answer{Groups: groups}, err
		}
	}
	groups, err := db.rawGroups(ctx, src, s)
	db.traceReport(src, s, "raw", began, len(groups), err)
	return report.Answer{Groups: groups}, err
}

// linesRollupHolds reports whether the lines' rollup answers a slice: whole UTC days, grouped and
// filtered by day, partner and program only.
func linesRollupHolds(s report.Slice) bool {
	day := 24 * time.Hour
	if !s.From.Equal(s.From.Truncate(day)) || !s.To.Equal(s.To.Truncate(day)) {
		return false
	}
	for _, b := range s.By {
		if b != "day" && b != "partner" && b != "program" {
			return false
		}
	}
	for k := range s.Where {
		if k != "day" && k != "partner" && k != "program" {
			return false
		}
	}
	return true
}

// traceReport logs one source's part of a report at debug level: which tables answered it and how
// long it took (--log-level debug says where a slow report spends its time).
func (db *DB) traceReport(src report.Source, s report.Slice, from string, began time.Time, groups int, err error) {
	if db.log == nil || !db.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	db.log.Debug("report source read", "source", src.String(), "by", strings.Join(s.By, ","), "from", s.From.Format(time.RFC3339),
		"to", s.To.Format(time.RFC3339), "read", from, "groups", groups, "took", time.Since(began).Round(time.Millisecond), "err", err)
}

// rawGroups computes a slice's groups from the raw tables, exactly.
func (db *DB) rawGroups(ctx context.Context, src report.Source, s report.Slice) ([]report.Group, error) {
	dedup := false
	if src == report.SourceClicks {
		// Repeats can only be where a retry or the spool wrote: count such a range the careful way.
		var replayed uint64
		if err := db.conn.QueryRow(ctx, Query("report/replayed_rows"), DateTime(s.From), DateTime(s.To)).Scan(&replayed); err != nil {
			return nil, err
		}
		dedup = replayed > 0
	}
	sql, args, err := groupsSQL(src, s, dedup)
	if err != nil {
		return nil, err
	}
	return db.groups(ctx, sql, args, len(s.By))
}

// groupsSQL is the query of a source's groups and its parameters; dedup counts clicks the careful
// way (sql/report/clicks_dedup.sql).
func groupsSQL(src report.Source, s report.Slice, dedup bool) (string, []any, error) {
	from, to := DateTime(s.From), DateTime(s.To)
	bots := u8(s.IncludeBots)
	var tmpl string
	var args []any
	switch src {
	case report.SourceClicks:
		tmpl, args = Query("report/clicks"), []any{bots, bots, bots, bots, from, to}
		if dedup {
			tmpl = Query("report/clicks_dedup")
		}
	case report.SourceAssociations:
		tmpl, args = Query("report/associations"), []any{from, to, from, to}
	case report.SourceLines:
		tmpl, args = Query("report/commissions"), []any{from, to}
	case report.SourceImpressions:
		tmpl, args = Query("report/impressions"), []any{bots, from, to}
	default:
		return "", nil, fmt.Errorf("no such source %d", src)
	}
	sql, filters, err := reportSQL(tmpl, src, s)
	if err != nil {
		return "", nil, err
	}
	args = append(args, filters...)
	if dedup {
		// The parameters of clicks_dedup.sql: the filters again, then the range twice more.
		args = append(append(append(args, from, to), filters...), from, to, from, to)
	}
	return sql, args, nil
}

// groups runs a report query and reads its rows by their columns' names: the first nDims are the
// dimensions, currency, base and commission are the money of commission lines, and every other
// column is a count of that name.
func (db *DB) groups(ctx context.Context, sql string, args []any, nDims int) ([]report.Group, error) {
	rows, err := db.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := rows.Columns()
	var out []report.Group
	for rows.Next() {
		g := report.Group{Dims: make([]string, nDims), Counts: map[string]uint64{}}
		counts := make([]uint64, len(names))
		dest := make([]any, len(names))
		for i, n := range names {
			switch {
			case i < nDims:
				dest[i] = &g.Dims[i]
			case n == "currency":
				dest[i] = &g.Currency
			case n == "base":
				dest[i] = &g.Base
			case n == "commission":
				dest[i] = &g.Commission
			default:
				dest[i] = &counts[i]
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i, n := range names[nDims:] {
			if n != "currency" && n != "base" && n != "commission" {
				g.Counts[n] = counts[nDims+i]
			}
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Lines implements report.Store: the current commission lines in a range (at most 10,000, newest
// first).
func (db *DB) Lines(ctx context.Context, q report.LinesQuery) ([]attribution.Line, error) {
	ctx, cancel := db.readContext(ctx)
	defer cancel()
	where, args := "", []any{DateTime(q.From), DateTime(q.To)}
	if q.Partner != "" {
		where += " AND partner_id = ?"
		args = append(args, q.Partner)
	}
	if q.Program != "" {
		where += " AND program = ?"
		args = append(args, q.Program)
	}
	return db.lines(ctx, linesSQL(where), args)
}

// UnknownCodes implements report.CodeStore (sql/report/unknown_codes.sql).
func (db *DB) UnknownCodes(ctx context.Context, from, to time.Time, limit int) ([]report.UnknownCode, error) {
	ctx, cancel := db.readContext(ctx)
	defer cancel()
	var out []report.UnknownCode
	err := db.each(ctx, "unknown codes", Query("report/unknown_codes"), []any{DateTime(from), DateTime(to), limit}, func(rows driver.Rows) error {
		var u report.UnknownCode
		if err := rows.Scan(&u.Code, &u.Hits, &u.FirstSeen, &u.LastSeen); err != nil {
			return err
		}
		u.FirstSeen, u.LastSeen = u.FirstSeen.UTC(), u.LastSeen.UTC()
		out = append(out, u)
		return nil
	})
	return out, err
}

func linesSQL(where string) string {
	return strings.Replace(Query("report/lines"), "{where}", where, 1)
}

var (
	_ report.Store     = (*DB)(nil)
	_ report.CodeStore = (*DB)(nil)
)
