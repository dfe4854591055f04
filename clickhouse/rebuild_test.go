package clickhouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

// databaseAt makes a database (on cluster, unless "") migrated up to version only, dropped when the
// test ends.
func databaseAt(t *testing.T, serverDSN, cluster string, version uint32) (string, *clickhouse.DB) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	dsn := clickhouse.WithDatabase(serverDSN, name)
	if err := clickhouse.MigrateUpTo(context.Background(), dsn, cluster, version); err != nil {
		t.Fatal(err)
	}
	db, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		drop := "DROP DATABASE IF EXISTS " + name
		if cluster != "" {
			drop += " ON CLUSTER " + cluster
		}
		_ = db.Conn().Exec(context.Background(), drop)
		db.Close()
	})
	return dsn, db
}

// ids lists a table's ids, sorted, each as often as it is stored.
func ids(t *testing.T, db *clickhouse.DB, table, id string) []string {
	t.Helper()
	rows, err := db.Conn().Query(context.Background(), fmt.Sprintf("SELECT %s FROM %s", id, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func engine(t *testing.T, db *clickhouse.DB, table string) string {
	t.Helper()
	var e string
	if err := db.Conn().QueryRow(context.Background(), "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&e); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return e
}

// eventsOver are n clicks and n impressions spread over three months, from start.
func eventsOver(n int, start time.Time, tag string) *sink.Batch {
	b := &sink.Batch{}
	for i := range n {
		ts := start.Add(time.Duration(float64(i) / float64(n) * float64(90*24*time.Hour)))
		c := sampleClick(i, ts)
		c.ID = fmt.Sprintf("%s-c%05d", tag, i)
		b.Clicks = append(b.Clicks, c)
		b.Impressions = append(b.Impressions, firstclaim.Impression{ID: fmt.Sprintf("%s-i%05d", tag, i), TS: ts, Link: c.Link, PartnerID: c.PartnerID, Program: c.Program})
	}
	return b
}

// Migration 013 moves clicks and impressions into partitions of a day while an edge writes: every
// row stored before it and every row written during it is there afterwards, once; running it again,
// or resuming it from after the swap, changes nothing and loses nothing.
func TestDayPartitionsMigrationKeepsEveryRow(t *testing.T) {
	defer clickhouse.SetRebuildSettle(clickhouse.SetRebuildSettle(300 * time.Millisecond))
	defer clickhouse.SetCopyChunk(clickhouse.SetCopyChunk(1500)) // several statements a month
	dsn, db := databaseAt(t, chtest.ServerDSN(t), "", 12)
	testDayPartitions(t, dsn, "", db)

	// Cut off after the swap: the old table (by month) still there, holding rows the new one
	// lacks, and 013 not recorded. Migrate again copies them and drops it.
	ctx := context.Background()
	chtest.Exec(t, db, "CREATE TABLE clicks_by_day AS clicks ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, link, ts, click_id, rewritten)")
	chtest.Exec(t, db, "INSERT INTO clicks_by_day SELECT * FROM clicks WHERE click_id LIKE 'before-c0000%'")
	cols := ids(t, db, "system.columns WHERE database = currentDatabase() AND table = 'clicks' AND name != 'click_id'", "name")
	chtest.Exec(t, db, fmt.Sprintf("INSERT INTO clicks_by_day (click_id, %[1]s) SELECT concat('late-', click_id), %[1]s FROM clicks WHERE click_id LIKE 'before-c0001%%'",
		strings.Join(cols, ", ")))
	chtest.Exec(t, db, "ALTER TABLE schema_migrations DELETE WHERE version = 13")
	for chtest.Count(t, db, "SELECT count() FROM schema_migrations WHERE version = 13") > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	before := chtest.Count(t, db, "SELECT count() FROM clicks")
	res, err := clickhouse.MigrateCluster(ctx, dsn, "", nil)
	if err != nil || len(res.Applied) != 1 {
		t.Fatalf("resumed 013: %+v, %v", res, err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks"); n != before+10 {
		t.Fatalf("resumed: %d clicks, want the %d there and the 10 only the old table held", n, before)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE click_id LIKE 'late-before-c0001%'"); n != 10 {
		t.Fatalf("resumed: %d of the 10 rows only the old table held", n)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'clicks_by_day'"); n != 0 {
		t.Fatal("the old table is left after resuming")
	}
}

func TestDayPartitionsMigrationOnACluster(t *testing.T) {
	serverDSN, cluster := os.Getenv(chtest.EnvClusterDSN), os.Getenv(chtest.EnvCluster)
	if serverDSN == "" || cluster == "" {
		chtest.ClusterDatabase(t) // says why there is no cluster
		return
	}
	defer clickhouse.SetRebuildSettle(clickhouse.SetRebuildSettle(300 * time.Millisecond))
	dsn, db := databaseAt(t, serverDSN, cluster, 12)
	testDayPartitions(t, dsn, cluster, db)
}

func testDayPartitions(t *testing.T, dsn, cluster string, db *clickhouse.DB) {
	ctx := context.Background()
	local := func(table string) string {
		if cluster != "" {
			return table + clickhouse.LocalSuffix
		}
		return table
	}
	start := time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)
	if err := db.Events().Write(ctx, eventsOver(3000, start, "before")); err != nil {
		t.Fatal(err)
	}
	if e := engine(t, db, local("clicks")); !strings.Contains(e, "toYYYYMM(ts)") {
		t.Fatalf("before 013 the clicks are kept by month: %s", e)
	}

	// An edge writing all along: a failed write (the table gone for a moment) is sent again, as
	// the sink does.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written []string
	var failures int
	wg.Go(func() {
		w := db.Events()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := eventsOver(20, start.Add(time.Duration(i)*time.Hour), fmt.Sprintf("during%04d", i))
			for w.Write(ctx, b) != nil {
				failures++
				time.Sleep(20 * time.Millisecond)
			}
			for _, c := range b.Clicks {
				written = append(written, c.ID)
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	res, err := clickhouse.MigrateCluster(ctx, dsn, cluster, nil)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) == 0 || res.Applied[0].Version != 13 {
		t.Fatalf("applied %+v, want 013 first", res.Applied)
	}
	if len(written) == 0 {
		t.Fatal("the edge wrote nothing during the migration")
	}
	t.Logf("%d clicks written during the migration, %d writes sent again", len(written), failures)
	for _, table := range []string{"clicks", "impressions"} {
		if e := engine(t, db, local(table)); !strings.Contains(e, "PARTITION BY toDate(ts)") {
			t.Fatalf("%s after 013: %s", table, e)
		}
		if n := chtest.Count(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE ?", table+"_by_day%"); n != 0 {
			t.Fatalf("%d tables %s_by_day* left", n, table)
		}
	}
	var wantClicks []string
	for _, c := range eventsOver(3000, start, "before").Clicks {
		wantClicks = append(wantClicks, c.ID)
	}
	wantClicks = append(wantClicks, written...)
	slices.Sort(wantClicks)
	if got := ids(t, db, "clicks", "click_id"); !slices.Equal(got, wantClicks) {
		t.Fatalf("clicks after 013: %d ids, want the %d written (before and during), each once", len(got), len(wantClicks))
	}
	if n := chtest.Count(t, db, "SELECT count() FROM impressions WHERE impression_id LIKE 'before-%'"); n != 3000 {
		t.Fatalf("impressions stored before 013: %d after it, want 3000", n)
	}
	// One partition a day: the 3,000 clicks of 90 days are in 90 partitions or so.
	if n := chtest.Count(t, db, "SELECT uniqExact(partition_id) FROM system.parts WHERE database = currentDatabase() AND table = ? AND active", local("clicks")); n < 85 {
		t.Fatalf("%d partitions of clicks, want one a day", n)
	}

	// Again: nothing to do.
	if res, err := clickhouse.MigrateCluster(ctx, dsn, cluster, nil); err != nil || len(res.Applied) != 0 {
		t.Fatalf("migrate again: %+v, %v", res, err)
	}
}

// Migration 014 makes the rollup tables read by partner and by link again with finer marks while a
// roller rolls days up: every recorded run's rows are in the new tables (reports read from the
// rollups answer as the raw tables do), and days rolled during the migration count too.
func TestFinerRollupMarksMigrationKeepsEveryRun(t *testing.T) {
	defer clickhouse.SetRebuildSettle(clickhouse.SetRebuildSettle(300 * time.Millisecond))
	dsn, db := databaseAt(t, chtest.ServerDSN(t), "", 13)
	ctx := context.Background()
	rollupData(t, db)
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	for d := 1; d <= 3; d++ {
		if _, err := db.RollDay(ctx, day(d)); err != nil {
			t.Fatal(err)
		}
	}
	// A copy cut off before: the new table already holds one run's rows. Migrate makes it anew
	// (copying every run again into it would count that run twice). The days rolled up before it
	// stay rolled up (the margin for clocks apart is left out here, so that they do).
	defer clickhouse.SetResumeMargin(clickhouse.SetResumeMargin(0))
	time.Sleep(1100 * time.Millisecond) // the table's time has whole seconds
	for _, m := range clickhouse.Migrations() {
		for _, st := range clickhouse.Statements(m.SQL) {
			if m.Version == 14 && strings.Contains(st, "rollup_clicks_links_fine (") {
				chtest.Exec(t, db, st)
			}
		}
	}
	chtest.Exec(t, db, "INSERT INTO rollup_clicks_links_fine SELECT * FROM rollup_clicks_links WHERE run = (SELECT any(run) FROM rollup_runs)")
	// Prune refuses while tables are being made again: what it removed would come back.
	if _, err := db.Prune(ctx, []string{"clicks"}, day(1), 0); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("prune during a rebuild: %v, want a refusal naming migrate", err)
	}
	// A roller at work during the migration, days 4 and 5: it waits while tables are made again.
	var wg sync.WaitGroup
	var rollErr error
	waited := 0
	wg.Go(func() {
		for d := 4; d <= 5; d++ {
			for {
				_, err := db.RollDay(ctx, day(d))
				if err == nil {
					break
				}
				if !errors.Is(err, clickhouse.ErrRebuildUnderway) {
					rollErr = err
					return
				}
				waited++
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	time.Sleep(50 * time.Millisecond)
	res, err := clickhouse.MigrateCluster(ctx, dsn, "", nil)
	wg.Wait()
	if err != nil || rollErr != nil {
		t.Fatal(err, rollErr)
	}
	t.Logf("the roller waited %d times", waited)
	// Days rolled up while the migration ran (here: since a minute before the cut-off copy's table
	// was made) are forgotten and rolled up again by the roller once the forgetting is done.
	for chtest.Count(t, db, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = 'rollup_runs' AND is_done = 0") > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_runs WHERE day < toDate('2026-10-04')"); n != 3 {
		t.Fatalf("%d runs of the days rolled up before the migration are recorded, want 3", n)
	}
	if n, err := db.RollPending(ctx, nil, nil); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("%d days rolled up after the migration", n)
	}
	if len(res.Applied) == 0 || res.Applied[0].Version != 14 {
		t.Fatalf("applied %+v, want 014 first", res.Applied)
	}
	for _, table := range []string{"rollup_clicks_partners", "rollup_clicks_links", "rollup_impressions_links", "rollup_associations_links"} {
		if e := engine(t, db, table); !strings.Contains(e, "index_granularity = 64") {
			t.Fatalf("%s after 014: %s", table, e)
		}
	}
	if n := chtest.Count(t, db, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_fine'"); n != 0 {
		t.Fatalf("%d new tables left under their temporary names", n)
	}
	if n := chtest.Count(t, db, "SELECT uniqExact(run) FROM rollup_clicks_links WHERE run IN (SELECT run FROM rollup_runs) AND period < toDateTime('2026-10-06 00:00:00')"); n != 5 {
		t.Fatalf("rollup_clicks_links holds rows of %d recorded runs of the five days, want 5", n)
	}
	raw, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.ReadRollups(false)
	for _, q := range []report.Query{
		{From: day(1), To: day(6), By: []string{"link"}},
		{From: day(1), To: day(6), By: []string{"partner", "day"}},
		{From: day(1), To: day(6), By: []string{"link"}, Partner: "P1"},
	} {
		if got := sameAsRaw(t, raw, db, q, fmt.Sprintf("after 014: %v partner %q", q.By, q.Partner)); got.Estimates["visitors"] == (report.Estimate{}) {
			t.Fatalf("%+v was not read from the rollups", q)
		}
	}
}

// Two migrates at once: one makes the tables again, the other stops and names it; nothing is lost.
func TestTwoMigratesAtOnce(t *testing.T) {
	defer clickhouse.SetRebuildSettle(clickhouse.SetRebuildSettle(300 * time.Millisecond))
	dsn, db := databaseAt(t, chtest.ServerDSN(t), "", 12)
	ctx := context.Background()
	start := time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)
	if err := db.Events().Write(ctx, eventsOver(2000, start, "before")); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = clickhouse.MigrateCluster(ctx, dsn, "", nil) })
	}
	wg.Wait()
	held := 0
	for _, err := range errs {
		if errors.Is(err, clickhouse.ErrLeaseHeld) {
			held++
			if !strings.Contains(err.Error(), "being migrated by") {
				t.Errorf("the refusal does not say who migrates: %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if held != 1 {
		t.Fatalf("errors %v: want one migrate refused", errs)
	}
	if e := engine(t, db, "clicks"); !strings.Contains(e, "PARTITION BY toDate(ts)") {
		t.Fatalf("clicks after two migrates: %s", e)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks"); n != 2000 {
		t.Fatalf("%d clicks after two migrates, want 2000", n)
	}
	// The refused one, run again, finds nothing to do.
	if res, err := clickhouse.MigrateCluster(ctx, dsn, "", nil); err != nil || len(res.Applied) != 0 {
		t.Fatalf("again: %+v, %v", res, err)
	}
}
