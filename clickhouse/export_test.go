package clickhouse

import (
	"context"
	"time"

	"github.com/firstclaim/firstclaim/report"
)

// What the external tests of this package (package clickhouse_test, which may use chtest) need of
// its inside.
var (
	GroupsSQL = groupsSQL
	LinesSQL  = linesSQL
)

// MigrateUpTo migrates a database (on cluster, unless "") up to a version only.
func MigrateUpTo(ctx context.Context, dsn, cluster string, version uint32) error {
	_, err := migrateUpTo(ctx, dsn, cluster, nil, version)
	return err
}

// SetRebuildSettle sets how long migration 013 waits after swapping a table, and returns the
// previous wait.
func SetRebuildSettle(d time.Duration) time.Duration {
	old := rebuildSettle
	rebuildSettle = d
	return old
}

// SetResumeMargin sets how much earlier than its first table a resumed migration forgets runs
// from, and returns the previous margin.
func SetResumeMargin(d time.Duration) time.Duration {
	old := resumeMargin
	resumeMargin = d
	return old
}

// SetCopyChunk sets the rows migration 013 copies in one statement, and returns the previous.
func SetCopyChunk(n uint64) uint64 {
	old := copyChunk
	copyChunk = n
	return old
}

// LinesRollupSQL renders the query of the lines' rollup for a slice, and the filters' parameters
// (after the run, from and to).
func LinesRollupSQL(s report.Slice) (string, []any) {
	sql, args, err := reportSQL(Query("report/rollup_lines"), report.SourceLines, s)
	if err != nil {
		panic(err)
	}
	return sql, args
}

// LinesRollFresh reports whether reports read the lines from their rollup.
func (db *DB) LinesRollFresh(ctx context.Context) (bool, error) {
	_, fresh, err := db.currentLinesRoll(ctx)
	return fresh, err
}

// ReportSetting reads a setting as a report query sees it.
func (db *DB) ReportSetting(ctx context.Context, name string) (string, error) {
	ctx, cancel := db.readContext(ctx)
	defer cancel()
	var v string
	err := db.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = '"+name+"'").Scan(&v)
	return v, err
}

// RollSQLs are the INSERTs of a run rolling up [start, end), one per rollup table, and their
// parameters.
func RollSQLs(run uint64, start, end time.Time) (qs []string, args [][]any) {
	for _, f := range rollOrder() {
		q, a := rollSQL(f, run, start, end)
		qs, args = append(qs, q), append(args, a)
	}
	return qs, args
}

// MonthSQLs are the INSERTs of a run writing month m's rows from the day runs given, one per family
// with month rows, and their parameters; days is the hash a report looks the run up by.
func MonthSQLs(run uint64, m time.Time, runs map[time.Time]uint64) (qs []string, args [][]any, days uint64) {
	days, dayRuns := monthDays(m, runs)
	for _, f := range families {
		if f.months {
			q, a := monthSQL(f, f.table(), f.monthTable(), run, m, dayRuns)
			qs, args = append(qs, q), append(args, a)
		}
	}
	return qs, args, days
}

// Values of a rollup query (what RollupGroupsSQL renders).
const (
	ValuesAll      = int(valuesAll)
	ValuesCounts   = int(valuesCounts)
	ValuesVisitors = int(valuesVisitors)
)

// RollupGroupsSQL renders the rollup query of a slice as Groups would with the day and month runs
// given and the hours of replayed rows given; ok is false when the slice is read from the raw tables.
func RollupGroupsSQL(src report.Source, s report.Slice, runs map[time.Time]uint64, months map[time.Time]map[uint64]uint64, replayed [][2]time.Time, values int) (sql string, args []any, ok bool, err error) {
	p, ok := planRollup(src, s, rolledUp{days: runs, months: months})
	if !ok {
		return "", nil, false, nil
	}
	q := rollupQuery{src: src, p: p, s: s, v: rollupValues(values), replayed: replayed}
	sql, args, err = q.sql()
	return sql, args, true, err
}

// ClusterStatements is clusterStatements, for the test that runs every migration through it.
var ClusterStatements = clusterStatements

// SyncDistributed is syncDistributed, for the test of a server down during a migration.
func SyncDistributed(ctx context.Context, db *DB, cluster string) ([]string, error) {
	return syncDistributed(ctx, db, db.name, cluster)
}

// ReadersInUse is how many of the reports' places in the pool are taken.
func (db *DB) ReadersInUse() int { return len(db.readers) }
