package clickhouse_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/sink"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestMigrateCreatesEveryTableAndIsIdempotent(t *testing.T) {
	dsn, store := chtest.Database(t) // migrated once already
	res, err := clickhouse.Migrate(ctx(t), dsn, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	all := clickhouse.Migrations()
	if len(res.Applied) != 0 || res.Version != all[len(all)-1].Version {
		t.Fatalf("second migrate applied %d, version %d; want 0 and %d", len(res.Applied), res.Version, all[len(all)-1].Version)
	}
	if store.Database() == "" {
		t.Fatal("no database name")
	}
	for _, table := range []string{"clicks", "impressions", "associations", "link_versions", "link_claims", "accounts", "partners", "orders", "commissions", "schema_migrations"} {
		if n := chtest.Count(t, store, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", store.Database(), table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	if n := chtest.Count(t, store, "SELECT uniqExact(version) FROM schema_migrations"); n != uint64(len(all)) {
		t.Errorf("schema_migrations holds %d versions, want %d", n, len(all))
	}
	if n := chtest.Count(t, store, "SELECT count() FROM schema_migrations"); n != uint64(len(all)) {
		t.Errorf("schema_migrations holds %d rows after two runs, want %d", n, len(all))
	}
}

func TestMigrateNamesTheBadAddress(t *testing.T) {
	for dsn, want := range map[string]string{
		"http://127.0.0.1:9000/x":             "want clickhouse://host:port/database",
		"clickhouse://u:hunter2@/db":          "want clickhouse://host:port/database",
		"clickhouse://127.0.0.1:1/firstclaim": "cannot create database",
	} {
		_, err := clickhouse.Migrate(ctx(t), dsn, quietLog)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", dsn, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the password leaked into %q", err)
		}
	}
}

func sampleClick(i int, ts time.Time) firstclaim.Click {
	return firstclaim.Click{
		ID: firstclaim.NewIDString(ts), TS: ts, Link: fmt.Sprintf("link-%d", i%7), PartnerID: fmt.Sprintf("partner-%d", i%3),
		Program: "affiliate", Campaign: "summer", Outcome: firstclaim.OutcomeClaimed,
		ClaimPartnerID: fmt.Sprintf("partner-%d", i%3), ClaimExpiresAt: ts.Add(15 * 24 * time.Hour),
		IP: netip.MustParseAddr("2001:db8::1"), StoredIP: "2001:db8::", UserAgent: "Mozilla/5.0 ünïcode",
		Referer: "https://news.example/a?b=c", RefererHost: "news.example", Visitor: 0xfedcba9876543210,
		GPC: i%2 == 0, NetworkParam: "irclickid", NetworkClickID: "n-" + fmt.Sprint(i),
		Country: "DE", Region: "BE", City: "Berlin", DeviceType: "desktop", OS: "Linux", Browser: "Chrome", BrowserVersion: "126",
	}
}

func TestClickHouseWriterStoresEveryField(t *testing.T) {
	_, db := chtest.Database(t)
	w := db.Events()
	// Written as it happens (an event written over a minute late is marked replayed: see
	// TestClickHouseWriterMarksLateRows).
	ts := time.Now().UTC().Truncate(time.Second).Add(345 * time.Millisecond)
	c := sampleClick(1, ts)
	c.Tampered, c.Duplicate, c.NotNavigation = true, true, true
	a := firstclaim.Association{ID: "as-1", TS: ts, Program: "ambassador-2025", AccountID: "acc-1", PartnerID: "partner-1",
		ClickID: c.ID, Link: "link-1", Kind: firstclaim.KindRegister, ClaimedAt: ts.Add(-time.Hour), ClaimExpiresAt: ts.Add(29 * 24 * time.Hour),
		Source: "pixel", NetworkClickID: "n-1"}
	m := firstclaim.Impression{ID: "im-1", TS: ts, Link: "link-1", PartnerID: "partner-1", Program: "affiliate", Known: true, StoredIP: "192.0.2.7",
		IP: netip.MustParseAddr("192.0.2.7"), Visitor: 7}

	// Every string column, by name, against the field it comes from: each value is distinct, so
	// a column filled from the wrong field fails here.
	c.ClaimPartnerID, c.ClaimClickID, c.OSVersion = "partner-9", "claim-click-1", "6.1"
	want := map[string]string{
		"click_id": c.ID, "link": c.Link, "partner_id": c.PartnerID, "program": c.Program, "campaign": c.Campaign,
		"outcome": "claimed", "claim_partner_id": c.ClaimPartnerID, "claim_click_id": c.ClaimClickID, "ip": c.StoredIP,
		"user_agent": c.UserAgent, "referer": c.Referer, "referer_host": c.RefererHost, "network_param": c.NetworkParam,
		"network_click_id": c.NetworkClickID, "country": c.Country, "region": c.Region, "city": c.City,
		"device_type": c.DeviceType, "os": c.OS, "os_version": c.OSVersion, "browser": c.Browser,
		"browser_version": c.BrowserVersion,
	}
	seen := map[string]string{}
	for col, v := range want {
		if other, dup := seen[v]; dup {
			t.Fatalf("columns %s and %s would both hold %q", col, other, v)
		}
		seen[v] = col
	}
	b := &sink.Batch{Clicks: []firstclaim.Click{c}, Associations: []firstclaim.Association{a}, Impressions: []firstclaim.Impression{m}}
	if err := w.Write(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	for col, v := range want {
		var got string
		if err := db.Conn().QueryRow(ctx(t), "SELECT "+col+" FROM clicks").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("%s read back as %q, want %q", col, got, v)
		}
	}
	var got struct {
		ts, exp                             time.Time
		ms                                  uint16
		visitor                             uint64
		tampered, bot, notNav, rl, dup, gpc uint8
		replayed                            uint8
	}
	err := db.Conn().QueryRow(ctx(t), `SELECT ts, claim_expires_at, ts_ms, visitor, tampered, bot, not_navigation, rate_limited,
		duplicate, gpc, replayed FROM clicks`).Scan(&got.ts, &got.exp, &got.ms, &got.visitor, &got.tampered, &got.bot,
		&got.notNav, &got.rl, &got.dup, &got.gpc, &got.replayed)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ts.Equal(ts.Truncate(time.Second)) || got.ms != 345 || !got.exp.Equal(c.ClaimExpiresAt.Truncate(time.Second)) ||
		got.visitor != c.Visitor || got.tampered != 1 || got.bot != 0 || got.notNav != 1 || got.rl != 0 || got.dup != 1 ||
		got.gpc != 0 || got.replayed != 0 {
		t.Fatalf("click read back as %+v", got)
	}
	var kind, account, source string
	var claimed time.Time
	if err := db.Conn().QueryRow(ctx(t), "SELECT kind, account_id, source, claimed_at FROM associations WHERE association_id = 'as-1'").Scan(&kind, &account, &source, &claimed); err != nil {
		t.Fatal(err)
	}
	if kind != "register" || account != "acc-1" || source != "pixel" || !claimed.Equal(a.ClaimedAt.Truncate(time.Second)) {
		t.Fatalf("association read back as %s %s %s %s", kind, account, source, claimed)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM impressions WHERE impression_id = 'im-1' AND known_link = 1 AND ip = '192.0.2.7'"); n != 1 {
		t.Fatalf("impression rows: %d", n)
	}
}

// A replay repeats a batch that had reached ClickHouse: the rows are written twice, every query
// counts each id once, and a merge folds the repeats away.
func TestReplayedBatchCountsOnce(t *testing.T) {
	_, db := chtest.Database(t)
	w := db.Events()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b := &sink.Batch{}
	for i := 0; i < 500; i++ {
		b.Clicks = append(b.Clicks, sampleClick(i, base.Add(time.Duration(i)*time.Minute)))
	}
	for range 2 {
		if err := w.Write(ctx(t), b); err != nil {
			t.Fatal(err)
		}
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks"); n != 1000 {
		t.Fatalf("rows before a merge: %d, want 1000 (both copies)", n)
	}
	ids, _, err := db.CountDistinctClicks(ctx(t))
	if err != nil || ids != 500 {
		t.Fatalf("distinct clicks: %d, %v; want 500", ids, err)
	}
	if err := db.Conn().Exec(ctx(t), "OPTIMIZE TABLE clicks FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks"); n != 500 {
		t.Fatalf("rows after a merge: %d, want 500", n)
	}
}

// A batch streamed in slices is one INSERT: its blocks reach the server as they fill, and the
// server makes one part of them when the INSERT ends. An INSERT abandoned part-way may leave the
// blocks the server already had (18.16 keeps them); the sink's retry writes the whole batch again,
// marked, and every count sees each click once.
func TestStreamedBatchIsOneInsert(t *testing.T) {
	_, db := chtest.Database(t)
	w := db.Events()
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	clicks := make([]firstclaim.Click, 10_000)
	for i := range clicks {
		clicks[i] = sampleClick(i, base.Add(time.Duration(i)*time.Second))
	}
	stream := func(from, to, slice int, retry bool) sink.Stream {
		st := w.Begin(ctx(t), retry)
		for i := from; i < to; i += slice {
			b := &sink.Batch{Clicks: slices.Clone(clicks[i:min(i+slice, to)])}
			if err := st.Add(b); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	const n = 7_000
	if err := stream(0, n, 700, false).Commit(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := db.Conn().Query(ctx(t), "SELECT click_id FROM clicks ORDER BY click_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rows.Close(); len(ids) != n {
		t.Fatalf("rows: %d, want %d", len(ids), n)
	}
	var want []string
	for _, c := range clicks[:n] {
		want = append(want, c.ID)
	}
	if slices.Sort(want); !slices.Equal(ids, want) {
		t.Fatal("the stored click ids are not the ids sent")
	}
	if parts := chtest.Count(t, db, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'clicks' AND active"); parts != 1 {
		t.Fatalf("one streamed INSERT made %d parts, want 1", parts)
	}

	// 3,000 more: blocks of the INSERT have gone to the server when it is abandoned.
	stream(n, n+3_000, 700, false).Abort()
	time.Sleep(200 * time.Millisecond) // the server ends the INSERT when it sees the connection close
	left := chtest.Count(t, db, "SELECT count() FROM clicks") - n
	if left%700 != 0 || left >= 3_000 {
		t.Fatalf("an abandoned INSERT left %d rows: want none, or whole blocks of whole slices", left)
	}
	if err := stream(n, n+3_000, 700, true).Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := db.CountDistinctClicks(ctx(t)); err != nil || got != n+3_000 {
		t.Fatalf("distinct clicks: %d, %v; want %d", got, err, n+3_000)
	}
	if unmarked := chtest.Count(t, db, "SELECT count() FROM (SELECT click_id FROM clicks WHERE replayed = 0 GROUP BY click_id HAVING count() > 1)"); unmarked != 0 {
		t.Fatalf("%d clicks stored twice without the replayed mark", unmarked)
	}
}

// Every clicks INSERT after the first writes into the storage of the one before: the second batch
// allocates a fraction of what the first did, and no row of an earlier batch leaks into a later one.
func TestClickHouseReusesColumnsAcrossInserts(t *testing.T) {
	dsn, _ := chtest.Database(t)
	// One connection: a second pooled connection's first use allocates its own buffers, which
	// says nothing of the columns (the writer's measure of ClickHouse's clock may have opened it).
	db, err := clickhouse.Open(dsn + "?max_open_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.Events()
	base := time.Now().UTC().Add(-10 * time.Second) // on time: nothing for the replays table
	batch := func(name string, n int) *sink.Batch {
		b := &sink.Batch{Clicks: make([]firstclaim.Click, n)}
		for i := range b.Clicks {
			c := sampleClick(i, base.Add(time.Duration(i)*time.Millisecond))
			c.UserAgent, c.Campaign, c.NotNavigation = "agent of "+name, name, name == "last"
			b.Clicks[i] = c
		}
		return b
	}
	write := func(b *sink.Batch) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st := w.Begin(ctx(t), false) // in slices, as the sink sends them: the last block goes on Commit
		for i := 0; i < len(b.Clicks); i += 300 {
			if err := st.Add(&sink.Batch{Clicks: b.Clicks[i:min(i+300, len(b.Clicks))]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	first := write(batch("first", 5_000))
	second := write(batch("second", 5_000))
	write(batch("last", 700))
	if second > first/4 {
		t.Errorf("the second INSERT of 5,000 clicks allocated %d bytes, the first %d: the columns were not reused", second, first)
	}
	for _, b := range []struct {
		name   string
		notNav uint8
		want   uint64
	}{{"first", 0, 5_000}, {"second", 0, 5_000}, {"last", 1, 700}} {
		q := "SELECT count() FROM clicks WHERE campaign = ? AND user_agent = ? AND not_navigation = ?"
		if n := chtest.Count(t, db, q, b.name, "agent of "+b.name, b.notNav); n != b.want {
			t.Errorf("batch %s: %d rows read back whole, want %d", b.name, n, b.want)
		}
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks"); n != 10_700 {
		t.Errorf("%d rows, want 10,700", n)
	}
}

func TestClickHouseErrorsClassified(t *testing.T) {
	// A database without the tables: the server refuses, and retrying cannot help.
	dsn := chtest.ServerDSN(t)
	db, err := clickhouse.Open(strings.Replace(dsn, "/firstclaim", "/system", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Events().Write(ctx(t), &sink.Batch{Clicks: []firstclaim.Click{sampleClick(1, time.Now())}})
	if err == nil || !sink.IsPermanent(err) || !strings.Contains(err.Error(), "cannot insert clicks") {
		t.Fatalf("missing table: err = %v, permanent = %v", err, sink.IsPermanent(err))
	}
	// Nobody listening: a retry may well help.
	down, err := clickhouse.Open("clickhouse://127.0.0.1:1/firstclaim?dial_timeout=200ms")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	err = down.Events().Write(ctx(t), &sink.Batch{Clicks: []firstclaim.Click{sampleClick(1, time.Now())}})
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("server down: err = %v, permanent = %v", err, sink.IsPermanent(err))
	}
}

// Through the whole sink: records handed over on the request path reach ClickHouse.
func TestSinkDeliversToClickHouse(t *testing.T) {
	_, db := chtest.Database(t)
	set := metrics.NewSet()
	s, err := sink.New(db.Events(), sink.Options{BatchSize: 1000, FlushInterval: 50 * time.Millisecond,
		Dir: t.TempDir(), Metrics: set, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	const n = 25_000
	var buf []byte
	now := time.Now()
	for i := 0; i < n; i++ {
		c := sampleClick(i, now.Add(time.Duration(i)*time.Millisecond))
		buf = firstclaim.AppendClick(buf[:0], &c)
		s.Record(buf)
	}
	if err := s.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ids, _, err := db.CountDistinctClicks(ctx(t))
	if err != nil || ids != n {
		t.Fatalf("distinct clicks in ClickHouse: %d, %v; want %d", ids, err, n)
	}
	var out strings.Builder
	set.WritePrometheus(&out)
	for _, want := range []string{fmt.Sprintf("firstclaim_sink_sent_total %d", n), "firstclaim_sink_dropped_total 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// capture is the ClickHouse writer, noting the order in which it is handed clicks.
type capture struct {
	*clickhouse.Events
	mu  sync.Mutex
	ids []string
}

func (c *capture) Begin(ctx context.Context, retry bool) sink.Stream {
	return &captureStream{c, c.Events.Begin(ctx, retry)}
}

type captureStream struct {
	c *capture
	sink.Stream
}

func (s *captureStream) Add(b *sink.Batch) error {
	s.c.mu.Lock()
	for _, k := range b.Clicks {
		s.c.ids = append(s.c.ids, strings.Clone(k.ID))
	}
	s.c.mu.Unlock()
	return s.Stream.Add(b)
}

func alreadySorted(t *testing.T, db *clickhouse.DB) uint64 {
	return chtest.Count(t, db, "SELECT sum(value) FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'")
}

// The sink hands ClickHouse a batch's clicks in the clicks table's order, as ClickHouse itself
// orders them (codes that are no link included), so the server has no sorting to do when it
// writes the part.
func TestClicksReachClickHouseInItsOrder(t *testing.T) {
	_, db := chtest.Database(t)
	w := &capture{Events: db.Events()}
	before := alreadySorted(t, db)
	s, err := sink.New(w, sink.Options{BatchSize: 100_000, FlushInterval: time.Hour, Dir: t.TempDir(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var buf []byte
	for i := 0; i < 5_000; i++ {
		c := sampleClick(i, t0.Add(time.Duration(i)*300*time.Microsecond)) // partner-(i%3), link-(i%7)
		c.Order = uint32(i%3*7 + i%7 + 1)
		if i%50 == 0 { // a code that is no link
			c.Order, c.PartnerID, c.Link, c.Outcome = 0, "", fmt.Sprintf("scan-%d", i%11), firstclaim.OutcomeUnknownLink
		}
		buf = firstclaim.AppendClick(buf[:0], &c)
		s.Record(buf)
	}
	if err := s.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Conn().Query(ctx(t), "SELECT click_id FROM clicks ORDER BY partner_id, link, ts, click_id")
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	rows.Close()
	if len(stored) != 5_000 || !slices.Equal(stored, w.ids) {
		t.Fatalf("ClickHouse's order of the %d clicks differs from the order they were sent in", len(stored))
	}
	// Other tests' inserts can add to this server-wide count, never take from it.
	if after := alreadySorted(t, db); after <= before {
		t.Fatalf("ClickHouse counted no block written already sorted (%d, then %d)", before, after)
	}
}

func BenchmarkClickHouse(b *testing.B) {
	_, db := chtest.Database(b)
	const rows = 10_000
	now := time.Now()
	clicks := make([]firstclaim.Click, rows)
	for i := range clicks {
		clicks[i] = sampleClick(i, now.Add(time.Duration(i)*time.Millisecond))
	}
	// Baseline: the driver alone, one prepared batch of the same rows.
	b.Run("driver", func(b *testing.B) {
		w := db.Events()
		batch := &sink.Batch{Clicks: clicks}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := w.Write(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	})
	// The whole sink: encode on the request path, queue, batch, decode, insert.
	b.Run("sink", func(b *testing.B) {
		s, err := sink.New(db.Events(), sink.Options{BatchSize: rows, Dir: b.TempDir(), Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		var buf []byte
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for j := range clicks {
				buf = firstclaim.AppendClick(buf[:0], &clicks[j])
				s.Record(buf)
			}
		}
		if err := s.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
