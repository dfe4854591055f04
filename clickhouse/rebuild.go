package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migrations 013 and 014 make tables again with what cannot change in place: 013 moves clicks and
// impressions into partitions of a day (sql/migrations/013_day_partitions.sql), 014 gives the
// rollup tables read by partner and by link a mark every 64 rows (014_rollup_marks.sql). For each
// table, while the edges and rollers go on writing to it:
//
//  1. its rows are copied into the new table (events a month at a time, leaving out the ids the
//     new table holds, so a copy cut off is run again safely; rollup rows by recorded run);
//  2. the two tables swap names in one RENAME: writers use the new table from then on (an INSERT
//     that finds neither name fails and the sink sends it again);
//  3. after rebuildSettle, for the INSERTs under way at the swap to end, the events the old table
//     got during step 1 follow (rollup rows do not: see finerRollupMarks);
//  4. runs recorded meanwhile by a roller that does not wait are forgotten, and the old tables
//     are dropped.
//
// Reports read the old table, whole, until the swap, and the new one after it, whole but for what
// was written in the minutes of the copy, until step 3 has copied its month (newest first: seconds
// for the current month; the whole of step 3 reads every month again, minutes for a large table).
// On a cluster each step runs on one replica of each shard, on its local tables, after the replica
// has fetched every part its shard holds (SYSTEM SYNC REPLICA); the RENAME runs ON CLUSTER, and the
// Distributed tables follow the names. A run cut off anywhere is resumed by running migrate again:
// the live table's make says how far it got.

// dayTables are the tables 013 moves, the table made for each, and what identifies a row.
var dayTables = []struct{ table, byDay, identity string }{
	{"clicks", "clicks_by_day", "click_id"},
	{"impressions", "impressions_by_day", "impression_id"},
}

// rebuildSettle is how long after the swap the old table is read again for rows written to it
// late: an INSERT the sink sent before the swap ends long before (they take milliseconds; the
// sink's own limit on one is far shorter).
var rebuildSettle = 10 * time.Second

// migrationSteps are migrations done partly in Go: the function is given the migration's
// statements (in the layout's form) and runs them as it needs.
var migrationSteps = map[uint32]func(ctx context.Context, r *rebuilder, statements []string) error{
	13: partitionByDay,
	14: finerRollupMarks,
}

// rebuilder is what a migration step needs: the database on one server or a cluster.
type rebuilder struct {
	db   *DB                 // the connection migrate uses
	opts *clickhouse.Options // how to reach a server of the cluster
	l    layout
	log  *slog.Logger
	exec func(ctx context.Context, st string) error // runs one of the migration's statements
}

var (
	partitionedByDay = regexp.MustCompile(`PARTITION BY toDate\(ts\)`)
	fineMarks        = regexp.MustCompile(`index_granularity = 64\b`)
)

// rebuild is how one table is rebuilt: the table, the table made for it, what tells a table of the
// new make (its engine_full), and how rows are copied: copy adds to the table "to" rows of "from",
// and returns how many and whether from held any. An idempotent copy adds only what "to" lacks: it
// resumes a copy cut off, and after the swap it copies again from the old table what that got
// meanwhile. Otherwise the new table is made anew whenever the copy starts, and nothing follows.
type rebuild struct {
	table, next string
	isNew       func(engine string) bool
	copy        func(ctx context.Context, from, to string) (rows uint64, held bool, err error)
	idempotent  bool
}

// rebuildNames are the names of the tables made for a rebuild, on one server and on a cluster:
// while one exists, a rebuild is under way.
func rebuildNames() []string {
	var out []string
	for _, t := range dayTables {
		out = append(out, t.byDay, t.byDay+LocalSuffix)
	}
	for _, t := range fineTables {
		out = append(out, t+fineSuffix, t+fineSuffix+LocalSuffix)
	}
	return out
}

// rebuild copies and swaps b's tables, and copies what the old one got meanwhile; the old table
// is dropped by rebuildAll.
func (r *rebuilder) rebuild(ctx context.Context, b rebuild, statements []string) error {
	engine, err := r.engine(ctx, b.table)
	if err != nil {
		return err
	}
	if !b.isNew(engine) {
		if !b.idempotent {
			if err := r.drop(ctx, b.next); err != nil {
				return err
			}
		}
		if err := r.createNext(ctx, b, statements); err != nil {
			return err
		}
		start := time.Now()
		rows, held, err := b.copy(ctx, b.table, b.next)
		if err != nil {
			return fmt.Errorf("cannot copy %s into %s (run migrate again: what was copied is not copied twice): %w", b.table, b.next, err)
		}
		r.log.Info("copied into the new table", "table", b.table, "new", b.next, "rows", rows, "took", time.Since(start).Round(time.Millisecond))
		if err := r.swap(ctx, b.table, b.next); err != nil {
			return fmt.Errorf("cannot swap %s and %s: %w", b.table, b.next, err)
		}
		r.log.Info("swapped", "table", b.table, "old rows in", b.next)
		if held {
			// A table that held nothing had no one writing to it (a new database).
			select {
			case <-time.After(rebuildSettle):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if !b.idempotent {
		return nil
	}
	exists, err := r.exists(ctx, b.next)
	if err != nil || !exists {
		return err
	}
	rows, _, err := b.copy(ctx, b.next, b.table)
	if err != nil {
		return fmt.Errorf("cannot copy what was written to %s during the copy (run migrate again): %w", b.next, err)
	}
	r.log.Info("copied the rows written during the copy", "table", b.table, "rows", rows)
	return nil
}

// createNext creates the new table of b, only while the live one is old: on a cluster its
// replication path is named after it, and once swapped the live table holds that path.
func (r *rebuilder) createNext(ctx context.Context, b rebuild, statements []string) error {
	engine, err := r.engine(ctx, b.table)
	if err != nil || b.isNew(engine) {
		return err
	}
	creates := regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+\.)?` + b.next + `(` + LocalSuffix + `)? `)
	for _, st := range statements {
		if creates.MatchString(uncomment(st)) {
			if err := r.exec(ctx, st); err != nil {
				return fmt.Errorf("cannot create %s: %w", b.next, err)
			}
		}
	}
	return nil
}

// resumeMargin is how much earlier than its first table's making a resumed migration forgets runs
// from: the rollers' clocks (committed_ns) and the server's (the table's time) may differ.
var resumeMargin = time.Minute

// MigrateLease is the lease (clickhouse/lease.go) a migrate holds while it makes tables again: a
// second migrate of the same database stops, naming the first.
const MigrateLease = "(migrate)"

// rebuildAll rebuilds tables in turn, their new tables all made first: a roller waits from the
// first to the last (rebuildUnderway). Runs recorded meanwhile (by a roller of an earlier release,
// which does not wait) are forgotten before the old tables are dropped, and their days rolled up
// again; resumed, it forgets from when the first of its tables was made.
func (r *rebuilder) rebuildAll(ctx context.Context, bs []rebuild, statements []string) error {
	began := time.Now()
	var made time.Time
	err := r.db.each(ctx, "the tables' times", "SELECT min(metadata_modification_time) FROM system.tables WHERE database = currentDatabase() AND has(?, name)",
		[]any{rebuildNames()}, func(rows driver.Rows) error { return rows.Scan(&made) })
	if err != nil {
		return err
	}
	if !made.IsZero() && made.Unix() > 0 && made.Before(began) {
		began = made.Add(-resumeMargin) // a resumed migration: from its start (and a little before)
	}
	for _, b := range bs {
		if b.idempotent {
			if err := r.createNext(ctx, b, statements); err != nil {
				return err
			}
		}
	}
	for _, b := range bs {
		if err := r.rebuild(ctx, b, statements); err != nil {
			return err
		}
	}
	if err := r.forgetRunsSince(ctx, began); err != nil {
		return err
	}
	for _, b := range bs {
		if err := r.drop(ctx, b.next); err != nil {
			return fmt.Errorf("cannot drop %s, which held the old %s: %w", b.next, b.table, err)
		}
	}
	return nil
}

func partitionByDay(ctx context.Context, r *rebuilder, statements []string) error {
	var bs []rebuild
	for _, t := range dayTables {
		bs = append(bs, rebuild{table: t.table, next: t.byDay, isNew: partitionedByDay.MatchString, idempotent: true,
			copy: func(ctx context.Context, from, to string) (uint64, bool, error) {
				return r.copyMonths(ctx, from, to, t.identity)
			}})
	}
	return r.rebuildAll(ctx, bs, statements)
}

// fineTables are the rollup tables 014 (sql/migrations/014_rollup_marks.sql) makes again with a
// mark every 64 rows; each new table is named TABLE_fine until the swap.
var fineTables = []string{"rollup_clicks_partners", "rollup_clicks_links", "rollup_impressions_links", "rollup_associations_links"}

const fineSuffix = "_fine"

// finerRollupMarks is migration 014. Rollup rows belong to runs: the copy takes the rows of the
// runs recorded when it starts (complete). What the old table gets after that is rows of runs not
// recorded then, which reports never read (a roll under way records its run later, and runs
// recorded during the migration are forgotten and rolled up again): nothing follows the swap.
// Rollers of this release wait meanwhile.
func finerRollupMarks(ctx context.Context, r *rebuilder, statements []string) error {
	var bs []rebuild
	for _, t := range fineTables {
		bs = append(bs, rebuild{table: t, next: t + fineSuffix, isNew: fineMarks.MatchString, copy: r.copyRuns})
	}
	return r.rebuildAll(ctx, bs, statements)
}

// recordedRuns lists the runs rollup_runs records.
func (r *rebuilder) recordedRuns(ctx context.Context) ([]uint64, error) {
	var runs []uint64
	err := r.db.each(ctx, "the rollup runs", "SELECT DISTINCT run FROM rollup_runs", nil, func(rows driver.Rows) error {
		var run uint64
		err := rows.Scan(&run)
		runs = append(runs, run)
		return err
	})
	return runs, err
}

// copyRuns copies the rows of the recorded runs of one rollup table into another, and returns how
// many rows it added and whether from held any.
func (r *rebuilder) copyRuns(ctx context.Context, from, to string) (uint64, bool, error) {
	cols, err := r.db.columns(ctx, r.l.local(to))
	if err != nil {
		return 0, false, err
	}
	runs, err := r.recordedRuns(ctx)
	if err != nil {
		return 0, false, err
	}
	var total uint64
	held := false
	err = r.shards(ctx, from, func(c driver.Conn) error {
		var n uint64
		if err := c.QueryRow(ctx, "SELECT count() FROM "+r.l.target(from)).Scan(&n); err != nil {
			return err
		}
		held = held || n > 0
		if n == 0 || len(runs) == 0 {
			return nil
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE has(?, run)", r.l.target(to), cols, cols, r.l.target(from))
		added, err := countedInsert(ctx, c, "SELECT count() FROM "+r.l.target(to), q, runs)
		total += added
		return err
	})
	return total, held, err
}

// rebuildUnderway says whether migrate is making tables again (013, 014): their new tables exist
// until the old ones are dropped. The roller waits meanwhile, as a roll reads and writes the tables
// that swap names.
func (db *DB) rebuildUnderway(ctx context.Context) (bool, error) {
	var n uint64
	err := db.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND has(?, name)", rebuildNames()).Scan(&n)
	return n > 0, err
}

// forgetRunsSince removes the record of the runs recorded since a time, until now (a roller of an
// earlier version, which does not wait for a rebuild, may have rolled a day up across a swap):
// their days are rolled up again.
func (r *rebuilder) forgetRunsSince(ctx context.Context, since time.Time) error {
	from, to := since.UnixNano(), time.Now().UnixNano()
	var n uint64
	if err := r.db.conn.QueryRow(ctx, "SELECT count() FROM rollup_runs WHERE committed_ns >= ? AND committed_ns < ?", uint64(from), uint64(to)).Scan(&n); err != nil || n == 0 {
		return err
	}
	r.log.Info("days rolled up during the migration are forgotten, to be rolled up again", "runs", n)
	return r.db.execStored(ctx, r.l, fmt.Sprintf("ALTER TABLE %s DELETE WHERE committed_ns >= %d AND committed_ns < %d", r.l.target("rollup_runs"), from, to))
}

// engine is the engine_full of table (its local table on a cluster).
func (r *rebuilder) engine(ctx context.Context, table string) (string, error) {
	return r.db.engine(ctx, r.l.local(table))
}

// engine is the engine_full of a table of the database on the connected server.
func (db *DB) engine(ctx context.Context, table string) (string, error) {
	var engine string
	err := db.each(ctx, "the table's engine", "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?",
		[]any{table}, func(rows driver.Rows) error { return rows.Scan(&engine) })
	if err == nil && engine == "" {
		err = fmt.Errorf("no table %s", table)
	}
	return engine, err
}

func (r *rebuilder) exists(ctx context.Context, table string) (bool, error) {
	var n uint64
	err := r.db.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", r.l.local(table)).Scan(&n)
	return n > 0, err
}

// shards calls f with a connection to the server holding the rows: the one server, or one
// replica of each shard of the cluster (once it holds every part of its shard's table).
func (r *rebuilder) shards(ctx context.Context, syncTable string, f func(c driver.Conn) error) error {
	if r.l.cluster == "" {
		return f(r.db.conn)
	}
	return onEachShard(ctx, r.db, r.opts, r.l.cluster, func(c driver.Conn) error {
		if err := c.Exec(ctx, "SYSTEM SYNC REPLICA "+r.l.target(syncTable)); err != nil {
			return fmt.Errorf("cannot fetch every part of %s: %w", syncTable, err)
		}
		return f(c)
	})
}

// copyMonths copies the rows of from into to, a month at a time, newest first (the days reports
// read from the raw tables), but those whose identity to holds in that month, and returns the rows
// copied and whether from held any part.
func (r *rebuilder) copyMonths(ctx context.Context, from, to, identity string) (uint64, bool, error) {
	cols, err := r.db.columns(ctx, r.l.local(from))
	if err != nil {
		return 0, false, err
	}
	var total uint64
	held := false
	err = r.shards(ctx, from, func(c driver.Conn) error {
		var months []string
		rows, err := c.Query(ctx, "SELECT DISTINCT substring(partition_id, 1, 6) AS m FROM system.parts WHERE database = currentDatabase() AND table = ? AND active ORDER BY m DESC",
			r.l.local(from))
		if err != nil {
			return err
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			months = append(months, m)
		}
		rows.Close()
		held = held || len(months) > 0
		for _, m := range months {
			if _, _, ok := partitionSpan(m); !ok {
				return fmt.Errorf("partition %q of %s is not a month", m, from)
			}
			// The ids a pass holds in memory (those of to, to leave out) are bounded: a month's
			// rows go in chunks of about copyChunk, by a hash of the id.
			where := "toYYYYMM(ts) = " + m
			var rows uint64
			if err := c.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s WHERE %s", r.l.target(from), where)).Scan(&rows); err != nil {
				return fmt.Errorf("month %s: %w", m, err)
			}
			chunks := max(1, (rows+copyChunk-1)/copyChunk)
			var n uint64
			for j := range chunks {
				w := where
				if chunks > 1 {
					w += fmt.Sprintf(" AND cityHash64(%s) %% %d = %d", identity, chunks, j)
				}
				k, err := copyRows(ctx, c, r.l.target(from), r.l.target(to), cols, identity, w)
				if err != nil {
					return fmt.Errorf("month %s: %w", m, err)
				}
				n += k
			}
			total += n
			r.log.Info("copied a month", "table", from, "month", m, "rows", n, "chunks", chunks)
		}
		return nil
	})
	return total, held, err
}

// copyChunk bounds the rows one copy statement reads (and the ids it holds to leave out).
var copyChunk uint64 = 4_000_000

// copyRows copies the rows of from matching where into to, but those whose identity to holds
// there, and returns how many it added.
func copyRows(ctx context.Context, c driver.Conn, from, to, cols, identity, where string) (uint64, error) {
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s AND %s NOT IN (SELECT %s FROM %s WHERE %s)",
		to, cols, cols, from, where, identity, identity, to, where)
	return countedInsert(ctx, c, fmt.Sprintf("SELECT count() FROM %s WHERE %s", to, where), q)
}

// countedInsert runs an INSERT and returns how many rows it added, by the count query before and
// after (merges may fold rows meanwhile: never less than 0).
func countedInsert(ctx context.Context, c driver.Conn, count, insert string, args ...any) (uint64, error) {
	var before, after uint64
	if err := c.QueryRow(ctx, count).Scan(&before); err != nil {
		return 0, err
	}
	if err := c.Exec(ctx, insert, args...); err != nil {
		return 0, err
	}
	if err := c.QueryRow(ctx, count).Scan(&after); err != nil {
		return 0, err
	}
	return max(after, before) - before, nil
}

// swap exchanges the names of two tables (their local tables, on every server of a cluster).
func (r *rebuilder) swap(ctx context.Context, a, b string) error {
	tmp := a + "_swapping"
	on := ""
	if r.l.cluster != "" {
		on = " ON CLUSTER " + quoteIdent(r.l.cluster)
	}
	name := func(t string) string { return quoteIdent(r.l.db) + "." + quoteIdent(r.l.local(t)) }
	return r.db.conn.Exec(ctx, fmt.Sprintf("RENAME TABLE %s TO %s, %s TO %s, %s TO %s%s",
		name(a), name(tmp), name(b), name(a), name(tmp), name(b), on))
}

// drop drops a table (on a cluster, its Distributed table and its local tables).
func (r *rebuilder) drop(ctx context.Context, table string) error {
	if r.l.cluster == "" {
		return r.db.conn.Exec(ctx, "DROP TABLE IF EXISTS "+quoteIdent(r.l.db)+"."+quoteIdent(table))
	}
	on := " ON CLUSTER " + quoteIdent(r.l.cluster)
	for _, t := range []string{table, r.l.local(table)} {
		if err := r.db.conn.Exec(ctx, "DROP TABLE IF EXISTS "+quoteIdent(r.l.db)+"."+quoteIdent(t)+on); err != nil {
			return err
		}
	}
	return nil
}
