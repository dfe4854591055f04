package clickhouse

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/report"
)

// Rollups (sql/migrations/009_rollups.sql) hold the events summed by the dimensions reports group
// by, a day at a time: a report over months reads thousands of rows instead of millions. They are
// written by rolling up each UTC day once it has ended, from the raw tables, which costs the INSERT
// path nothing (a materialized view per rollup table would be computed, written and merged on every
// INSERT of the sink; measured in bench/results). What makes the rollups exact:
//
//   - A day is rolled up RollupGrace after it ends. The writer marks every click and impression it
//     writes later than LateAfter after it happened, or writes again (a retry, the spool), as
//     replayed, and records its hour in the replays table; sign-ups and log-ins likewise (their
//     hours only). Rollups hold the rows never replayed; reports count the rest from the raw tables
//     for the hours recorded, each id once.
//   - A run writes a day's rows under an id it draws and records itself in rollup_runs when done;
//     reports read a day's rows of its first recorded run only. A run cut off counts for nothing,
//     and two rollers on one day (two servers) do not count twice.
type family struct {
	src    report.Source
	name   string
	keys   []string // the raw columns it is grouped by, which the rollup table holds by these names
	hourly bool     // rows of an hour (else of a day)
	// from names the family of the same source this one is made from, once that one is rolled:
	// its keys include these and its periods are as fine. "": from the raw events.
	from string
	// months: the family also has rows of a whole month (table()+"_months"), made once the month
	// is rolled up (sql/migrations/015_rollup_months.sql).
	months bool
}

// families are the rollup tables, smallest first: a report reads the first that holds its
// dimensions (report.Holds names them; dimensionColumns maps them to these columns).
var families = []family{
	{report.SourceClicks, "days", []string{"program"}, false, "hours", false},
	{report.SourceClicks, "hours", []string{"program", "outcome"}, true, "", false},
	{report.SourceClicks, "referers", []string{"program", "referer_host"}, false, "", false},
	{report.SourceClicks, "places", []string{"program", "country", "device_type"}, false, "", false},
	{report.SourceClicks, "devices", []string{"program", "device_type", "browser"}, false, "", false},
	// By partner from the raw clicks, not from the links: rollup_clicks_links is sorted by partner
	// and link, so the run's rows of a day are spread over the month's partition and a copy read
	// all of it (0.15 CPU s per million clicks on a month's first day, 1.12 on its 28th, against
	// 0.17 for a pass over the day's clicks: bench/results/2026-12-05-roll-cost.md).
	{report.SourceClicks, "partners", []string{"partner_id", "program", "campaign"}, false, "", false},
	{report.SourceClicks, "links", []string{"partner_id", "link", "program", "campaign"}, false, "", true},
	{report.SourceImpressions, "hours", []string{"program"}, true, "", false},
	{report.SourceImpressions, "links", []string{"partner_id", "link", "program", "campaign"}, false, "", true},
	{report.SourceAssociations, "hours", []string{"program"}, true, "", false},
	{report.SourceAssociations, "links", []string{"partner_id", "link", "program"}, false, "", true},
}

// rollOrder is families in the order a run writes them: a family made from another after it.
func rollOrder() []family {
	var raw, made []family
	for _, f := range families {
		if f.from == "" {
			raw = append(raw, f)
		} else {
			made = append(made, f)
		}
	}
	return append(raw, made...)
}

// The value columns of the rollup tables, by source (sql/migrations/009_rollups.sql).
var (
	clickCounts   = []string{"clicks_humans", "clicks_bots", "claims", "kept", "protected", "nn_humans", "nn_bots", "dup_humans", "dup_bots"}
	clickVisitors = []string{"visitors_humans", "visitors_all"}
	familyValues  = map[report.Source][]string{
		report.SourceClicks:       slices.Concat(clickCounts, clickVisitors),
		report.SourceImpressions:  {"impressions_humans", "impressions_bots"},
		report.SourceAssociations: {"registers", "logins"},
	}
)

func (f family) table() string { return "rollup_" + f.src.String() + "_" + f.name }

// monthTable is the table of the family's month rows.
func (f family) monthTable() string { return f.table() + "_months" }

// monthValues is the merge of the family's values over rows (sql/rollups/months.sql).
var monthValues = map[report.Source]string{
	report.SourceClicks:       "rollups/month_click_values",
	report.SourceImpressions:  "rollups/month_impression_values",
	report.SourceAssociations: "rollups/month_association_values",
}

// RollupTables lists the rollup tables (for tests and tools).
func RollupTables() []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.table()
	}
	return out
}

const (
	// RollupGrace is how long after a day ends it is rolled up: every row of the day written on
	// time (within LateAfter) is stored by then, with room for clocks a few minutes apart.
	RollupGrace = 10 * time.Minute
	// LateAfter is how long after an event the writer may store it as written on time; later, it is
	// marked replayed and counted from the raw tables (see family).
	LateAfter = time.Minute
)

// rollSQL is the INSERT that writes a run's rows of a family for [start, end), and its parameters.
func rollSQL(f family, run uint64, start, end time.Time) (string, []any) {
	grain := "toStartOfDay"
	if f.hourly {
		grain = "toStartOfHour"
	}
	r := strings.NewReplacer("{table}", f.table(), "{keys}", strings.Join(f.keys, ", "), "{grain}", grain)
	from, to := DateTime(start), DateTime(end)
	if f.from != "" {
		src := family{src: f.src, name: f.from}
		q := strings.NewReplacer("{source}", src.table(), "{values}", strings.Join(familyValues[f.src], ", ")).Replace(template("rollups/derived"))
		return r.Replace(q), []any{run, run}
	}
	switch f.src {
	case report.SourceClicks:
		return r.Replace(fill(template("rollups/clicks"))), []any{run, from, to}
	case report.SourceImpressions:
		q := strings.ReplaceAll(fill(template("rollups/impressions")), "{range}", "ts >= ? AND ts < ?")
		return r.Replace(q), []any{run, from, to}
	default:
		q := strings.ReplaceAll(fill(template("rollups/associations")), "{range}", "ts >= ? AND ts < ?")
		return r.Replace(q), []any{run, from, to, from, to, from, to}
	}
}

// fill puts the shared fragments of sql/rollups into a query.
func fill(q string) string {
	return strings.NewReplacer(
		"{click_states}", fragment("rollups/click_counts")+",\n"+fragment("rollups/click_visitors_humans")+",\n"+fragment("rollups/click_visitors_all"),
		"{impression_states}", fragment("rollups/impression_states"),
		"{association_states}", fragment("rollups/association_states"),
		"{impressions_once}", fragment("rollups/impressions_once"),
		"{associations_resolved}", fragment("rollups/associations_resolved"),
	).Replace(q)
}

// RollResult says what rolling up one day did, or finishing a month (Month set, Day zero: its
// rollups merged and its month rows made, FinishMonths).
type RollResult struct {
	Day                               time.Time
	Month                             time.Time
	Run                               uint64
	Clicks, Impressions, Associations uint64
	Took                              time.Duration
}

// ErrRebuildUnderway is why the roller waits while migrate makes tables again (clickhouse/rebuild.go).
var ErrRebuildUnderway = errors.New("migrate is making the event or rollup tables again; rolling up waits until it is done")

// RollDay rolls up the events of one UTC day into every rollup table under a new run and records
// the run. Call it only for a day that ended RollupGrace ago (RollPending does). Rolling a day that
// has a run already writes rows no report reads.
func (db *DB) RollDay(ctx context.Context, day time.Time) (RollResult, error) {
	start := time.Now()
	day = day.UTC().Truncate(24 * time.Hour)
	res := RollResult{Day: day, Run: rand.Uint64() | 1}
	if busy, err := db.rebuildUnderway(ctx); err != nil || busy {
		if err == nil {
			err = ErrRebuildUnderway
		}
		return res, fmt.Errorf("cannot roll up %s: %w", day.Format(time.DateOnly), err)
	}
	legacy, err := db.legacyCopies(ctx, day)
	if err != nil {
		return res, err
	}
	if legacy > 0 {
		l, err := db.layout(ctx)
		if err != nil {
			return res, err
		}
		// The day's partition: a day's (migration 013), or a month's before it.
		id := day.Format("20060102")
		if engine, err := db.engine(ctx, l.local(TableClicks)); err != nil {
			return res, err
		} else if !partitionedByDay.MatchString(engine) {
			id = day.Format("200601")
		}
		if err := db.execStored(ctx, l, "OPTIMIZE TABLE "+l.target("clicks")+" PARTITION ID '"+id+"' FINAL"); err != nil {
			return res, fmt.Errorf("cannot merge the clicks of %s: %w", day.Format(time.DateOnly), err)
		}
	}
	for _, f := range rollOrder() {
		q, args := rollSQL(f, res.Run, day, day.Add(24*time.Hour))
		if err := db.conn.Exec(ctx, q, args...); err != nil {
			return res, fmt.Errorf("cannot roll up %s into %s: %w", day.Format(time.DateOnly), f.table(), err)
		}
	}
	// What the run holds, recorded with it (for progress and for the check of a day's rollups).
	counts := []struct {
		dst *uint64
		q   string
	}{
		{&res.Clicks, "SELECT sum(clicks_humans + clicks_bots) FROM rollup_clicks_days WHERE run = ?"},
		{&res.Impressions, "SELECT sum(impressions_humans + impressions_bots) FROM rollup_impressions_hours WHERE run = ?"},
		{&res.Associations, "SELECT uniqExactIfMerge(registers) + uniqExactIfMerge(logins) FROM rollup_associations_hours WHERE run = ?"},
	}
	for _, c := range counts {
		if err := db.conn.QueryRow(ctx, c.q, res.Run).Scan(c.dst); err != nil {
			return res, fmt.Errorf("cannot count the rollup of %s: %w", day.Format(time.DateOnly), err)
		}
	}
	err = db.insert(ctx, "INSERT INTO rollup_runs (day, run, committed_ns, clicks, impressions, associations)", 1,
		func(bt driver.Batch, _ int) error {
			return bt.Append(day, res.Run, uint64(time.Now().UnixNano()), res.Clicks, res.Impressions, res.Associations)
		})
	if err != nil {
		return res, fmt.Errorf("cannot record the rollup of %s: %w", day.Format(time.DateOnly), err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// legacyCopies returns how many clicks of the day are stored twice with the same sorting key, copies
// written before copies were kept apart (sql/rollups/legacy_copies.sql). The day's ids are grouped
// only when it can hold such a copy: it began before the database reached schema 4 (copies then
// were not marked at all: sql/rollups/copies_marked_since.sql), or it holds a row that can be one
// (sql/rollups/legacy_rows.sql).
func (db *DB) legacyCopies(ctx context.Context, day time.Time) (uint64, error) {
	count := func(q string, args ...any) (uint64, error) {
		var n uint64
		if err := db.conn.QueryRow(ctx, Query(q), args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("cannot check %s for copies: %w", day.Format(time.DateOnly), err)
		}
		return n, nil
	}
	from, to := DateTime(day), DateTime(day.Add(24*time.Hour))
	since, err := count("rollups/copies_marked_since")
	if err != nil {
		return 0, err
	}
	if since != 0 && uint64(day.Unix()) >= since {
		if n, err := count("rollups/legacy_rows", from, to); err != nil || n == 0 {
			return 0, err
		}
	}
	return count("rollups/legacy_copies", from, to)
}

// runsFresh is how long reports reuse the rolled-up days they read: a day rolled up meanwhile is
// read from the raw tables until then (the same numbers, more slowly), and a day's run, once
// recorded, stays its run.
const runsFresh = time.Second

// reportRuns is what is rolled up, for reports: the queries of a report, and reports within
// runsFresh of each other, share one read.
func (db *DB) reportRuns(ctx context.Context) (rolledUp, error) {
	return db.runs.do(ctx, "", runsFresh, func(ctx context.Context) (rolledUp, error) {
		var r rolledUp
		var monthsErr error
		read := make(chan struct{})
		go func() { // both at once: one wait, not two
			defer close(read)
			r.months, monthsErr = db.monthRuns(ctx)
		}()
		var err error
		r.days, err = db.rollupRuns(ctx)
		<-read
		return r, errors.Join(err, monthsErr)
	})
}

// rollupRuns returns the run that holds each rolled-up day (the first recorded).
func (db *DB) rollupRuns(ctx context.Context) (map[time.Time]uint64, error) {
	out := map[time.Time]uint64{}
	err := db.each(ctx, "rollup runs", Query("rollups/runs"), nil, func(rows driver.Rows) error {
		var day time.Time
		var run uint64
		if err := rows.Scan(&day, &run); err != nil {
			return err
		}
		out[time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)] = run
		return nil
	})
	return out, err
}

// PendingDays returns the days that have ended RollupGrace ago (by the server's clock) and have
// no rollup, oldest first, from the first day holding events.
func (db *DB) PendingDays(ctx context.Context) ([]time.Time, error) {
	var first uint32
	l, err := db.layout(ctx)
	if err != nil {
		return nil, err
	}
	q := strings.Replace(Query("rollups/event_days"), "FROM system.parts", "FROM "+l.parts(), 1)
	if err := db.conn.QueryRow(ctx, q, db.name, l.local("clicks"), l.local("impressions"), l.local("associations")).Scan(&first); err != nil {
		return nil, fmt.Errorf("cannot find the first day of events: %w", err)
	}
	if first == 0 {
		return nil, nil
	}
	var now time.Time
	if err := db.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return nil, err
	}
	done, err := db.rollupRuns(ctx)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for d := time.Unix(int64(first), 0).UTC().Truncate(24 * time.Hour); !d.Add(24*time.Hour + RollupGrace).After(now); d = d.Add(24 * time.Hour) {
		if _, ok := done[d]; !ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// RollPending rolls up every pending day, oldest first, and logs each; progress, when not nil,
// hears of each day done (i of n). It returns the days rolled up.
func (db *DB) RollPending(ctx context.Context, log *slog.Logger, progress func(r RollResult, i, n int)) (int, error) {
	return db.rollPending(ctx, log, progress, false)
}

func (db *DB) rollPending(ctx context.Context, log *slog.Logger, progress func(r RollResult, i, n int), roller bool) (int, error) {
	days, err := db.PendingDays(ctx)
	if err != nil {
		return 0, err
	}
	if roller && len(days) > 0 {
		// One roller at a time rolls days up (every edge runs one, and a roll on one thread takes
		// a while): the others leave them to it, instead of each rolling the same day (a second
		// run is never read, and costs as much as the first).
		lease, err := db.takeTurn(ctx, RollLease)
		if lease == nil {
			return 0, err
		}
		defer lease.Release(context.WithoutCancel(ctx))
		// Read again under the lease: its holder before may have rolled some.
		if days, err = db.PendingDays(ctx); err != nil {
			return 0, err
		}
		slices.Reverse(days) // newest first: the days reports ask for most
	}
	rolled := 0
	for i, d := range days {
		if i > 0 {
			// Another roller (a migrate's backfill, another server) may have done it meanwhile.
			if runs, err := db.rollupRuns(ctx); err == nil {
				if _, done := runs[d]; done {
					continue
				}
			}
		}
		r, err := db.RollDay(ctx, d)
		if err != nil {
			return rolled, err
		}
		rolled++
		if log != nil {
			log.Info("rolled up a day", "day", d.Format(time.DateOnly), "clicks", r.Clicks, "impressions", r.Impressions,
				"associations", r.Associations, "took", r.Took.Round(time.Millisecond), "done", i+1, "of", len(days))
		}
		if progress != nil {
			progress(r, i+1, len(days))
		}
	}
	if err := db.FinishMonths(ctx, log, progress); err != nil {
		return rolled, err
	}
	return rolled, nil
}

// FinishMonths finishes each month whose days are all rolled up (its last day can be, none is
// pending) and whose day runs have changed since it was last finished (or that was never
// finished): it merges the month's partition of every rollup table into one part where it is in
// more, then makes the
// month's rows of the families that have some (family.months) under a new run, and records the
// run with the day runs it merged (monthDays). Reports over months read each link's or partner's
// rows once per part, a granule or two around them, and ClickHouse leaves a month's daily parts
// partly merged; a month row replaces a link's 28-31 day rows. Over 100,000,000 clicks, 90 days
// by link: bench/results/2026-12-05-roll-cost.md. A month costs this once (a few CPU seconds for
// 20,000 links), and again only when one of its days is rolled up anew.
func (db *DB) FinishMonths(ctx context.Context, log *slog.Logger, progress func(r RollResult, i, n int)) error {
	if have, _, err := db.SchemaVersion(ctx); err != nil || have < monthsVersion {
		return err // month rows come with migration 015
	}
	if todo, err := db.monthsToFinish(ctx); err != nil || len(todo) == 0 {
		return err
	}
	if busy, err := db.rebuildUnderway(ctx); err != nil || busy {
		return err // a rebuild makes the tables again; the months are finished once it is done
	}
	// One roller at a time finishes months (every edge runs one): the others leave them to it.
	lease, err := db.takeTurn(ctx, MonthsLease)
	if lease == nil {
		return err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	// Read again under the lease: its holder before may have finished some.
	todo, err := db.monthsToFinish(ctx)
	if err != nil {
		return err
	}
	l, err := db.layout(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, m := range todo {
		began := time.Now()
		run, err := db.finishMonth(ctx, l, m, log)
		if err != nil {
			// The month is read by day meanwhile; the next months are not held up by it.
			failed = append(failed, err)
			if log != nil {
				log.Warn("rollups: could not finish a month; its days are read instead, and the roller tries again", "month", m.month.Format("2006-01"), "err", err)
			}
			continue
		}
		if log != nil {
			log.Info("merged a month's rollups", "month", m.month.Format("2006-01"), "days", len(m.dayRuns), "took", time.Since(began).Round(time.Millisecond))
		}
		if progress != nil {
			progress(RollResult{Month: m.month, Run: run, Took: time.Since(began)}, 0, 0)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", ErrMonthsUnfinished, errors.Join(failed...))
	}
	return nil
}

// MonthsLease is the lease (attribution_leases) a roller holds while it finishes months.
const MonthsLease = "(months)"

// RollLease is the lease a roller (RunRoller) holds while it rolls days up. A backfill by migrate
// does not take it: it goes oldest first, the roller newest first, and the two meet.
const RollLease = "(rollup)"

// takeTurn takes the lease of a roller's job (RollLease, MonthsLease) for this process; it returns
// no lease and no error when another roller holds it, which does the job.
func (db *DB) takeTurn(ctx context.Context, job string) (*Lease, error) {
	lease, err := db.TakeLease(ctx, job, ThisProcess(), time.Minute)
	if errors.Is(err, ErrLeaseHeld) {
		return nil, nil
	}
	return lease, err
}

// ErrMonthsUnfinished says that some months could not be finished (FinishMonths): reports read
// them by day, as correctly and more slowly, and the roller tries again.
var ErrMonthsUnfinished = errors.New("some months could not be finished")

// monthToFinish is a month to finish, with the hash of its day runs and the runs (monthDays).
type monthToFinish struct {
	month   time.Time
	days    uint64
	dayRuns []uint64
}

// monthsToFinish lists the months FinishMonths would finish, oldest first: ended (their last day
// can be rolled up), with no day pending, and not finished from their current day runs.
func (db *DB) monthsToFinish(ctx context.Context) ([]monthToFinish, error) {
	pending, err := db.PendingDays(ctx)
	if err != nil {
		return nil, err
	}
	open := map[time.Time]bool{}
	for _, d := range pending {
		open[monthOf(d)] = true
	}
	var now time.Time
	if err := db.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return nil, err
	}
	runs, err := db.rollupRuns(ctx)
	if err != nil {
		return nil, err
	}
	made, err := db.monthRuns(ctx)
	if err != nil {
		return nil, err
	}
	months := map[time.Time]bool{}
	for d := range runs {
		if m := monthOf(d); !open[m] && !m.AddDate(0, 1, 0).Add(RollupGrace).After(now.UTC()) {
			months[m] = true
		}
	}
	var out []monthToFinish
	for _, m := range slices.SortedFunc(maps.Keys(months), time.Time.Compare) {
		if days, dayRuns := monthDays(m, runs); made[m][days] == 0 {
			out = append(out, monthToFinish{m, days, dayRuns})
		}
	}
	return out, nil
}

// finishMonth merges month m's partition of every rollup table into one part where it is in
// more (the merge only speeds reports: one that fails is logged, and the month goes on), then
// makes the month rows of the families that have some from the day runs, shard by shard on a
// cluster (each shard merges its own rows; reports merge the shards'), and records them. It
// returns the month's run.
func (db *DB) finishMonth(ctx context.Context, l layout, mt monthToFinish, log *slog.Logger) (uint64, error) {
	m := mt.month
	id := m.Format("200601")
	for _, t := range RollupTables() {
		// The parts on the server this handle reads (on a cluster, one replica of one shard: a
		// partition merged there is merged on the others as a rule). OPTIMIZE … FINAL rewrites
		// even a partition of one part.
		var parts uint64
		if err := db.conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = ? AND partition_id = ? AND active",
			db.name, l.local(t), id).Scan(&parts); err != nil {
			return 0, err
		}
		if parts <= 1 {
			continue
		}
		if err := db.execStored(ctx, l, "OPTIMIZE TABLE "+l.target(t)+" PARTITION ID '"+id+"' FINAL"); err != nil && log != nil {
			log.Warn("rollups: could not merge a month's partition; reports read its parts as they are", "table", t, "month", m.Format("2006-01"), "err", err)
		}
	}
	run := rand.Uint64() | 1
	for _, f := range families {
		if !f.months {
			continue
		}
		q, args := monthSQL(f, l.target(f.table()), l.target(f.monthTable()), run, m, mt.dayRuns)
		if err := db.execStored(ctx, l, q, args...); err != nil {
			return 0, fmt.Errorf("cannot make the month rows of %s in %s: %w", m.Format("2006-01"), f.monthTable(), err)
		}
	}
	err := db.insert(ctx, "INSERT INTO rollup_month_runs (month, days, run, committed_ns)", 1, func(bt driver.Batch, _ int) error {
		return bt.Append(m, mt.days, run, uint64(time.Now().UnixNano()))
	})
	if err != nil {
		return 0, fmt.Errorf("cannot record the month rows of %s: %w", m.Format("2006-01"), err)
	}
	return run, nil
}

// monthsVersion is the migration that makes the tables of month rows.
const monthsVersion = 15

// monthSQL is the INSERT that writes a run's month rows of a family for month m from the day runs
// given, from the table from into the table to (the family's tables, or on a cluster their local
// tables), and its parameters.
func monthSQL(f family, from, to string, run uint64, m time.Time, dayRuns []uint64) (string, []any) {
	q := strings.NewReplacer("{from}", from, "{to}", to, "{keys}", strings.Join(f.keys, ", "),
		"{values}", strings.Join(familyValues[f.src], ", "), "{merged}", fragment(monthValues[f.src])).Replace(template("rollups/months"))
	return q, []any{run, DateTime(m), dayRuns, DateTime(m), DateTime(m.AddDate(0, 1, 0))}
}

// monthDays is the hash of the days of month m that runs has, with their runs (what a month's rows
// are made from: a report reads them in place of exactly those day runs), and the runs.
func monthDays(m time.Time, runs map[time.Time]uint64) (uint64, []uint64) {
	h := fnv.New64a()
	var out []uint64
	var b [16]byte
	for d := m; d.Before(m.AddDate(0, 1, 0)); d = d.Add(24 * time.Hour) {
		if r, ok := runs[d]; ok {
			binary.BigEndian.PutUint64(b[:8], uint64(d.Unix()))
			binary.BigEndian.PutUint64(b[8:], r)
			h.Write(b[:])
			out = append(out, r)
		}
	}
	return h.Sum64(), out
}

// monthRuns returns, for each month, the run of its rows made from each set of day runs (by their
// hash, monthDays): the first recorded. None before migration 015 (a release deployed before its
// migrate reads by day, and makes no month rows).
func (db *DB) monthRuns(ctx context.Context) (map[time.Time]map[uint64]uint64, error) {
	out := map[time.Time]map[uint64]uint64{}
	err := db.each(ctx, "month runs", Query("rollups/month_runs"), nil, func(rows driver.Rows) error {
		var month time.Time
		var days, run uint64
		if err := rows.Scan(&month, &days, &run); err != nil {
			return err
		}
		m := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
		if out[m] == nil {
			out[m] = map[uint64]uint64{}
		}
		out[m][days] = run
		return nil
	})
	if ex := (*clickhouse.Exception)(nil); errors.As(err, &ex) && ex.Code == 60 { // no such table
		return out, nil
	}
	return out, err
}

func monthOf(d time.Time) time.Time {
	y, m, _ := d.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// RunRoller rolls up pending days every interval (with a little jitter), newest first (the days
// reports ask for most; a backfill by migrate goes oldest first, and the two meet), until ctx
// ends. One server's roller at a time rolls (RollLease); the others' rounds find it held and leave
// the days to it. Errors are logged; the next round tries again.
func (db *DB) RunRoller(ctx context.Context, every time.Duration, log *slog.Logger) {
	ctx = Background(ctx)
	for {
		wait := every + rand.N(every/10+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		// A round holds one of the reports' places in the pool (DB.readers), so that reports and
		// a long roll at once still leave the sink's INSERTs a connection. With a pool of two
		// connections or fewer reports have a single place, which the roller leaves them.
		release := func() {}
		if cap(db.readers) > 1 {
			var err error
			if release, err = db.reader(ctx); err != nil {
				return
			}
		}
		if _, err := db.rollPending(ctx, log, nil, true); err != nil && ctx.Err() == nil {
			log.Warn("rollups: could not roll up; trying again later", "err", err)
		}
		if _, err := db.RollLines(ctx); err != nil && ctx.Err() == nil {
			log.Warn("rollups: could not roll up the commission lines; trying again later", "err", err)
		}
		release()
	}
}

// Background marks the queries of ctx as background work, run on one thread each: the roller's
// (RunRoller). A day's roll aggregates a day of events; on one thread it costs ClickHouse 11% less
// CPU than on the server's default of a thread per core, which splits each aggregation and then
// merges the threads' partial states (bench/results/2026-12-05-roll-threads.md). It leaves the
// other cores to the INSERTs and the reports, and a day's roll has a day to finish. A backfill by
// migrate, which an operator waits for, keeps the server's default.
func Background(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_threads": 1}))
}

// linesRoll is the newest roll of the commission lines and the fingerprint it was made at.
type linesRoll struct{ run, linesRun, linesRows uint64 }

// linesState returns the commission lines' fingerprint (sql/rollups/lines_state.sql).
func (db *DB) linesState(ctx context.Context) (run, rows uint64, err error) {
	err = db.conn.QueryRow(ctx, Query("rollups/lines_state")).Scan(&run, &rows)
	return run, rows, err
}

// currentLinesRoll returns the newest roll of the lines if it was made at the lines' present
// fingerprint, and whether there is one.
func (db *DB) currentLinesRoll(ctx context.Context) (linesRoll, bool, error) {
	run, rows, err := db.linesState(ctx)
	if err != nil {
		return linesRoll{}, false, err
	}
	var r linesRoll
	found := false
	err = db.each(ctx, "the lines' rollups", Query("rollups/lines_runs"), nil, func(rs driver.Rows) error {
		found = true
		return rs.Scan(&r.run, &r.linesRun, &r.linesRows)
	})
	if err != nil {
		return linesRoll{}, false, err
	}
	return r, found && rows > 0 && r.linesRun == run && r.linesRows == rows, nil
}

// RollLines rolls up the commission lines, in their current state, when they changed since the
// newest roll (an attribution run wrote lines, merges folded old versions, a deletion), and
// reports whether it did. The fingerprint is read first: lines written during the roll change it,
// so such a roll is never read. Rolls older than an hour, but the newest, are deleted.
func (db *DB) RollLines(ctx context.Context) (bool, error) {
	if _, fresh, err := db.currentLinesRoll(ctx); err != nil || fresh {
		return false, err
	}
	linesRun, rows, err := db.linesState(ctx)
	if err != nil || rows == 0 {
		return false, err
	}
	run := rand.Uint64() | 1
	if err := db.conn.Exec(ctx, Query("rollups/lines"), run); err != nil {
		return false, fmt.Errorf("cannot roll up the commission lines: %w", err)
	}
	if err := db.insert(ctx, "INSERT INTO rollup_lines_runs (run, lines_run, lines_rows, committed_ns)", 1, func(bt driver.Batch, _ int) error {
		return bt.Append(run, linesRun, rows, uint64(time.Now().UnixNano()))
	}); err != nil {
		return false, fmt.Errorf("cannot record the lines' rollup: %w", err)
	}
	// Old rolls: an hour is far longer than any roll takes, so another server's roll under way is
	// never among them.
	var old []uint64
	err = db.each(ctx, "old lines' rollups", "SELECT run FROM rollup_lines_runs WHERE committed_ns < ? AND run != ?",
		[]any{uint64(time.Now().Add(-time.Hour).UnixNano()), run}, func(rs driver.Rows) error {
			var r uint64
			err := rs.Scan(&r)
			old = append(old, r)
			return err
		})
	if err == nil && len(old) > 0 {
		if l, err := db.layout(ctx); err == nil {
			_ = db.execStored(ctx, l, "ALTER TABLE "+l.target("rollup_lines")+" DELETE WHERE has(?, run)", old)
			_ = db.execStored(ctx, l, "ALTER TABLE "+l.target("rollup_lines_runs")+" DELETE WHERE has(?, run)", old)
		}
	}
	return true, nil
}

// hourRanges merges sorted hours into ranges of consecutive hours, [start, end) each.
func hourRanges(hours []time.Time) [][2]time.Time {
	var out [][2]time.Time
	for _, h := range hours {
		if n := len(out); n > 0 && out[n-1][1].Equal(h) {
			out[n-1][1] = h.Add(time.Hour)
			continue
		}
		out = append(out, [2]time.Time{h, h.Add(time.Hour)})
	}
	return out
}

// replayedHours returns the hours of [from, to) where rows of each source were written late or
// replayed. The queries of a report that start together share one read; it is never reused after
// (a replay recorded a moment later must be seen by the next report).
func (db *DB) replayedHours(ctx context.Context, from, to time.Time) (map[string][]time.Time, error) {
	key := DateTime(from).Format(time.RFC3339) + "/" + DateTime(to).Format(time.RFC3339)
	return db.replays.do(ctx, key, 0, func(ctx context.Context) (map[string][]time.Time, error) {
		out := map[string][]time.Time{} // by source name
		err := db.each(ctx, "replayed hours", Query("rollups/replayed_hours"), []any{DateTime(from), DateTime(to)},
			func(rows driver.Rows) error {
				var src string
				var h time.Time
				if err := rows.Scan(&src, &h); err != nil {
					return err
				}
				out[src] = append(out[src], h.UTC())
				return nil
			})
		for _, hs := range out {
			slices.SortFunc(hs, func(a, b time.Time) int { return a.Compare(b) })
		}
		return out, err
	})
}
