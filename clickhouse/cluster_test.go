package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/postback"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

// Every statement of every migration has a cluster form, and every table a sharding key.
func TestEveryMigrationHasAClusterForm(t *testing.T) {
	texts := []string{clickhouse.Query("schema/schema_migrations")}
	for _, m := range clickhouse.Migrations() {
		texts = append(texts, m.SQL)
	}
	created := 0
	for _, text := range texts {
		for _, st := range clickhouse.Statements(text) {
			out, err := clickhouse.ClusterStatements(st, "fc", "c1")
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			for _, o := range out {
				if strings.HasPrefix(o, "CREATE TABLE") && strings.Contains(o, "ENGINE = Replicated") {
					created++
					if !strings.Contains(o, "'/clickhouse/tables/{shard}/fc/") || !strings.Contains(o, "'{replica}'") {
						t.Errorf("replicated table without its ZooKeeper path and replica: %s", o)
					}
				}
				if strings.HasPrefix(o, "CREATE") && !strings.Contains(o, " ON CLUSTER `c1` ") {
					t.Errorf("not created on every server: %s", o)
				}
			}
		}
	}
	if created < 20 {
		t.Fatalf("only %d replicated tables made from the migrations", created)
	}
	if _, err := clickhouse.ClusterStatements("OPTIMIZE TABLE clicks FINAL", "fc", "c1"); err == nil {
		t.Fatal("a statement without a cluster form was taken")
	}
	if _, err := clickhouse.ClusterStatements("CREATE TABLE IF NOT EXISTS nokey (a UInt8) ENGINE = MergeTree ORDER BY a", "fc", "c1"); err == nil ||
		!strings.Contains(err.Error(), "sharding key") {
		t.Fatalf("a table without a sharding key: err = %v", err)
	}
}

// migrate --cluster lays every table out on each server (replicated, under a Distributed table of
// the product's name), records the schema once, changes nothing when run again, and refuses to
// mix layouts.
func TestMigrateCluster(t *testing.T) {
	dsn, cluster, db := chtest.ClusterDatabase(t)
	ctx := context.Background()
	quiet := quietLog
	res, err := clickhouse.MigrateCluster(ctx, dsn, cluster, quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := clickhouse.Migrations()[len(clickhouse.Migrations())-1].Version
	if len(res.Applied) != 0 || res.Version != want {
		t.Fatalf("second run applied %v, version %d (want none, %d)", res.Applied, res.Version, want)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM schema_migrations"); n != uint64(want) {
		t.Fatalf("schema_migrations holds %d rows for %d versions", n, want)
	}
	if got, err := db.Cluster(ctx); err != nil || got != cluster {
		t.Fatalf("Cluster() = %q, %v; want %q", got, err, cluster)
	}
	// Each server has the replicated table and the Distributed one.
	servers := chtest.Count(t, db, "SELECT count() FROM system.clusters WHERE cluster = ?", cluster)
	for _, table := range []string{"clicks", "link_versions", "rollup_lines", "commissions"} {
		engines := map[string]uint64{}
		rows, err := db.Conn().Query(ctx, "SELECT engine, count() FROM cluster(?, system, tables) WHERE database = ? AND name IN (?, ?) GROUP BY engine",
			cluster, db.Database(), table, table+clickhouse.LocalSuffix)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var e string
			var n uint64
			rows.Scan(&e, &n)
			engines[e] = n
		}
		rows.Close()
		// cluster() reads one replica of each shard: two servers of the four.
		if engines["Distributed"] != servers/2 || len(engines) != 2 || !strings.HasPrefix(firstOther(engines, "Distributed"), "Replicated") {
			t.Errorf("%s: engines on the servers %v", table, engines)
		}
	}
	// Layouts are not mixed.
	if _, err := clickhouse.Migrate(ctx, dsn, quiet); err == nil || !strings.Contains(err.Error(), "--cluster") {
		t.Fatalf("migrate without --cluster of a cluster's database: err = %v", err)
	}
	// One server's tables, on a server of the cluster.
	single := clickhouse.WithDatabase(dsn, db.Database()+"_single")
	if _, err := clickhouse.Migrate(ctx, single, quiet); err != nil {
		t.Fatal(err)
	}
	defer db.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db.Database()+"_single")
	if _, err := clickhouse.MigrateCluster(ctx, single, cluster, quiet); err == nil || !strings.Contains(err.Error(), "one server's tables") {
		t.Fatalf("migrate --cluster of one server's database: err = %v", err)
	}
	if _, err := clickhouse.MigrateCluster(ctx, dsn, "nosuchcluster", quiet); err == nil || !strings.Contains(err.Error(), `no cluster "nosuchcluster"`) {
		t.Fatalf("an unknown cluster: err = %v", err)
	}
	if _, err := clickhouse.MigrateCluster(ctx, dsn, "c; DROP", quiet); err == nil {
		t.Fatal("a cluster name with SQL in it was taken")
	}
}

func firstOther(m map[string]uint64, not string) string {
	for k := range m {
		if k != not {
			return k
		}
	}
	return ""
}

// The same events, imports and attribution runs through one server and through the cluster give
// the same reports (raw tables and rollups), the same commission lines, statements and lines
// reports, and prune the same rows.
func TestClusterAnswersAsOneServer(t *testing.T) {
	oneDSN, one := chtest.Database(t)
	clDSN, cluster, cl := chtest.ClusterDatabase(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	dir := t.TempDir()
	generate(t, dir, 42, 1500)
	now := time.Now()
	for _, db := range []*clickhouse.DB{one, cl} {
		batches := rollupData(t, db)
		for d := 1; d <= 4; d++ {
			if _, err := db.RollDay(ctx, day(d)); err != nil {
				t.Fatal(err)
			}
		}
		// A batch of a rolled-up day replayed.
		if err := db.Events().Write(ctx, &sink.Batch{Clicks: batches[40].Clicks, Impressions: batches[40].Impressions, Retry: true}); err != nil {
			t.Fatal(err)
		}
		for round := range 2 { // the second import must change nothing, on either
			for _, table := range attribution.Tables() {
				if _, err := db.Import(ctx, importFile(t, dir, table), now.Add(time.Duration(round)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	oneRaw, clRaw := rawStore(t, oneDSN), rawStore(t, clDSN)

	// Attribution: the same input, lines, stored lines, lines report and statement.
	p := attribution.Presets()["affiliate"]
	asOf := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	var lines [2]string
	for i, db := range []*clickhouse.DB{one, cl} {
		in, err := db.LoadInput(ctx, &p, asOf, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := attribution.Compute(&p, in, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < 50 {
			t.Fatalf("only %d lines: the data set does not exercise attribution", len(got))
		}
		lines[i] = ndjson(got)
		// Some lines came through a network, for its statement.
		for j := range got {
			if j%3 == 0 {
				got[j].NetworkClickID = fmt.Sprintf("net-%d", j)
			}
		}
		if err := db.SaveLines(ctx, got, asOf, now); err != nil {
			t.Fatal(err)
		}
	}
	if lines[0] != lines[1] {
		t.Fatalf("the cluster computes other lines; first difference:\n%s", firstDiff(lines[1], lines[0]))
	}
	current := func(db *clickhouse.DB) string {
		ls, err := db.CurrentLines(ctx, "affiliate")
		if err != nil {
			t.Fatal(err)
		}
		return ndjson(ls)
	}
	if a, b := current(one), current(cl); a != b || a == "" {
		t.Fatalf("stored lines differ (or are none); first difference:\n%s", firstDiff(b, a))
	}
	for _, db := range []*clickhouse.DB{one, cl} {
		if _, err := db.RollLines(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lq := report.LinesQuery{From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: asOf, Program: "affiliate"}
	l1, err1 := one.Lines(ctx, lq)
	l2, err2 := cl.Lines(ctx, lq)
	if err1 != nil || err2 != nil || ndjson(l1) != ndjson(l2) || len(l1) == 0 {
		t.Fatalf("lines report: %d and %d lines (%v, %v)", len(l1), len(l2), err1, err2)
	}
	s1, err1 := one.Statement(ctx, []string{"affiliate"}, lq.From, lq.To)
	s2, err2 := cl.Statement(ctx, []string{"affiliate"}, lq.From, lq.To)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(s1, s2) || len(s1) == 0 {
		t.Fatalf("statement: %d and %d rows (%v, %v)", len(s1), len(s2), err1, err2)
	}
	// Reports, commissions among their numbers: random slices of the clicks' days, and the
	// attribution data's year.
	rng := rand.New(rand.NewPCG(9, 1))
	dims := []string{"day", "hour", "partner", "program", "link", "campaign", "outcome", "country", "device", "browser", "referer_host"}
	values := map[string][]string{"partner": {"P1", "P4"}, "program": {"affiliate"}, "link": {"L3"}, "country": {"DE"}, "device": {"mobile"}}
	start := time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC)
	for i := range 24 {
		q := randomQuery(rng, start, i%3 == 0, dims, values)
		q.Limit = 1000
		if i%5 == 0 {
			q.Partner = "P2"
		}
		if i%4 == 1 {
			q.From, q.To = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
			q.Partner = ""
		}
		name := fmt.Sprintf("%s..%s by %v where %v partner %q", q.From.Format("06-01-02T15"), q.To.Format("06-01-02T15"), q.By, q.Where, q.Partner)
		for _, pair := range [][2]*clickhouse.DB{{one, cl}, {oneRaw, clRaw}} {
			want, err := report.Run(ctx, pair[0], q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := report.Run(ctx, pair[1], q)
			if err != nil {
				t.Fatalf("cluster, %s: %v", name, err)
			}
			sameResult(t, name, want, got)
		}
	}

	// Postbacks: attempts recorded, and what counts as settled.
	var attempts []postback.Attempt
	for i := range 40 {
		attempts = append(attempts, postback.Attempt{Network: "net", Program: "affiliate", Line: "order", Ref: fmt.Sprintf("o%d", i%25),
			Status: "approved", URL: "https://net.example/pb", N: uint16(1 + i/25), TS: now.Add(time.Duration(i) * time.Second),
			HTTPStatus: []uint16{200, 500, 404, 0}[i%4], OK: i%4 == 0})
	}
	var settled [2]map[postback.Key]bool
	for i, db := range []*clickhouse.DB{one, cl} {
		if err := db.SaveAttempts(ctx, attempts); err != nil {
			t.Fatal(err)
		}
		var err error
		if settled[i], err = db.Settled(ctx, "net"); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(settled[0], settled[1]) || len(settled[0]) == 0 {
		t.Fatalf("settled postbacks: one server %v, cluster %v", settled[0], settled[1])
	}

	// Prune: whole months dropped, the rest of a month deleted, on every shard.
	cutoff := time.Date(2026, 10, 3, 12, 0, 0, 0, time.UTC)
	var pruned [2][]clickhouse.PruneResult
	for i, db := range []*clickhouse.DB{one, cl} {
		res, err := db.Prune(ctx, []string{"clicks", "associations"}, cutoff, 0)
		if err != nil {
			t.Fatal(err)
		}
		pruned[i] = res
	}
	if !reflect.DeepEqual(pruned[0], pruned[1]) || len(pruned[0][1].DroppedPartitions) == 0 {
		t.Fatalf("prune: one server %+v, cluster %+v", pruned[0], pruned[1])
	}
	// The DELETEs run in the background: wait for both, then the rows left agree.
	left := func(db *clickhouse.DB) uint64 {
		return chtest.Count(t, db, "SELECT count() FROM clicks WHERE ts < ?", cutoff)
	}
	for end := time.Now().Add(time.Minute); left(one)+left(cl) > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("old clicks still there a minute after prune: %d and %d", left(one), left(cl))
		}
	}
	count := "SELECT count() FROM clicks"
	if a, b := chtest.Count(t, one, count), chtest.Count(t, cl, count); a != b || a == 0 {
		t.Fatalf("after prune: %d clicks on one server, %d on the cluster", a, b)
	}
	// Every server still runs the cluster's DDL: no statement above stopped a server's DDL worker
	// (on 18.16, an ALTER or OPTIMIZE of a replicated table ON CLUSTER can).
	if err := cl.Conn().Exec(ctx, "DROP TABLE IF EXISTS "+cl.Database()+".nothing ON CLUSTER "+cluster); err != nil {
		t.Fatalf("the cluster's DDL after the test: %v", err)
	}
}

// sameResult fails unless two results are identical: rows, order, numbers, estimates.
func sameResult(t *testing.T, name string, want, got *report.Result) {
	t.Helper()
	if !reflect.DeepEqual(want.Totals, got.Totals) {
		t.Errorf("%s: totals %v, one server %v", name, got.Totals, want.Totals)
	}
	if !reflect.DeepEqual(want.Estimates, got.Estimates) {
		t.Errorf("%s: estimates %v, one server %v", name, got.Estimates, want.Estimates)
	}
	if len(want.Rows) != len(got.Rows) {
		t.Errorf("%s: %d rows, one server %d", name, len(got.Rows), len(want.Rows))
		return
	}
	for i := range want.Rows {
		if !reflect.DeepEqual(want.Rows[i], got.Rows[i]) {
			t.Errorf("%s: row %d is %v, one server %v", name, i, got.Rows[i], want.Rows[i])
			return
		}
	}
}

// Moving one server's data to a cluster: the copy brings every event, import, line and link
// version, the cluster's reports then answer as the old server's, and running the copy again, or
// after an edge replayed into the cluster a batch the old server had stored, copies nothing twice.
func TestCopyFromOneServer(t *testing.T) {
	oldDSN, old := chtest.Database(t)
	_, _, cl := chtest.ClusterDatabase(t)
	ctx := context.Background()
	batches := rollupData(t, old)
	dir := t.TempDir()
	generate(t, dir, 7, 500)
	for _, table := range attribution.Tables() {
		if _, err := old.Import(ctx, importFile(t, dir, table), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	p := attribution.Presets()["affiliate"]
	asOf := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	in, err := old.LoadInput(ctx, &p, asOf, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := attribution.Compute(&p, in, asOf)
	if err != nil || len(lines) == 0 {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
	if err := old.SaveLines(ctx, lines, asOf, time.Now()); err != nil {
		t.Fatal(err)
	}
	chtest.Exec(t, old, "INSERT INTO link_versions (code, version, url, partner_id, program, campaign, status, expires_at, actor, request, op) SELECT 'summer', 1, 'https://shop.example.com/', 'P1', 'affiliate', '', 'active', toDateTime(0), 'admin', '', 'create'")
	if err := old.SaveAttempts(ctx, []postback.Attempt{
		{Network: "net", Program: "affiliate", Line: "order", Ref: "o1", Status: "approved", N: 1, TS: time.Now(), HTTPStatus: 500},
		{Network: "net", Program: "affiliate", Line: "order", Ref: "o1", Status: "approved", N: 2, TS: time.Now(), HTTPStatus: 200, OK: true},
	}); err != nil {
		t.Fatal(err)
	}
	// At the cut, an edge's spool replays into the cluster a batch the old server had stored.
	if err := cl.Events().Write(ctx, &sink.Batch{Clicks: batches[100].Clicks, Retry: true}); err != nil {
		t.Fatal(err)
	}
	// While another copy (or a migrate making tables again) holds the database, a copy does not start.
	other, err := cl.TakeLease(ctx, clickhouse.MigrateLease, "another copy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CopyFrom(ctx, oldDSN, nil); !errors.Is(err, clickhouse.ErrLeaseHeld) || !strings.Contains(err.Error(), "another copy") {
		t.Fatalf("a copy while another held the database: %v", err)
	}
	if n := chtest.Count(t, cl, "SELECT count() FROM orders"); n != 0 {
		t.Fatalf("the refused copy wrote %d orders", n)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var copied [2]uint64
	for round := range 2 {
		err := cl.CopyFrom(ctx, oldDSN, func(table, month string, rows uint64, took time.Duration) { copied[round] += rows })
		if err != nil {
			t.Fatal(err)
		}
	}
	if copied[0] == 0 || copied[1] != 0 {
		t.Fatalf("rows copied: %d the first time, %d the second", copied[0], copied[1])
	}
	for _, db := range []*clickhouse.DB{old, cl} {
		for d := 1; d <= 6; d++ { // the days of the clicks (migrate rolls every day up, 2022's too)
			if _, err := db.RollDay(ctx, time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.RollLines(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []report.Query{
		{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC), By: []string{"day", "partner"}, IncludeBots: true},
		{From: time.Date(2026, 10, 2, 5, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 3, 7, 0, 0, 0, time.UTC), By: []string{"link"}},
		{From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: asOf, By: []string{"partner"}},
	} {
		q.Limit = 1000
		want, err1 := report.Run(ctx, old, q)
		got, err2 := report.Run(ctx, cl, q)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		sameResult(t, fmt.Sprintf("%s..%s by %v", q.From, q.To, q.By), want, got)
	}
	a, _ := old.CurrentLines(ctx, "affiliate")
	b, _ := cl.CurrentLines(ctx, "affiliate")
	if ndjson(a) != ndjson(b) || len(a) == 0 {
		t.Fatalf("lines: %d on the old server, %d on the cluster", len(a), len(b))
	}
	if n := chtest.Count(t, cl, "SELECT count() FROM postbacks"); n != 2 {
		t.Fatalf("%d postback attempts on the cluster after two copies, 2 on the old server", n)
	}
	h, err := cl.LinkHistory(ctx, "summer")
	if err != nil || len(h) != 1 {
		t.Fatalf("link history on the cluster: %v, %v", h, err)
	}
	if err := one(t).CopyFrom(ctx, oldDSN, nil); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("copy into one server's database: err = %v", err)
	}
}

func one(t *testing.T) *clickhouse.DB { _, db := chtest.Database(t); return db }

// With a server of the cluster down, migrate fails at once naming it (not after the DDL queue's
// three minutes); if one goes down in the middle of a migration, the servers that answer keep
// every table, and the missing one catches up from the DDL queue when it is back.
func TestClusterMigrationWithAServerDown(t *testing.T) {
	c := chtest.NewCluster(t)
	ctx := context.Background()
	dsn := c.DSN // the cluster's profile waits 15 s for a server in ON CLUSTER statements
	if _, err := clickhouse.MigrateCluster(ctx, dsn, c.Name, quietLog); err != nil {
		t.Fatal(err)
	}
	c.KillNode(4)
	start := time.Now()
	_, err := clickhouse.MigrateCluster(ctx, dsn, c.Name, quietLog)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+c.Ports[3]) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("migrate with server 4 down: %v", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("migrate took %s to say a server is down", took)
	}
	// A migration's ALTER reached the shards (server 4 was down): the Distributed table follows on
	// the servers that answer.
	db, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, port := range []string{c.Ports[0], c.Ports[2]} {
		node, err := clickhouse.Open("clickhouse://127.0.0.1:" + port + "/firstclaim")
		if err != nil {
			t.Fatal(err)
		}
		// 341: done here, and on server 4 when it is back.
		if err := node.Conn().Exec(ctx, "ALTER TABLE attribution_leases_local ADD COLUMN note String"); err != nil && !strings.Contains(err.Error(), "code: 341") {
			t.Fatal(err)
		}
		node.Close()
	}
	changed, err := clickhouse.SyncDistributed(ctx, db, c.Name)
	if err == nil || !strings.Contains(err.Error(), "the others will when they are back") || !slices.Contains(changed, "attribution_leases") {
		t.Fatalf("sync with a server down: %v, %v", changed, err)
	}
	for _, port := range []string{c.Ports[0], c.Ports[1], c.Ports[2]} {
		node, err := clickhouse.Open("clickhouse://127.0.0.1:" + port + "/firstclaim")
		if err != nil {
			t.Fatal(err)
		}
		if n := chtest.Count(t, node, "SELECT count() FROM system.columns WHERE database = 'firstclaim' AND table = 'attribution_leases' AND name = 'note'"); n != 1 {
			t.Fatalf("server on %s: the Distributed table lacks the new column (or the table)", port)
		}
		node.Close()
	}
	c.StartNode(4)
	node4, err := clickhouse.Open(c.NodeDSN(4))
	if err != nil {
		t.Fatal(err)
	}
	defer node4.Close()
	if !eventually(30*time.Second, func() bool {
		var n uint64
		err := node4.Conn().QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'firstclaim' AND table = 'attribution_leases' AND name = 'note'").Scan(&n)
		return err == nil && n == 1
	}) {
		t.Fatal("server 4 did not catch up with the Distributed table once back")
	}
	if _, err := clickhouse.MigrateCluster(ctx, dsn, c.Name, quietLog); err != nil {
		t.Fatalf("migrate once every server is back: %v", err)
	}
}

func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A month finished on the cluster (its rollup partitions merged on every shard, its month rows made
// and recorded once) answers as on one server and as the raw tables.
func TestMonthRowsOnACluster(t *testing.T) {
	_, one := chtest.Database(t)
	clDSN, _, cl := chtest.ClusterDatabase(t)
	raw := rawStore(t, clDSN)
	ctx := context.Background()
	now := time.Now().UTC()
	month := endedMonth(now)
	for _, db := range []*clickhouse.DB{one, cl} {
		w := db.Events()
		for d := 0; d < 3; d++ {
			day := month.AddDate(0, 0, 10+d)
			for i := range 40 {
				ts := day.Add(time.Duration(i*30) * time.Minute)
				w.SetClock(func() time.Time { return ts })
				if err := w.Write(ctx, &sink.Batch{Clicks: []firstclaim.Click{{ID: firstclaim.NewIDString(ts), TS: ts, Link: fmt.Sprintf("L%d", i%7),
					PartnerID: fmt.Sprintf("P%d", i%3), Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Visitor: uint64(i % 11)}}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.RollDay(ctx, day); err != nil {
				t.Fatal(err)
			}
		}
		// The month's other days, rolled up and empty; the days after it stay pending.
		for d := month; d.Before(month.AddDate(0, 1, 0)); d = d.AddDate(0, 0, 1) {
			if d.Day() < 11 || d.Day() > 13 {
				chtest.Exec(t, db, "INSERT INTO rollup_runs (day, run, committed_ns) SELECT toDate(?), ?, 1", d.Format(time.DateOnly), uint64(d.Unix()))
			}
		}
		if err := db.FinishMonths(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		if n := chtest.Count(t, db, "SELECT count() FROM rollup_month_runs WHERE month = toDate(?)", month.Format(time.DateOnly)); n != 1 {
			t.Fatalf("%d runs of month rows, want 1", n)
		}
	}
	// Each shard merges its own rows: a link has a month row on each shard that holds some of its
	// day rows.
	if a, b := chtest.Count(t, one, "SELECT count() FROM rollup_clicks_links_months"), chtest.Count(t, cl, "SELECT count() FROM rollup_clicks_links_months"); a == 0 || b < a || b > 2*a {
		t.Fatalf("month rows: %d on one server, %d on the cluster of two shards", a, b)
	}
	time.Sleep(1100 * time.Millisecond)
	q := report.Query{From: month, To: month.AddDate(0, 1, 0), By: []string{"link"}}
	want := sameAsRaw(t, raw, cl, q, "cluster")
	got := sameAsRaw(t, raw, one, q, "one server")
	if len(want.Rows) != 7 || len(got.Rows) != 7 {
		t.Fatalf("%d and %d rows, want 7", len(want.Rows), len(got.Rows))
	}
}
