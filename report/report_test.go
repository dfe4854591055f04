package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

func at(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, time.UTC) }

// bothWays runs a report test twice: on the raw tables alone, and after every day written has been
// rolled up (clickhouse/rollup.go), so that every number holds both ways. The test writes its
// events with writer(db), as they happen (on time: rolled up), then calls done.
func bothWays(t *testing.T, test func(t *testing.T, db *clickhouse.DB, done func(), rollups bool)) {
	for _, rollups := range []bool{false, true} {
		name := "raw"
		if rollups {
			name = "rollups"
		}
		t.Run(name, func(t *testing.T) {
			_, db := chtest.Database(t)
			test(t, db, func() {
				if !rollups {
					return
				}
				n, err := db.RollPending(context.Background(), nil, nil)
				if err != nil || n == 0 {
					t.Fatalf("rolled up %d days: %v", n, err)
				}
			}, rollups)
		})
	}
}

// writer is db's event writer storing events as written when they happened (the data set's
// first day): on time, as an edge writes them.
func writer(db *clickhouse.DB) *clickhouse.Events {
	w := db.Events()
	w.SetClock(func() time.Time { return at(1, 0, 0) })
	return w
}

// seed writes a data set small enough to know every number of every report.
func seed(t testing.TB, db *clickhouse.DB) {
	t.Helper()
	ctx := context.Background()
	click := func(id string, ts time.Time, link, partner, program string, o firstclaim.Outcome, country, device, browser string, visitor uint64) firstclaim.Click {
		return firstclaim.Click{ID: id, TS: ts, Link: link, PartnerID: partner, Program: program, Campaign: "spring", Outcome: o,
			Country: country, DeviceType: device, Browser: browser, Visitor: visitor, RefererHost: "news.example"}
	}
	c3 := click("c3", at(10, 11, 30), "L1", "PA", "affiliate", firstclaim.OutcomeKept, "DE", "mobile", "Safari", 2)
	c3.Duplicate = true
	c5 := click("c5", at(11, 9, 5), "L2", "PB", "affiliate", firstclaim.OutcomeNotNavigation, "FR", "desktop", "Chrome", 3)
	c5.NotNavigation = true
	c6 := click("c6", at(11, 10, 0), "L2", "PB", "affiliate", firstclaim.OutcomeBot, "", "bot", "Slackbot", 4)
	c6.Bot = true
	clicks := []firstclaim.Click{
		click("c1", at(10, 10, 0), "L1", "PA", "affiliate", firstclaim.OutcomeClaimed, "DE", "desktop", "Chrome", 1),
		click("c2", at(10, 11, 0), "L1", "PA", "affiliate", firstclaim.OutcomeClaimed, "DE", "mobile", "Safari", 2),
		c3,
		click("c4", at(11, 9, 0), "L2", "PB", "affiliate", firstclaim.OutcomeProtected, "FR", "desktop", "Chrome", 3),
		c5, c6,
		click("c7", at(12, 12, 0), "L3", "PB", "ambassador-2025", firstclaim.OutcomeClaimed, "US", "tablet", "Safari", 5),
		click("c8", at(20, 12, 0), "L3", "PB", "ambassador-2025", firstclaim.OutcomeClaimed, "US", "tablet", "Safari", 6), // outside the range
	}
	assoc := func(id string, ts time.Time, program, partner, link, kind string) firstclaim.Association {
		return firstclaim.Association{ID: id, TS: ts, Program: program, AccountID: "acc-" + id, PartnerID: partner, Link: link, Kind: kind}
	}
	assocs := []firstclaim.Association{
		assoc("a1", at(10, 12, 0), "affiliate", "PA", "L1", "register"),
		assoc("a2", at(10, 13, 0), "affiliate", "PA", "L1", "login"),
		assoc("a3", at(12, 13, 0), "ambassador-2025", "PB", "L3", "register"),
	}
	w := writer(db)
	if err := w.Write(ctx, &sink.Batch{Clicks: clicks, Associations: assocs}); err != nil {
		t.Fatal(err)
	}
	// A replay writes c2 and a3 again (as the sink does after a lost acknowledgement): still one each.
	if err := w.Write(ctx, &sink.Batch{Clicks: clicks[1:2], Associations: assocs[2:], Retry: true}); err != nil {
		t.Fatal(err)
	}
	line := func(program, partner, kind, ref, status, cur string, base, commission int64, ts time.Time) attribution.Line {
		return attribution.Line{Program: program, PartnerID: partner, Line: kind, Ref: ref, AccountID: "acc", Status: status,
			Currency: cur, Base: base, Commission: commission, TS: ts, Rate: "0.45"}
	}
	run1 := []attribution.Line{
		line("ambassador-2025", "PA", "order", "o1", "approved", "CNY", 10000, 4500, at(10, 14, 0)),
		line("ambassador-2025", "PA", "order", "o2", "rejected", "CNY", 5000, 0, at(10, 15, 0)),
		line("ambassador-2025", "PB", "order", "o3", "pending", "CNY", 20000, 9000, at(12, 14, 0)),
		line("ambassador-2025", "PA", "clawback", "o1", "approved", "CNY", -2222, -1000, at(11, 8, 0)),
		line("affiliate", "PA", "lead", "acc-a1", "approved", "USD", 1, 700, at(10, 12, 0)),
	}
	if err := db.SaveLines(ctx, run1, at(13, 0, 0), at(13, 0, 0)); err != nil {
		t.Fatal(err)
	}
	run2 := append([]attribution.Line(nil), run1...)
	run2[2].Status = "approved" // a later run moved o3 forward
	if err := db.SaveLines(ctx, run2, at(14, 0, 0), at(14, 0, 0)); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, db *clickhouse.DB, q report.Query) *report.Result {
	t.Helper()
	if q.From.IsZero() {
		q.From, q.To = at(10, 0, 0), at(13, 0, 0)
	}
	res, err := report.Run(context.Background(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// counts renders a row's counts as "clicks=3 visitors=2 ..." (zeros left out), for comparisons.
func counts(r report.Row) string {
	var parts []string
	for _, m := range report.Metrics() {
		if v := r.Counts[m]; v != 0 {
			parts = append(parts, m+"="+itoa(v))
		}
	}
	for _, cur := range []string{"CNY", "USD"} {
		if v, ok := r.Base[cur]; ok && v != 0 {
			parts = append(parts, "base="+attribution.FormatAmount(v, cur)+cur)
		}
		if v, ok := r.Commission[cur]; ok && v != 0 {
			parts = append(parts, "commission="+attribution.FormatAmount(v, cur)+cur)
		}
	}
	return strings.Join(parts, " ")
}

func itoa(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func check(t *testing.T, res *report.Result, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range res.Rows {
		var key []string
		for _, b := range res.Query.By {
			key = append(key, r.Dims[b])
		}
		got[strings.Join(key, "|")] = counts(r)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%v %q:\n got %s\nwant %s", res.Query.By, k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%v: unexpected row %q: %s", res.Query.By, k, got[k])
		}
	}
}

func TestReportsEveryNumber(t *testing.T) { bothWays(t, reportsEveryNumber) }

func reportsEveryNumber(t *testing.T, db *clickhouse.DB, done func(), rollups bool) {
	seed(t, db)
	done()

	all := run(t, db, report.Query{})
	// Read from rollups, unique visitors are an estimate, and the result says so; asked for exact
	// visitors, the report counts them from the raw clicks, with the same numbers here.
	if _, est := all.Estimates["visitors"]; est != rollups {
		t.Errorf("visitors marked as an estimate: %v, read from rollups: %v", est, rollups)
	}
	exact := run(t, db, report.Query{ExactVisitors: true})
	if len(exact.Estimates) != 0 || counts(exact.Totals) != counts(all.Totals) {
		t.Errorf("exact visitors: %v %s, estimated: %s", exact.Estimates, counts(exact.Totals), counts(all.Totals))
	}
	// Without the replay in range, the direct count must give the same numbers for that day.
	if got := counts(run(t, db, report.Query{From: at(11, 0, 0), To: at(13, 0, 0)}).Totals); got != "clicks=3 visitors=2 claims=1 protected=1 not_navigation=1 bots=1 registers=1 orders=1 base=200.00CNY commission=80.00CNY" {
		t.Errorf("a range without replayed rows:\n got %s", got)
	}
	if got, want := counts(all.Totals), "clicks=6 visitors=4 claims=3 kept=1 protected=1 not_navigation=1 bots=1 duplicates=1 registers=2 logins=1 orders=2 base=300.00CNY commission=125.00CNY commission=7.00USD"; got != want {
		t.Errorf("totals:\n got %s\nwant %s", got, want)
	}
	if got := counts(run(t, db, report.Query{IncludeBots: true}).Totals); !strings.HasPrefix(got, "clicks=7 visitors=5 ") {
		t.Errorf("totals with bots: %s", got)
	}
	check(t, run(t, db, report.Query{By: []string{"day"}}), map[string]string{
		"2026-11-10": "clicks=3 visitors=2 claims=2 kept=1 duplicates=1 registers=1 logins=1 orders=1 base=100.00CNY commission=45.00CNY commission=7.00USD",
		"2026-11-11": "clicks=2 visitors=1 protected=1 not_navigation=1 bots=1 commission=-10.00CNY",
		"2026-11-12": "clicks=1 visitors=1 claims=1 registers=1 orders=1 base=200.00CNY commission=90.00CNY",
	})
	check(t, run(t, db, report.Query{By: []string{"partner"}}), map[string]string{
		"PA": "clicks=3 visitors=2 claims=2 kept=1 duplicates=1 registers=1 logins=1 orders=1 base=100.00CNY commission=35.00CNY commission=7.00USD",
		"PB": "clicks=3 visitors=2 claims=1 protected=1 not_navigation=1 bots=1 registers=1 orders=1 base=200.00CNY commission=90.00CNY",
	})
	check(t, run(t, db, report.Query{By: []string{"program", "partner"}}), map[string]string{
		"affiliate|PA":       "clicks=3 visitors=2 claims=2 kept=1 duplicates=1 registers=1 logins=1 commission=7.00USD",
		"affiliate|PB":       "clicks=2 visitors=1 protected=1 not_navigation=1 bots=1",
		"ambassador-2025|PA": "orders=1 base=100.00CNY commission=35.00CNY",
		"ambassador-2025|PB": "clicks=1 visitors=1 claims=1 registers=1 orders=1 base=200.00CNY commission=90.00CNY",
	})
	// Dimensions only clicks have: associations and commissions stay out of the rows, not in a blank one.
	check(t, run(t, db, report.Query{By: []string{"country"}}), map[string]string{
		"DE": "clicks=3 visitors=2 claims=2 kept=1 duplicates=1", "FR": "clicks=2 visitors=1 protected=1 not_navigation=1",
		"US": "clicks=1 visitors=1 claims=1", "": "bots=1",
	})
	check(t, run(t, db, report.Query{By: []string{"device"}}), map[string]string{
		"desktop": "clicks=3 visitors=2 claims=1 protected=1 not_navigation=1", "mobile": "clicks=2 visitors=1 claims=1 kept=1 duplicates=1",
		"tablet": "clicks=1 visitors=1 claims=1", "bot": "bots=1",
	})
	check(t, run(t, db, report.Query{By: []string{"browser"}, IncludeBots: true}), map[string]string{
		"Chrome": "clicks=3 visitors=2 claims=1 protected=1 not_navigation=1", "Safari": "clicks=3 visitors=2 claims=2 kept=1 duplicates=1",
		"Slackbot": "clicks=1 visitors=1 bots=1",
	})
	check(t, run(t, db, report.Query{By: []string{"outcome"}}), map[string]string{
		"claimed": "clicks=3 visitors=3 claims=3", "kept": "clicks=1 visitors=1 kept=1 duplicates=1", "protected": "clicks=1 visitors=1 protected=1",
		"not_navigation": "clicks=1 visitors=1 not_navigation=1", "bot": "bots=1",
	})
	check(t, run(t, db, report.Query{By: []string{"hour"}, Where: map[string]string{"link": "L1"}}), map[string]string{
		"2026-11-10T10:00Z": "clicks=1 visitors=1 claims=1", "2026-11-10T11:00Z": "clicks=2 visitors=1 claims=1 kept=1 duplicates=1",
		"2026-11-10T12:00Z": "registers=1", "2026-11-10T13:00Z": "logins=1",
	})
	check(t, run(t, db, report.Query{By: []string{"link", "campaign"}}), map[string]string{
		"L1|spring": "clicks=3 visitors=2 claims=2 kept=1 duplicates=1", "L2|spring": "clicks=2 visitors=1 protected=1 not_navigation=1 bots=1",
		"L3|spring": "clicks=1 visitors=1 claims=1",
	})
	check(t, run(t, db, report.Query{By: []string{"referer_host"}}), map[string]string{
		"news.example": "clicks=6 visitors=4 claims=3 kept=1 protected=1 not_navigation=1 bots=1 duplicates=1",
	})
	// A filter only clicks have leaves the other sources out of the totals too.
	if got := counts(run(t, db, report.Query{Where: map[string]string{"country": "DE"}}).Totals); got != "clicks=3 visitors=2 claims=2 kept=1 duplicates=1" {
		t.Errorf("country=DE totals: %s", got)
	}
	// A partner's view is that partner's, whatever it groups by.
	scoped := run(t, db, report.Query{By: []string{"partner", "link"}, Partner: "PB"})
	check(t, scoped, map[string]string{
		"PB|L2": "clicks=2 visitors=1 protected=1 not_navigation=1 bots=1", "PB|L3": "clicks=1 visitors=1 claims=1 registers=1",
	})
	if _, err := report.Run(context.Background(), db, report.Query{From: at(10, 0, 0), To: at(13, 0, 0), Partner: "PB", Where: map[string]string{"partner": "PA"}}); err == nil {
		t.Fatal("a partner's query read another partner")
	}
	for _, q := range []report.Query{
		{From: at(10, 0, 0), To: at(13, 0, 0), By: []string{"clicks; DROP TABLE clicks"}},
		{From: at(10, 0, 0), To: at(13, 0, 0), Where: map[string]string{"1=1 OR partner": "x"}},
		{From: at(13, 0, 0), To: at(10, 0, 0)},
	} {
		if _, err := report.Run(context.Background(), db, q); err == nil {
			t.Errorf("%+v was accepted", q)
		}
	}
	// Output formats.
	var table, csv, js bytes.Buffer
	res := run(t, db, report.Query{By: []string{"partner"}})
	res.WriteTable(&table)
	res.WriteCSV(&csv)
	res.WriteJSON(&js)
	if !strings.Contains(table.String(), "partner  clicks") || !strings.Contains(table.String(), "total") {
		t.Errorf("table:\n%s", table.String())
	}
	visitors := "visitors"
	if rollups {
		visitors = "visitors (estimate ±5%)" // read from rollups: the header says so
	}
	if lines := strings.Split(strings.TrimSpace(csv.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "partner,clicks,"+visitors) ||
		!strings.HasPrefix(lines[1], "PA,3,2,2,1,0,0,0,1,1,1,1,100.00 CNY,35.00 CNY; 7.00 USD") {
		t.Errorf("csv:\n%s", csv.String())
	}
	var doc struct {
		Rows   []map[string]any `json:"rows"`
		Totals map[string]any   `json:"totals"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Rows) != 2 || doc.Totals["clicks"].(float64) != 6 ||
		doc.Totals["commission"].(map[string]any)["USD"] != "7.00" {
		t.Errorf("json: %v %s", err, js.String())
	}
}

// A click that reached ClickHouse only through replays, twice, counts once; so does one written
// first and replayed later.
func TestReplayedClicksCountOnce(t *testing.T) { bothWays(t, replayedClicksCountOnce) }

func replayedClicksCountOnce(t *testing.T, db *clickhouse.DB, done func(), _ bool) {
	w := writer(db)
	mk := func(id string, o firstclaim.Outcome) firstclaim.Click {
		return firstclaim.Click{ID: id, TS: at(10, 9, 0), Link: "L", PartnerID: "P", Program: "affiliate", Outcome: o, Visitor: 9}
	}
	ctx := context.Background()
	for _, b := range []*sink.Batch{
		{Clicks: []firstclaim.Click{mk("only-replayed", firstclaim.OutcomeClaimed)}, Retry: true},
		{Clicks: []firstclaim.Click{mk("only-replayed", firstclaim.OutcomeClaimed)}, Retry: true},
		{Clicks: []firstclaim.Click{mk("first-then-replayed", firstclaim.OutcomeProtected)}},
		{Clicks: []firstclaim.Click{mk("first-then-replayed", firstclaim.OutcomeProtected)}, Retry: true},
		{Clicks: []firstclaim.Click{mk("plain", firstclaim.OutcomeKept)}},
	} {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	done()
	res := run(t, db, report.Query{By: []string{"outcome"}})
	if got := counts(res.Totals); got != "clicks=3 visitors=1 claims=1 kept=1 protected=1" {
		t.Fatalf("totals: %s", got)
	}
	check(t, res, map[string]string{"claimed": "clicks=1 visitors=1 claims=1", "protected": "clicks=1 visitors=1 protected=1", "kept": "clicks=1 visitors=1 kept=1"})
}

// Impressions and the click-through rate, per link and partner.
func TestImpressionsAndCTR(t *testing.T) { bothWays(t, impressionsAndCTR) }

func impressionsAndCTR(t *testing.T, db *clickhouse.DB, done func(), _ bool) {
	ctx := context.Background()
	var clicks []firstclaim.Click
	var imps []firstclaim.Impression
	for i := 0; i < 40; i++ {
		link, partner := "L1", "PA"
		if i%4 == 0 {
			link, partner = "L2", "PB"
		}
		imps = append(imps, firstclaim.Impression{ID: "i" + itoa(uint64(i)), TS: at(10, 8, i), Link: link, PartnerID: partner, Program: "affiliate", Known: true})
		if i%5 == 0 {
			clicks = append(clicks, firstclaim.Click{ID: "c" + itoa(uint64(i)), TS: at(10, 9, i), Link: link, PartnerID: partner,
				Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Visitor: uint64(i)})
		}
	}
	imps = append(imps, firstclaim.Impression{ID: "bot", TS: at(10, 8, 59), Link: "L1", PartnerID: "PA", Program: "affiliate", Known: true, Bot: true})
	w := writer(db)
	if err := w.Write(ctx, &sink.Batch{Clicks: clicks, Impressions: imps}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, &sink.Batch{Impressions: imps[:5], Retry: true}); err != nil { // a replay: still once each
		t.Fatal(err)
	}
	done()
	res := run(t, db, report.Query{By: []string{"link", "partner"}})
	got := map[string]string{}
	for _, r := range res.Rows {
		ctr, _ := r.CTR()
		got[r.Dims["link"]] = itoa(r.Counts["clicks"]) + "/" + itoa(r.Counts["impressions"]) + "=" + strconvF(ctr)
	}
	// L2 (PB) has the impressions at multiples of 4 (10) and the clicks at multiples of 20 (0, 20);
	// L1 (PA) the other 30 impressions (the bot's left out) and the other 6 clicks.
	if got["L1"] != "6/30=0.2000" || got["L2"] != "2/10=0.2000" {
		t.Fatalf("clicks/impressions: %v", got)
	}
	var csv bytes.Buffer
	res.WriteCSV(&csv)
	if !strings.Contains(csv.String(), "L1,PA,6,") || !strings.Contains(csv.String(), ",30,20.00%") || !strings.Contains(csv.String(), ",10,20.00%") {
		t.Fatalf("csv:\n%s", csv.String())
	}
	if n := run(t, db, report.Query{IncludeBots: true}).Totals.Counts["impressions"]; n != 41 {
		t.Fatalf("impressions with bots: %d", n)
	}
}

func strconvF(f float64) string { return fmt.Sprintf("%.4f", f) }

// Text that reaches a report from outside (a referer, a campaign) cannot become a formula in the
// spreadsheet that opens the CSV.
func TestCSVCellsAreNeverFormulas(t *testing.T) {
	_, db := chtest.Database(t)
	c := firstclaim.Click{ID: "c1", TS: at(10, 10, 0), Link: "L1", PartnerID: "-PA", Program: "affiliate", Campaign: "+SUM(A1)",
		Outcome: firstclaim.OutcomeClaimed, RefererHost: `=HYPERLINK("http://evil.example")`}
	if err := db.Events().Write(context.Background(), &sink.Batch{Clicks: []firstclaim.Click{c}}); err != nil {
		t.Fatal(err)
	}
	res := run(t, db, report.Query{By: []string{"referer_host", "campaign", "partner"}})
	var b bytes.Buffer
	if err := res.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1][0] != `'=HYPERLINK("http://evil.example")` || recs[1][1] != "'+SUM(A1)" || recs[1][2] != "'-PA" || recs[1][3] != "1" {
		t.Fatalf("CSV rows %q", recs)
	}
}

// A sign-up reported with only a click id counts under the partner and link of the claim its click
// made, by link and by partner, in every output (they all go through Run); one whose click claimed
// nothing (protected) has no link of its own: it stays out of the rows by link and counts in the
// totals.
func TestSignUpsByClickIDTakeTheClicksPartnerAndLink(t *testing.T) { bothWays(t, signUpsByClickID) }

func signUpsByClickID(t *testing.T, db *clickhouse.DB, done func(), _ bool) {
	// Click ids as the redirector makes them (they tell the time they were made).
	id1, id2 := firstclaim.NewIDString(at(10, 10, 0)), firstclaim.NewIDString(at(10, 11, 0))
	c1 := firstclaim.Click{ID: id1, TS: at(10, 10, 0), Link: "L1", PartnerID: "PA", Program: "affiliate", Outcome: firstclaim.OutcomeClaimed,
		ClaimPartnerID: "PA", ClaimClickID: id1}
	c2 := firstclaim.Click{ID: id2, TS: at(10, 11, 0), Link: "L2", PartnerID: "PB", Program: "affiliate", Outcome: firstclaim.OutcomeProtected,
		ClaimPartnerID: "PA", ClaimClickID: "c0"}
	a := func(id, click string) firstclaim.Association {
		return firstclaim.Association{ID: id, TS: at(10, 12, 0), Program: "affiliate", AccountID: "acc-" + id, ClickID: click, Kind: "register", Source: "s2s"}
	}
	if err := writer(db).Write(context.Background(), &sink.Batch{Clicks: []firstclaim.Click{c1, c2},
		Associations: []firstclaim.Association{a("a1", id1), a("a2", id2)}}); err != nil {
		t.Fatal(err)
	}
	done()
	byLink := run(t, db, report.Query{By: []string{"link"}})
	check(t, byLink, map[string]string{"L1": "clicks=1 visitors=1 claims=1 registers=1", "L2": "clicks=1 visitors=1 protected=1"})
	if byLink.Totals.Counts["registers"] != 2 {
		t.Fatalf("totals: %s", counts(byLink.Totals))
	}
	byPartner := run(t, db, report.Query{By: []string{"partner"}})
	check(t, byPartner, map[string]string{"PA": "clicks=1 visitors=1 claims=1 registers=2", "PB": "clicks=1 visitors=1 protected=1"})
}
