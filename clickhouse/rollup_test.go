package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

// rollupData writes six days of events (October 1-6, 2026) as edges write them, with what goes
// wrong: a batch stored and then replayed (its acknowledgement lost), a batch that reached
// ClickHouse only through the spool, and one written hours late. It returns the batches written
// on time, to replay later.
func rollupData(t *testing.T, db *clickhouse.DB) []*sink.Batch {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	programs := []string{"affiliate", "ambassador-2025", "refer-a-friend"}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var clickIDs []string
	var batches []*sink.Batch
	for h := 0; h < 6*24; h++ {
		hour := day0.Add(time.Duration(h) * time.Hour)
		b := &sink.Batch{}
		for i := range 5 + rng.IntN(30) {
			ts := hour.Add(time.Duration(rng.IntN(3600_000)) * time.Millisecond)
			link := rng.IntN(12)
			partner := link % 6
			c := firstclaim.Click{ID: firstclaim.NewIDString(ts), TS: ts, Link: fmt.Sprintf("L%d", link), PartnerID: fmt.Sprintf("P%d", partner),
				Program: programs[partner%3], Campaign: fmt.Sprintf("camp%d", partner%2), Outcome: firstclaim.Outcome(1 + rng.IntN(3)),
				Country: pick("DE", "FR", "US", ""), DeviceType: pick("desktop", "mobile", "tablet"), Browser: pick("Chrome", "Safari", "Firefox"),
				RefererHost: pick("news.example", "t.co", ""), Visitor: rng.Uint64N(300), Duplicate: rng.IntN(20) == 0}
			switch rng.IntN(20) {
			case 0:
				c.Bot, c.Outcome, c.DeviceType = true, firstclaim.OutcomeBot, "bot"
			case 1:
				c.NotNavigation, c.Outcome = true, firstclaim.OutcomeNotNavigation
			}
			c.ClaimPartnerID, c.ClaimClickID = c.PartnerID, c.ID
			if c.Outcome != firstclaim.OutcomeClaimed {
				c.ClaimClickID = "an-earlier-click"
			}
			clickIDs = append(clickIDs, c.ID)
			b.Clicks = append(b.Clicks, c)
			if i%2 == 0 {
				b.Impressions = append(b.Impressions, firstclaim.Impression{ID: fmt.Sprintf("im-%d-%d", h, i), TS: ts.Add(-time.Second),
					Link: c.Link, PartnerID: c.PartnerID, Program: c.Program, Campaign: c.Campaign, Known: true, Bot: rng.IntN(10) == 0,
					Duplicate: rng.IntN(10) == 0})
			}
		}
		for i := range rng.IntN(4) {
			ts := hour.Add(time.Duration(rng.IntN(3600)) * time.Second)
			a := firstclaim.Association{ID: fmt.Sprintf("as-%d-%d", h, i), TS: ts, AccountID: fmt.Sprintf("acc-%d", rng.IntN(400)),
				Program: programs[rng.IntN(3)], Kind: pick(firstclaim.KindRegister, firstclaim.KindLogin)}
			if rng.IntN(2) == 0 {
				a.PartnerID, a.Link, a.Source = fmt.Sprintf("P%d", rng.IntN(6)), fmt.Sprintf("L%d", rng.IntN(12)), "pixel"
			} else {
				a.ClickID, a.Source = clickIDs[rng.IntN(len(clickIDs))], "s2s" // only the click id: it takes the click's partner
			}
			b.Associations = append(b.Associations, a)
		}
		batches = append(batches, b)
	}
	ctx := context.Background()
	for i, b := range batches {
		w := db.Events()
		at := b.Clicks[0].TS
		for _, c := range b.Clicks {
			at = minTime(at, c.TS)
		}
		for _, m := range b.Impressions {
			at = minTime(at, m.TS)
		}
		for _, a := range b.Associations {
			at = minTime(at, a.TS)
		}
		switch {
		case i == 30: // reached ClickHouse only through the spool
			b.Retry = true
		case i == 50: // written three hours late
			at = at.Add(3 * time.Hour)
		}
		w.SetClock(func() time.Time { return at })
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Retry = false
	}
	// Acknowledgements lost: two batches stored again by the spool.
	for _, i := range []int{10, 70} {
		if err := db.Events().Write(ctx, &sink.Batch{Clicks: batches[i].Clicks, Impressions: batches[i].Impressions,
			Associations: batches[i].Associations, Retry: true}); err != nil {
			t.Fatal(err)
		}
	}
	return batches
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// The rollups give the answers the raw tables give, for random ranges (whole hours, some days
// rolled up and some not), dimensions and filters, with replays before and after the days were
// rolled up, a merge that folds what it can, an import of sign-ups into a day already rolled up,
// a run cut off and a second run of a day; unique visitors within the bound the result states.
func TestRollupsAnswerAsTheRawTables(t *testing.T) {
	dsn, db := chtest.Database(t)
	raw := rawStore(t, dsn)
	batches := rollupData(t, db)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	for d := 1; d <= 4; d++ { // October 5 and 6 stay on the raw tables
		if _, err := db.RollDay(ctx, day(d)); err != nil {
			t.Fatal(err)
		}
	}
	// A second run of a day (another server rolling it at the same moment) and a run cut off
	// before it was recorded: neither may count.
	if _, err := db.RollDay(ctx, day(2)); err != nil {
		t.Fatal(err)
	}
	qs, args := clickhouse.RollSQLs(12345, day(3), day(4))
	for i, q := range qs {
		chtest.Exec(t, db, q, args[i]...)
	}
	// After the days were rolled up: a batch of a rolled-up day replayed, sign-ups imported into
	// one, and every merge ClickHouse can do, done.
	replayAndImport(t, db, batches)
	for _, table := range []string{"clicks", "impressions", "associations"} {
		chtest.Exec(t, db, "OPTIMIZE TABLE "+table+" FINAL")
	}

	rng := rand.New(rand.NewPCG(3, 5))
	dims := []string{"day", "hour", "partner", "program", "link", "campaign", "outcome", "country", "device", "browser", "referer_host"}
	values := map[string][]string{"partner": {"P1", "P4"}, "program": {"affiliate", "refer-a-friend"}, "link": {"L3", "L7"},
		"campaign": {"camp1"}, "outcome": {"claimed", "kept"}, "country": {"DE", ""}, "device": {"mobile"}, "browser": {"Safari"},
		"referer_host": {"t.co"}}
	start := time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC)
	viaRollups := 0
	for i := range 60 {
		q := randomQuery(rng, start, i%4 == 0, dims, values) // whole days too, as reports mostly ask
		q.Limit = 5 + rng.IntN(30)
		from, to := q.From, q.To
		want, err := report.Run(ctx, raw, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := report.Run(ctx, db, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if _, ok := got.Estimates["visitors"]; ok {
			viaRollups++
		}
		compareResults(t, fmt.Sprintf("%s..%s by %v where %v bots %v", from.Format("01-02T15"), to.Format("01-02T15"), q.By, q.Where, q.IncludeBots), want, got)
	}
	if viaRollups < 30 {
		t.Fatalf("only %d of 60 reports read rollups", viaRollups)
	}
	// A partner's own view (its links, counts and visitors read in one query) and one link's days.
	for _, q := range []report.Query{
		{From: start.Truncate(24 * time.Hour), To: start.Add(7 * 24 * time.Hour), By: []string{"link"}, Partner: "P1", Limit: 50},
		{From: start, To: start.Add(5 * 24 * time.Hour), By: []string{"day", "outcome"}, Where: map[string]string{"link": "L3"}},
	} {
		got := sameAsRaw(t, raw, db, q, fmt.Sprintf("%v where %v partner %s", q.By, q.Where, q.Partner))
		if _, ok := got.Estimates["visitors"]; !ok || len(got.Rows) < 2 {
			t.Fatalf("%+v: %d rows, estimates %v; want rows read from rollups", q, len(got.Rows), got.Estimates)
		}
	}
}

// randomQuery is a report over a random range of the week from start (whole days when asked),
// by up to two random dimensions, filtered by one of values half the time.
func randomQuery(rng *rand.Rand, start time.Time, wholeDays bool, dims []string, values map[string][]string) report.Query {
	from := start.Add(time.Duration(rng.IntN(24*7)) * time.Hour)
	to := from.Add(time.Duration(1+rng.IntN(24*7)) * time.Hour)
	if wholeDays {
		from, to = from.Truncate(24*time.Hour), to.Truncate(24*time.Hour).Add(24*time.Hour)
	}
	q := report.Query{From: from, To: to, IncludeBots: rng.IntN(3) == 0}
	for range rng.IntN(3) {
		if d := dims[rng.IntN(len(dims))]; !slices.Contains(q.By, d) {
			q.By = append(q.By, d)
		}
	}
	if rng.IntN(2) == 0 {
		k := slices.Sorted(maps.Keys(values))[rng.IntN(len(values))]
		q.Where = map[string]string{k: values[k][rng.IntN(len(values[k]))]}
	}
	return q
}

// replayAndImport writes one of rollupData's batches again, as a replay after its
// acknowledgement was lost, and imports two sign-ups, of October 2 and 3 (one naming a click).
func replayAndImport(t *testing.T, db *clickhouse.DB, batches []*sink.Batch) {
	t.Helper()
	ctx := context.Background()
	if err := db.Events().Write(ctx, &sink.Batch{Clicks: batches[40].Clicks, Impressions: batches[40].Impressions, Retry: true}); err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	imported := &attribution.Input{Associations: []attribution.Association{
		{TS: day(2).Add(5 * time.Hour), Program: "affiliate", AccountID: "imported-1", PartnerID: "P1", Kind: firstclaim.KindRegister},
		{TS: day(3).Add(9 * time.Hour), Program: "affiliate", AccountID: "imported-2", ClickID: batches[60].Clicks[0].ID, Kind: firstclaim.KindRegister},
	}}
	if _, err := db.Import(ctx, imported, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// rawStore opens the database at dsn to read the raw tables only, until the test ends.
func rawStore(t *testing.T, dsn string) *clickhouse.DB {
	t.Helper()
	raw, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.ReadRollups(false)
	return raw
}

// sameAsRaw runs a report on raw (the raw tables) and on db, fails unless they agree
// (compareResults), and returns db's.
func sameAsRaw(t *testing.T, raw, db report.Store, q report.Query, name string) *report.Result {
	t.Helper()
	want, err := report.Run(context.Background(), raw, q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.Run(context.Background(), db, q)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	compareResults(t, name, want, got)
	return got
}

// compareResults fails unless two results have the same rows and numbers, unique visitors aside,
// which may differ by the bound the estimate states.
func compareResults(t *testing.T, name string, want, got *report.Result) {
	t.Helper()
	row := func(r report.Row, by []string) string {
		var k []string
		for _, b := range by {
			k = append(k, r.Dims[b])
		}
		return strings.Join(k, "|")
	}
	check := func(what string, w, g report.Row) {
		for _, m := range report.Metrics() {
			if m == "visitors" {
				bound := 0.0
				if e, ok := got.Estimates[m]; ok {
					bound = e.Error * float64(w.Counts[m])
				}
				if d := math.Abs(float64(g.Counts[m]) - float64(w.Counts[m])); d > bound {
					t.Errorf("%s %s: visitors %d, exactly %d", name, what, g.Counts[m], w.Counts[m])
				}
				continue
			}
			if g.Counts[m] != w.Counts[m] {
				t.Errorf("%s %s: %s %d, raw tables %d", name, what, m, g.Counts[m], w.Counts[m])
			}
		}
	}
	check("totals", want.Totals, got.Totals)
	if len(want.Rows) != len(got.Rows) {
		t.Errorf("%s: %d rows, raw tables %d", name, len(got.Rows), len(want.Rows))
		return
	}
	for i := range want.Rows {
		if row(want.Rows[i], want.Query.By) != row(got.Rows[i], got.Query.By) {
			t.Errorf("%s: row %d is %q, raw tables %q", name, i, row(got.Rows[i], got.Query.By), row(want.Rows[i], want.Query.By))
			continue
		}
		check(row(want.Rows[i], want.Query.By), want.Rows[i], got.Rows[i])
	}
}

// A day is rolled up once it has ended and RollupGrace has passed, not before; a day rolled up is
// not pending again.
func TestPendingDays(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	if days, err := db.PendingDays(ctx); err != nil || len(days) != 0 {
		t.Fatalf("an empty database has pending days %v (%v)", days, err)
	}
	now := time.Now().UTC()
	w := db.Events()
	for _, ts := range []time.Time{now.Add(-50 * time.Hour), now} {
		if err := w.Write(ctx, &sink.Batch{Clicks: []firstclaim.Click{{ID: firstclaim.NewIDString(ts), TS: ts, Link: "L", PartnerID: "P",
			Program: "affiliate", Outcome: firstclaim.OutcomeClaimed}}}); err != nil {
			t.Fatal(err)
		}
	}
	days, err := db.PendingDays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := now.Add(-50 * time.Hour).Truncate(24 * time.Hour)
	var want []time.Time
	for d := first; !d.Add(24*time.Hour + clickhouse.RollupGrace).After(now); d = d.Add(24 * time.Hour) {
		want = append(want, d)
	}
	if !slices.Equal(days, want) || len(want) < 2 {
		t.Fatalf("pending %v, want %v", days, want)
	}
	n, err := db.RollPending(ctx, nil, nil)
	if err != nil || n != len(want) {
		t.Fatalf("rolled %d: %v", n, err)
	}
	if days, err := db.PendingDays(ctx); err != nil || len(days) != 0 {
		t.Fatalf("still pending %v (%v)", days, err)
	}
}

// The writer marks what it writes late or again, and records the hours before the rows.
func TestClickHouseWriterMarksLateRows(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	now := time.Now().UTC()
	onTime, late := now.Add(-10*time.Second), now.Add(-2*time.Hour)
	mk := func(ts time.Time) firstclaim.Click {
		return firstclaim.Click{ID: firstclaim.NewIDString(ts), TS: ts, Link: "L", PartnerID: "P", Program: "affiliate", Outcome: firstclaim.OutcomeClaimed}
	}
	b := &sink.Batch{Clicks: []firstclaim.Click{mk(onTime), mk(late)},
		Impressions: []firstclaim.Impression{{ID: "i-on-time", TS: onTime, Link: "L"}, {ID: "i-late", TS: late, Link: "L"}}}
	if err := db.Events().Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE replayed = 1 AND rewritten = 1 AND click_id = ?", b.Clicks[1].ID); n != 1 {
		t.Errorf("the late click is not marked")
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE replayed = 0 AND rewritten = 0 AND click_id = ?", b.Clicks[0].ID); n != 1 {
		t.Errorf("the click on time is marked")
	}
	if n := chtest.Count(t, db, "SELECT count() FROM impressions WHERE replayed = 1 AND impression_id = 'i-late'"); n != 1 {
		t.Errorf("the late impression is not marked")
	}
	if n := chtest.Count(t, db, "SELECT sum(rows) FROM replays WHERE period = ?", late.Truncate(time.Hour)); n != 2 {
		t.Errorf("the late hour holds %d rows in replays, want 2", n)
	}
	// A replay of the batch: every row marked, the hours recorded.
	if err := db.Events().Write(ctx, &sink.Batch{Clicks: b.Clicks[:1], Retry: true}); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE click_id = ?", b.Clicks[0].ID); n != 2 {
		t.Errorf("the replayed click is in %d rows, want 2 (a merge must not fold them)", n)
	}
	chtest.Exec(t, db, "OPTIMIZE TABLE clicks FINAL")
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE click_id = ? AND replayed = 0", b.Clicks[0].ID); n != 1 {
		t.Errorf("after a merge, the click written first is gone")
	}
}

// A click stored and then stored again by a replay of a release that did not keep copies apart
// (both rows with the same sorting key) counts once, before and after the merge that folds them.
func TestRollupsOfCopiesWrittenBeforeTheyWereKeptApart(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	day := time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC)
	ts := day.Add(15 * time.Hour)
	id := firstclaim.NewIDString(ts)
	for _, replayed := range []int{0, 1} {
		chtest.Exec(t, db, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor, replayed)
SELECT ?, ?, 'L', 'P', 'affiliate', 'claimed', 1, ?`, id, ts, replayed)
	}
	chtest.Exec(t, db, "INSERT INTO replays (period, source, rows) SELECT ?, 'clicks', 1", ts.Truncate(time.Hour))
	if _, err := db.RollDay(ctx, day); err != nil {
		t.Fatal(err)
	}
	q := report.Query{From: day, To: day.Add(24 * time.Hour)}
	for _, when := range []string{"rolled up", "merged"} {
		res, err := report.Run(ctx, db, q)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.Estimates["visitors"]; !ok || res.Totals.Counts["clicks"] != 1 {
			t.Fatalf("%s: %d clicks (read from rollups: %v), want 1", when, res.Totals.Counts["clicks"], ok)
		}
		chtest.Exec(t, db, "OPTIMIZE TABLE clicks FINAL")
	}
}

// A report asks for all its sources at once; with slow queries and a small pool, they wait for a
// place instead of failing on the driver's wait for a connection (its dial timeout).
func TestReportsWaitForAConnection(t *testing.T) {
	dsn, db := chtest.Database(t)
	ctx := context.Background()
	if err := db.Conn().Exec(ctx, `INSERT INTO clicks (click_id, ts, link, partner_id, program, visitor, country)
		SELECT toString(number), toDateTime('2026-11-10 00:00:00', 'UTC') + number % 86400, concat('l', toString(number % 5000)),
			concat('p', toString(number % 50)), 'affiliate', intHash64(number) % 100000, 'DE'
		FROM numbers(3000000)`); err != nil {
		t.Fatal(err)
	}
	small, err := clickhouse.Open(dsn + "?max_open_conns=2&dial_timeout=20ms")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	small.ReadRollups(false)
	q := report.Query{From: time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC),
		By: []string{"link"}, ExactVisitors: true}
	began := time.Now()
	res, err := report.Run(ctx, small, q)
	if err != nil {
		t.Fatalf("a report over a small pool failed: %v", err)
	}
	if res.Totals.Counts["clicks"] != 3000000 {
		t.Fatalf("clicks %d", res.Totals.Counts["clicks"])
	}
	t.Logf("the report took %s with 2 connections (each query longer than the 20 ms the driver waits for one)", time.Since(began))
}

// The commission lines' rollup answers as the lines do, for random whole-day slices by day,
// partner and program; it is read only while it matches the lines (a new run makes reports read
// the lines until the next roll), and rolled again it answers the new state.
func TestLinesRollupAnswersAsTheLines(t *testing.T) {
	dsn, db := chtest.Database(t)
	ctx := context.Background()
	raw := rawStore(t, dsn)
	rng := rand.New(rand.NewPCG(5, 8))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	write := func(n int, at time.Time) {
		var lines []attribution.Line
		for i := range n {
			status := []string{"approved", "pending", "rejected"}[rng.IntN(3)]
			lines = append(lines, attribution.Line{Program: []string{"affiliate", "ambassador"}[i%2], PartnerID: fmt.Sprintf("p%d", rng.IntN(7)),
				Line: []string{"order", "lead"}[rng.IntN(2)], Ref: fmt.Sprintf("o%d", i), Status: status,
				Currency: []string{"USD", "EUR"}[rng.IntN(2)], Base: int64(100 + rng.IntN(10000)), Commission: int64(rng.IntN(500)),
				TS: start.Add(time.Duration(rng.IntN(30*24*3600)) * time.Second)})
		}
		if err := db.SaveLines(ctx, lines, at, at); err != nil {
			t.Fatal(err)
		}
	}
	compare := func(label string) {
		t.Helper()
		for i := range 25 {
			from := start.Add(time.Duration(rng.IntN(25)) * 24 * time.Hour)
			to := from.Add(time.Duration(1+rng.IntN(10)) * 24 * time.Hour)
			q := report.Query{From: from, To: to, Limit: 100}
			for _, d := range []string{"day", "partner", "program"} {
				if rng.IntN(2) == 0 {
					q.By = append(q.By, d)
				}
			}
			if i%3 == 0 {
				q.Where = map[string]string{"partner": fmt.Sprintf("p%d", rng.IntN(7))}
			}
			sameAsRaw(t, raw, db, q, fmt.Sprintf("%s: %s..%s by %v where %v", label, from.Format("01-02"), to.Format("01-02"), q.By, q.Where))
		}
	}
	write(3000, start.Add(40*24*time.Hour))
	if rolled, err := db.RollLines(ctx); err != nil || !rolled {
		t.Fatalf("roll: %v %v", rolled, err)
	}
	if fresh, _ := db.LinesRollFresh(ctx); !fresh {
		t.Fatal("the roll just made is not read")
	}
	if rolled, _ := db.RollLines(ctx); rolled {
		t.Fatal("rolled again with nothing changed")
	}
	compare("first run")
	// A second run changes the lines' state: the rollup is not read until rolled again.
	write(2000, start.Add(41*24*time.Hour))
	if fresh, _ := db.LinesRollFresh(ctx); fresh {
		t.Fatal("a roll made before a run is read after it")
	}
	compare("after a run, before its roll")
	if rolled, err := db.RollLines(ctx); err != nil || !rolled {
		t.Fatalf("roll after the run: %v %v", rolled, err)
	}
	compare("rolled again")
	// Merged, the table's old versions fold away: the fingerprint moves, reports stay right.
	if err := db.Conn().Exec(ctx, "OPTIMIZE TABLE commissions FINAL"); err != nil {
		t.Fatal(err)
	}
	compare("after a merge")
	db.RollLines(ctx)
	if fresh, _ := db.LinesRollFresh(ctx); !fresh {
		t.Fatal("after a merge and a roll, the roll is not read")
	}
	compare("after a merge and a roll")
}

// endedMonth is the start of the month before last: ended, and its last day rolled up, whatever
// the day now.
func endedMonth(now time.Time) time.Time {
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -2, 0)
}

// Once every day of a month is rolled up, each rollup table's partition of the month is merged into
// one part (reports read each link's rows once per part); a month still open is left alone.
func TestRolledMonthsAreMerged(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	now := time.Now().UTC()
	month := endedMonth(now)
	w := db.Events()
	var want uint64
	for d := 3; d >= 1; d-- {
		day := month.AddDate(0, 1, -d)
		for i := range 4 {
			ts := day.Add(time.Duration(3+i*5) * time.Hour)
			w.SetClock(func() time.Time { return ts })
			b := &sink.Batch{Clicks: []firstclaim.Click{{ID: firstclaim.NewIDString(ts), TS: ts, Link: fmt.Sprintf("L%d", i), PartnerID: fmt.Sprintf("P%d", d),
				Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Visitor: uint64(i)}},
				Associations: []firstclaim.Association{{ID: fmt.Sprintf("a%d-%d", d, i), TS: ts, Program: "affiliate", AccountID: fmt.Sprintf("acc%d-%d", d, i),
					PartnerID: fmt.Sprintf("P%d", d), Link: fmt.Sprintf("L%d", i), Kind: "register", Source: "pixel"}},
				Impressions: []firstclaim.Impression{{ID: fmt.Sprintf("i%d-%d", d, i), TS: ts, Link: fmt.Sprintf("L%d", i), PartnerID: fmt.Sprintf("P%d", d),
					Program: "affiliate", Visitor: uint64(i), Known: true}}}
			if err := w.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	var logged strings.Builder
	if _, err := db.RollPending(ctx, slog.New(slog.NewTextHandler(&logged, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "merged a month's rollups\" month="+month.Format("2006-01")) {
		t.Errorf("%s not merged; the roller said:\n%s", month.Format("2006-01"), logged.String())
	}
	if open := now.Format("2006-01"); strings.Contains(logged.String(), "month="+open) {
		t.Errorf("the month under way, %s, was merged", open)
	}
	months := []string{"rollup_clicks_links_months", "rollup_impressions_links_months", "rollup_associations_links_months"}
	for _, table := range append(clickhouse.RollupTables(), months...) {
		parts := func() uint64 {
			return chtest.Count(t, db, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = ? AND partition_id = ? AND active",
				table, month.Format("200601"))
		}
		n := parts()
		for i := 0; n != 1 && i < 20 && chtest.Count(t, db, "SELECT count() FROM system.merges WHERE database = currentDatabase() AND table = ?", table) > 0; i++ {
			time.Sleep(100 * time.Millisecond) // a merge ClickHouse began on its own held the parts
			n = parts()
		}
		if n != 1 {
			t.Errorf("%s holds %d parts of %s, want 1", table, n, month.Format("2006-01"))
		}
	}
	res, err := report.Run(ctx, db, report.Query{From: month, To: month.AddDate(0, 1, 0), By: []string{"link"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, fromRollups := res.Estimates["visitors"]; !fromRollups || res.Totals.Counts["clicks"] != want || res.Totals.Counts["registers"] != want || res.Totals.Counts["impressions"] != want {
		t.Errorf("after the merge: %d clicks, %d sign-ups, %d impressions (from rollups: %v), want %d each", res.Totals.Counts["clicks"],
			res.Totals.Counts["registers"], res.Totals.Counts["impressions"], fromRollups, want)
	}
}

// A report by link over whole months reads each month's rows in place of its days' while the days'
// runs are those the month rows were made from; a day rolled up anew makes the month read by day
// until the roller makes its rows again. Every answer is the raw tables'.
func TestMonthRowsStandForTheirDays(t *testing.T) {
	dsn, db := chtest.Database(t)
	raw := rawStore(t, dsn)
	ctx := context.Background()
	now := time.Now().UTC()
	month := endedMonth(now)
	next := month.AddDate(0, 1, 0)
	w := db.Events()
	for d := -4; d < 6; d++ { // the month's last four days and the next month's first six
		day := next.AddDate(0, 0, d)
		for i := range 6 {
			ts := day.Add(time.Duration(1+i*3) * time.Hour)
			w.SetClock(func() time.Time { return ts })
			link, partner := fmt.Sprintf("L%d", i%3), fmt.Sprintf("P%d", i%2)
			b := &sink.Batch{Clicks: []firstclaim.Click{{ID: firstclaim.NewIDString(ts), TS: ts, Link: link, PartnerID: partner,
				Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Visitor: uint64(i + d*10), Bot: i == 5}},
				Associations: []firstclaim.Association{{ID: fmt.Sprintf("a%d-%d", d, i), TS: ts, Program: "affiliate", AccountID: fmt.Sprintf("acc%d-%d", d, i),
					PartnerID: partner, Link: link, Kind: []string{"register", "login"}[i%2], Source: "pixel"}},
				Impressions: []firstclaim.Impression{{ID: fmt.Sprintf("i%d-%d", d, i), TS: ts, Link: link, PartnerID: partner, Program: "affiliate", Visitor: 1}}}
			if err := w.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.RollPending(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	queries := []report.Query{
		{From: month, To: next, By: []string{"link"}},
		{From: month, To: next, By: []string{"link"}, Partner: "P1"},
		{From: month.AddDate(0, 0, -3), To: next.AddDate(0, 0, 4), By: []string{"link"}, IncludeBots: true},
		{From: month, To: next.AddDate(0, 0, 3), By: []string{"partner", "link"}, Limit: 2},
		{From: month, To: next, By: []string{"day", "link"}},
	}
	check := func(when string) {
		for _, q := range queries {
			got := sameAsRaw(t, raw, db, q, fmt.Sprintf("%s: %s..%s by %v partner %q", when, q.From.Format("01-02"), q.To.Format("01-02"), q.By, q.Partner))
			if _, ok := got.Estimates["visitors"]; !ok {
				t.Errorf("%s: %+v not read from rollups", when, q)
			}
		}
	}
	check("month rows made")
	// Filtered by a day of the month: read from the raw tables, the same answer.
	sameAsRaw(t, raw, db, report.Query{From: month, To: next, By: []string{"link"}, Where: map[string]string{"day": next.AddDate(0, 0, -2).Format(time.DateOnly)}}, "one day")
	// Month rows are what the month is read from: a row added to them shows.
	var monthRun uint64
	if err := db.Conn().QueryRow(ctx, "SELECT run FROM rollup_month_runs WHERE month = toDate(?)", month).Scan(&monthRun); err != nil {
		t.Fatal(err)
	}
	chtest.Exec(t, db, `INSERT INTO rollup_clicks_links_months (run, period, partner_id, link, program, campaign, clicks_humans)
		SELECT ?, ?, 'P0', 'L0', 'affiliate', '', 1000`, monthRun, month)
	res, err := report.Run(ctx, db, queries[0])
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, r := range res.Rows {
		shown = shown || r.Dims["link"] == "L0" && r.Counts["clicks"] >= 1000
	}
	if !shown {
		t.Fatalf("a report by link over the month does not show the row added to the month rows: %+v", res.Rows)
	}
	// A second make of the same month from the same days (two rollers at once), recorded after the
	// first: its rows are never read.
	var days uint64
	if err := db.Conn().QueryRow(ctx, "SELECT days FROM rollup_month_runs WHERE month = toDate(?)", month.Format(time.DateOnly)).Scan(&days); err != nil {
		t.Fatal(err)
	}
	chtest.Exec(t, db, `INSERT INTO rollup_clicks_links_months (run, period, partner_id, link, program, campaign, clicks_humans)
		SELECT 77, ?, 'P1', 'L1', 'affiliate', '', 5000`, month)
	chtest.Exec(t, db, "INSERT INTO rollup_month_runs (month, days, run, committed_ns) SELECT toDate(?), ?, 77, ?",
		month.Format(time.DateOnly), days, uint64(time.Now().UnixNano()))
	time.Sleep(1100 * time.Millisecond)
	if res, err := report.Run(ctx, db, queries[0]); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range res.Rows {
			if r.Counts["clicks"] >= 5000 {
				t.Fatalf("the rows of a month's second make are read: %+v", r)
			}
		}
	}
	// A day of the month rolled up anew, holding one more click: the month rows (with the row
	// added) no longer stand for its days, which are read instead.
	last := next.AddDate(0, 0, -1)
	chtest.Exec(t, db, "ALTER TABLE rollup_runs DELETE WHERE day = toDate(?)", last.Format(time.DateOnly))
	for chtest.Count(t, db, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = 'rollup_runs' AND is_done = 0") > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	chtest.Exec(t, db, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor) SELECT ?, ?, 'L2', 'P1', 'affiliate', 'kept', 99`,
		firstclaim.NewIDString(last.Add(20*time.Hour)), last.Add(20*time.Hour))
	if _, err := db.RollDay(ctx, last); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // reports reuse the runs they read for a second
	check("a day rolled up anew")
	// The roller makes the month's rows again from the new runs.
	var logged strings.Builder
	if _, err := db.RollPending(ctx, slog.New(slog.NewTextHandler(&logged, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "month="+month.Format("2006-01")) || strings.Contains(logged.String(), "month="+next.Format("2006-01")) {
		t.Errorf("the roller should make %s again, and only it; it said:\n%s", month.Format("2006-01"), logged.String())
	}
	time.Sleep(1100 * time.Millisecond)
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_month_runs WHERE month = toDate(?)", month); n != 3 {
		t.Fatalf("%d runs of month rows for %s, want 3 (two makes, then made again)", n, month.Format("2006-01"))
	}
	check("month rows made again")
}

// Rollers finishing months at once (every edge runs one): one makes the month's rows, the others
// leave them to it.
func TestMonthsAreFinishedOnce(t *testing.T) {
	dsn, db := chtest.Database(t)
	ctx := context.Background()
	now := time.Now().UTC()
	month := endedMonth(now)
	w := db.Events()
	day := month.AddDate(0, 0, 4)
	for i := range 30 {
		ts := day.Add(time.Duration(i*40) * time.Minute)
		w.SetClock(func() time.Time { return ts })
		if err := w.Write(ctx, &sink.Batch{Clicks: []firstclaim.Click{{ID: firstclaim.NewIDString(ts), TS: ts, Link: fmt.Sprintf("L%d", i%5),
			PartnerID: "P1", Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Visitor: uint64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RollDay(ctx, day); err != nil {
		t.Fatal(err)
	}
	for d := month; d.Before(month.AddDate(0, 1, 0)); d = d.AddDate(0, 0, 1) {
		if !d.Equal(day) {
			chtest.Exec(t, db, "INSERT INTO rollup_runs (day, run, committed_ns) SELECT toDate(?), ?, 1", d.Format(time.DateOnly), uint64(d.Unix()))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		other, err := clickhouse.Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		wg.Go(func() { errs[i] = other.FinishMonths(ctx, nil, nil) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_month_runs WHERE month = toDate(?)", month.Format(time.DateOnly)); n != 1 {
		t.Fatalf("%d runs of month rows, want 1", n)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_clicks_links_months"); n != 5 {
		t.Fatalf("%d month rows of clicks by link, want 5 (one per link)", n)
	}
}

// October finished (its month rows made) with a day rolled twice and days on either side rolled
// up, then a batch of it replayed and sign-ups imported into it: random reports by link or partner
// over ranges holding October, on whole hours around its ends, filtered or not, bots or not, a
// partner's view, every one as the raw tables answer it.
func TestMonthRowsAnswerAsTheRawTables(t *testing.T) {
	dsn, db := chtest.Database(t)
	raw := rawStore(t, dsn)
	batches := rollupData(t, db)
	ctx := context.Background()
	for i, shift := range []time.Duration{-24 * time.Hour, 31 * 24 * time.Hour, 32 * 24 * time.Hour} {
		for _, b0 := range batches[i*30 : i*30+10] {
			var b sink.Batch
			for _, c := range b0.Clicks {
				c.TS = c.TS.Add(shift)
				c.ID = firstclaim.NewIDString(c.TS)
				c.ClaimClickID = c.ID
				b.Clicks = append(b.Clicks, c)
			}
			for _, im := range b0.Impressions {
				im.TS = im.TS.Add(shift)
				im.ID = im.ID + fmt.Sprint("-s", i)
				b.Impressions = append(b.Impressions, im)
			}
			at := b.Clicks[0].TS
			db.Events().SetClock(func() time.Time { return at })
			if err := db.Events().Write(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}
	}
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	for d := 1; d <= 31; d++ {
		if _, err := db.RollDay(ctx, day(d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []time.Time{day(1).AddDate(0, 0, -2), day(1).AddDate(0, 0, -1), day(1).AddDate(0, 1, 0), day(1).AddDate(0, 1, 1), day(1).AddDate(0, 1, 2)} {
		if _, err := db.RollDay(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RollDay(ctx, day(2)); err != nil { // a second run
		t.Fatal(err)
	}
	if err := db.FinishMonths(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_month_runs WHERE month = toDate('2026-10-01')"); n != 1 {
		t.Fatalf("%d month runs", n)
	}
	replayAndImport(t, db, batches)
	time.Sleep(1100 * time.Millisecond)
	rng := rand.New(rand.NewPCG(9, 1))
	dims := []string{"partner", "program", "link", "campaign"}
	values := map[string][]string{"partner": {"P1", "P4"}, "program": {"affiliate", "refer-a-friend"}, "link": {"L3", "L7"}, "campaign": {"camp1"}}
	keys := []string{"partner", "program", "link", "campaign"}
	for i := range 40 {
		from := time.Date(2026, 9, 29, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(72)) * time.Hour)
		to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(72)) * time.Hour)
		q := report.Query{From: from, To: to, IncludeBots: rng.IntN(2) == 0, Limit: 1 + rng.IntN(8), By: []string{"link"}}
		if rng.IntN(3) == 0 {
			q.By = append(q.By, dims[rng.IntN(len(dims))])
			if q.By[1] == "link" {
				q.By = q.By[:1]
			}
		}
		if rng.IntN(3) == 0 {
			q.By = []string{"partner"}
		}
		if rng.IntN(2) == 0 {
			k := keys[rng.IntN(len(keys))]
			q.Where = map[string]string{k: values[k][rng.IntN(len(values[k]))]}
		}
		if rng.IntN(5) == 0 {
			q.Partner = "P1"
			delete(q.Where, "partner")
		}
		sameAsRaw(t, raw, db, q, fmt.Sprintf("%d: %s..%s by %v where %v bots %v partner %q limit %d", i, from.Format("01-02T15"), to.Format("01-02T15"), q.By, q.Where, q.IncludeBots, q.Partner, q.Limit))
	}
	// The reports above read October's month rows: a row added to them shows.
	var run uint64
	if err := db.Conn().QueryRow(ctx, "SELECT run FROM rollup_month_runs WHERE month = toDate('2026-10-01')").Scan(&run); err != nil {
		t.Fatal(err)
	}
	chtest.Exec(t, db, `INSERT INTO rollup_clicks_links_months (run, period, partner_id, link, program, campaign, clicks_humans)
		SELECT ?, toDateTime('2026-10-01 00:00:00', 'UTC'), 'P1', 'L1', 'affiliate', '', 100000`, run)
	time.Sleep(1100 * time.Millisecond)
	res, err := report.Run(ctx, db, report.Query{From: day(1).Add(-5 * time.Hour), To: day(1).AddDate(0, 1, 2), By: []string{"link"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) == 0 || res.Rows[0].Dims["link"] != "L1" || res.Rows[0].Counts["clicks"] < 100000 {
		t.Fatalf("the month rows are not read: first row %+v", res.Rows)
	}
}

// loggedQueries opens a second handle on the test database whose queries ClickHouse logs in
// system.query_log, and returns it with a function that counts the logged queries (finished) whose
// text holds every one of the parts, with the value of a setting each ran with ("" when it was
// the server's default).
func loggedQueries(t *testing.T, dsn string) (*clickhouse.DB, func(setting string, parts ...string) map[string]int) {
	t.Helper()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := clickhouse.Open(dsn + sep + "log_queries=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var since time.Time
	if err := db.Conn().QueryRow(context.Background(), "SELECT now()").Scan(&since); err != nil {
		t.Fatal(err)
	}
	return db, func(setting string, parts ...string) map[string]int {
		t.Helper()
		chtest.Exec(t, db, "SYSTEM FLUSH LOGS")
		where := []string{"type = 2", "event_time >= ?"}
		args := []any{setting, since}
		for _, p := range parts {
			where = append(where, "position(query, ?) > 0")
			args = append(args, p)
		}
		rows, err := db.Conn().Query(context.Background(), `SELECT Settings.Values[indexOf(Settings.Names, ?)] AS v, toUInt64(count())
FROM system.query_log WHERE `+strings.Join(where, " AND ")+" GROUP BY v", args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var v string
			var n uint64
			if err := rows.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			out[v] = int(n)
		}
		return out
	}
}

// runRoller starts db's roller, a round every 20 ms, and returns what stops it (done at the
// test's end too) and its log.
func runRoller(t *testing.T, db *clickhouse.DB) (stop func(), log *chtest.SyncBuffer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	log = &chtest.SyncBuffer{}
	go func() { db.RunRoller(ctx, 20*time.Millisecond, slog.New(slog.NewTextHandler(log, nil))); close(done) }()
	return stop, log
}

// dayRuns is how many runs are recorded for day.
func dayRuns(t *testing.T, db *clickhouse.DB, day time.Time) uint64 {
	return chtest.Count(t, db, "SELECT count() FROM rollup_runs WHERE day = toDate(?)", day.Format(time.DateOnly))
}

// awaitRuns waits up to a minute for a run of day, calling look at each look; it stops the roller
// and fails with its log when there is none.
func awaitRuns(t *testing.T, db *clickhouse.DB, day time.Time, stop func(), log *chtest.SyncBuffer, look func()) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); dayRuns(t, db, day) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the roller did not roll %s up within a minute:\n%s", day.Format(time.DateOnly), log.String())
		}
		look()
	}
}

// The roller rolls up on one thread per query (clickhouse.Background); a backfill by migrate
// (RollPending) on the server's default.
func TestRollerRollsUpOnOneThread(t *testing.T) {
	dsn, plain := chtest.Database(t)
	db, logged := loggedQueries(t, dsn)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	days := []time.Time{today.AddDate(0, 0, -3), today.AddDate(0, 0, -2)} // a roller rolls every day since the first
	for _, d := range days {
		ts := d.Add(9 * time.Hour)
		chtest.Exec(t, plain, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor) SELECT ?, ?, 'L', 'P', 'affiliate', 'claimed', 1`,
			firstclaim.NewIDString(ts), ts)
	}
	// The first day by a backfill: it is then no longer pending.
	if _, err := db.RollDay(context.Background(), days[0]); err != nil {
		t.Fatal(err)
	}
	stop, out := runRoller(t, db)
	held := false // a round holds one of the reports' places in the pool
	awaitRuns(t, plain, days[1], stop, out, func() { held = held || db.ReadersInUse() == 1 })
	stop()
	if !held || db.ReadersInUse() != 0 {
		t.Errorf("the roller's round held a report's place: %v; places taken once it stopped: %d, want 0", held, db.ReadersInUse())
	}
	runs := map[time.Time]uint64{}
	for _, d := range days {
		var run uint64
		if err := plain.Conn().QueryRow(context.Background(), "SELECT argMin(run, committed_ns) FROM rollup_runs WHERE day = toDate(?)", d.Format(time.DateOnly)).Scan(&run); err != nil {
			t.Fatal(err)
		}
		runs[d] = run
	}
	for d, want := range map[time.Time]string{days[0]: "", days[1]: "1"} {
		got := logged("max_threads", "INSERT INTO rollup_clicks_links", fmt.Sprint(runs[d], " AS run"))
		if len(got) != 1 || got[want] != 1 {
			t.Errorf("%s: the roll's INSERT ran with max_threads %v (value: queries), want %q", d.Format(time.DateOnly), got, want)
		}
	}
}

// A day is checked for clicks stored twice with the same sorting key (copies written before they
// were kept apart) only when it can hold one: it began before the database reached schema 4 (a copy
// then was not marked at all), or it holds a copy of a release of schema 4 to 8 (replayed, not
// rewritten). This release's copies never need the check. Each copy counts once, before and after
// the merge that folds it.
func TestRollChecksForCopiesOnlyWhereTheyCanBe(t *testing.T) {
	dsn, plain := chtest.Database(t)
	db, logged := loggedQueries(t, dsn)
	ctx := context.Background()
	// Days of their own (the query log is the server's), and the database as if it had reached
	// schema 4 between the first two and the third.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	unmarked := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30*rng.IntN(60))
	legacy, ours := unmarked.AddDate(0, 0, 10), unmarked.AddDate(0, 0, 20)
	chtest.Exec(t, plain, "ALTER TABLE schema_migrations DELETE WHERE version = 4")
	for chtest.Count(t, plain, "SELECT count() FROM schema_migrations WHERE version = 4") > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	chtest.Exec(t, plain, "INSERT INTO schema_migrations (version, name, applied_at) SELECT 4, 'replayed', ?", unmarked.AddDate(0, 0, 5))
	for _, c := range []struct {
		day                 time.Time
		replayed, rewritten int
	}{{unmarked, 0, 0}, {unmarked, 0, 0}, {legacy, 0, 0}, {legacy, 1, 0}, {ours, 0, 0}, {ours, 1, 1}} {
		ts := c.day.Add(10 * time.Hour)
		chtest.Exec(t, plain, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor, replayed, rewritten)
SELECT ?, ?, 'L', 'P', 'affiliate', 'claimed', 1, ?, ?`, "click-of-"+c.day.Format(time.DateOnly), ts, c.replayed, c.rewritten)
		if c.replayed == 1 {
			chtest.Exec(t, plain, "INSERT INTO replays (period, source, rows) SELECT ?, 'clicks', 1", ts.Truncate(time.Hour))
		}
	}
	for _, d := range []time.Time{unmarked, legacy, ours} {
		if _, err := db.RollDay(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []time.Time{unmarked, legacy, ours} {
		for _, when := range []string{"rolled up", "merged"} {
			res, err := report.Run(ctx, plain, report.Query{From: d, To: d.Add(24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := res.Estimates["visitors"]; !ok || res.Totals.Counts["clicks"] != 1 {
				t.Errorf("%s, %s: %d clicks (read from rollups: %v), want 1", d.Format(time.DateOnly), when, res.Totals.Counts["clicks"], ok)
			}
			chtest.Exec(t, plain, "OPTIMIZE TABLE clicks FINAL")
		}
	}
	for d, want := range map[time.Time][2]int{unmarked: {0, 1}, legacy: {1, 1}, ours: {1, 0}} {
		start := "ts >= toDateTime('" + d.Format(time.DateTime)
		if n := logged("", "written again by a release of schema 4 to 8", start)[""]; n != want[0] {
			t.Errorf("%s: the day was looked at for rows that can be copies %d times, want %d", d.Format(time.DateOnly), n, want[0])
		}
		if n := logged("", "stored twice with the same sorting key", start)[""]; n != want[1] {
			t.Errorf("%s: the day's ids were grouped %d times, want %d", d.Format(time.DateOnly), n, want[1])
		}
	}
}

// Rollers of several servers take turns: while one holds the roll's lease, another's rounds leave
// the pending days to it, and roll them once it is released.
func TestRollersTakeTurns(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	ts := day.Add(11 * time.Hour)
	chtest.Exec(t, db, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor) SELECT ?, ?, 'L', 'P', 'affiliate', 'claimed', 1`,
		firstclaim.NewIDString(ts), ts)
	other, err := db.TakeLease(ctx, clickhouse.RollLease, "another server's roller", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stop, out := runRoller(t, db)
	time.Sleep(2 * time.Second) // many rounds
	if n := chtest.Count(t, db, "SELECT count() FROM rollup_runs"); n != 0 {
		t.Fatalf("%d days rolled up while another server's roller held the lease:\n%s", n, out.String())
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	awaitRuns(t, db, day, stop, out, func() {})
	time.Sleep(200 * time.Millisecond) // more rounds
	stop()
	if n := dayRuns(t, db, day); n != 1 {
		t.Errorf("the day has %d runs, want 1", n)
	}
}
