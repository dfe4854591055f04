package clickhouse_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/report"
)

// Every query of the adapter runs on a current ClickHouse too (the embedded engine of
// scripts/ch-current), over a few rows, not only on the 18.16 server the other tests use; the
// report queries in several shapes. A query added to sql/ and not to this test fails it.
func TestQueriesRunOnCurrentClickHouse(t *testing.T) {
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	asOf := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	stmts := []string{
		// c1 (a click id made at 10:00:00.250, as the redirector makes them), stored and then replayed.
		`INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, country, device_type, visitor, claim_partner_id, claim_expires_at, network_click_id, replayed, rewritten)
VALUES ('01a1c4e6-75fa-7000-91f0-805201bf36ad', '2026-11-10 10:00:00', 'L1', 'PA', 'affiliate', 'claimed', 'DE', 'mobile', 7, 'PA', '2026-11-25 10:00:00', 'n1', 0, 0),
       ('01a1c4e6-75fa-7000-91f0-805201bf36ad', '2026-11-10 10:00:00', 'L1', 'PA', 'affiliate', 'claimed', 'DE', 'mobile', 7, 'PA', '2026-11-25 10:00:00', 'n1', 1, 1)`,
		`INSERT INTO impressions (impression_id, ts, link, partner_id, program) VALUES ('i1', '2026-11-10 09:00:00', 'L1', 'PA', 'affiliate')`,
		`INSERT INTO associations (association_id, ts, program, account_id, partner_id, click_id, link, kind) VALUES ('a1', '2026-11-10 11:00:00', 'affiliate', 'x', '', '01a1c4e6-75fa-7000-91f0-805201bf36ad', 'L1', 'register')`,
		`INSERT INTO orders (order_id, account_id, ts, amount) VALUES ('o1', 'x', '2026-11-11 00:00:00', 100)`,
		`INSERT INTO commissions (program, partner_id, line, ref, status, currency, base, commission, ts, computed_at, network_click_id) VALUES ('affiliate', 'PA', 'order', 'o1', 'approved', 'USD', 1000, 50, '2026-11-10 12:00:00', '2026-11-11 00:00:00', 'n1')`,
		`INSERT INTO unknown_codes (row_id, minute, code, hits, first_seen, last_seen) VALUES ('u1', '2026-11-10 10:00:00', 'wp-login.php', 9, '2026-11-10 10:00:01', '2026-11-10 10:00:59')`,
		`INSERT INTO postbacks (network, program, line, ref, status, ok) VALUES ('n', 'affiliate', 'order', 'o1', 'pending', 1)`,
		`INSERT INTO link_versions (code, version, url, partner_id, program, campaign, status, expires_at, actor, request, op) VALUES ('L1', 7, 'https://shop.example.com/', 'PA', 'affiliate', '', 'active', 0, 'admin', 'create\x1fadmin\x1fk', 'create')`,
		`INSERT INTO attribution_leases (program, taken_ns, holder, expires_ns, released) VALUES ('affiliate', 5, 'h1', 9, 0), ('affiliate', 5, 'h1', 12, 0)`,
		`INSERT INTO link_claims (code, claimed_ns, writer, request, released) VALUES ('L1', 5, 'w1', 'r', 0), ('L2', 6, 'w1', 'r', 0), ('L2', 6, 'w1', 'r', 1)`,
	}
	params := map[string][]any{
		"schema/schema_migrations":        nil,
		"schema/ttl_clicks":               nil,
		"schema/prune_partitions":         {"default", "clicks"},
		"events/clicks_count":             nil,
		"attribution/accounts":            nil,
		"attribution/partners":            nil,
		"attribution/orders":              {asOf},
		"attribution/associations":        {1296000, "affiliate", asOf, "affiliate", asOf},
		"attribution/commissions_current": {"affiliate"},
		"postback/settled":                {"n"},
		"postback/statement":              {[]string{"affiliate"}, from, to},
		"report/replayed_rows":            {from, to},
		"report/unknown_codes":            {from, to, 10},
		"rollups/runs":                    nil,
		"rollups/event_days":              {"default", "clicks", "impressions", "associations"},
		"rollups/replayed_hours":          {from, to},
		"rollups/legacy_copies":           {from, to},
		"rollups/legacy_rows":             {from, to},
		"links/since":                     {uint32(0)},
		"links/history":                   {"L1"},
		"links/claims":                    {[]string{"L1", "L2"}},
		"links/request":                   {"create\x1fadmin\x1fk"},
		"links/clock":                     nil,
		"links/changed":                   {uint32(0)},
		"links/codes":                     {[]string{"L1", "L9"}},
		"rollups/lines":                   {uint64(9)},
		"rollups/lines_state":             nil,
		"rollups/lines_runs":              nil,
		"rollups/month_runs":              nil,
		"lease/standing":                  {"affiliate", uint64(0)},
	}
	for _, name := range clickhouse.QueryNames() {
		if strings.HasPrefix(name, "report/") && name != "report/replayed_rows" && name != "report/unknown_codes" ||
			name == "rollups/clicks" || name == "rollups/impressions" || name == "rollups/associations" || name == "rollups/derived" || name == "rollups/months" ||
			name == "rollups/copies_marked_since" {
			continue // templates, rendered below
		}
		args, ok := params[name]
		if !ok {
			t.Errorf("query %s is not run on the current engine: add it to this test", name)
			continue
		}
		stmts = append(stmts, chtest.Bind(t, clickhouse.Query(name), args...))
	}
	for _, q := range []report.Slice{
		{From: from, To: to},
		{From: from, To: to, By: []string{"day", "partner"}},
		{From: from, To: to, By: []string{"hour", "country", "device"}, Where: map[string]string{"program": "affiliate"}},
		{From: from, To: to, By: []string{"link"}, Where: map[string]string{"partner": "PA"}, IncludeBots: true},
	} {
		for _, src := range report.Sources() {
			s := q
			s.By = slices.DeleteFunc(slices.Clone(q.By), func(d string) bool { return !report.Holds(src, d) })
			s.Where = maps.Clone(q.Where)
			maps.DeleteFunc(s.Where, func(d, _ string) bool { return !report.Holds(src, d) })
			for _, dedup := range []bool{false, true} {
				if dedup && src != report.SourceClicks {
					continue
				}
				sql, args, err := clickhouse.GroupsSQL(src, s, dedup)
				if err != nil {
					t.Fatal(err)
				}
				stmts = append(stmts, chtest.Bind(t, sql, args...))
			}
		}
	}
	stmts = append(stmts, chtest.Bind(t, clickhouse.LinesSQL(" AND partner_id = ?"), from, to, "PA"),
		clickhouse.Query("rollups/copies_marked_since")) // once schema_migrations is made, above

	// The rollups: 2026-11-10 rolled up by run 42 (every rollup table), then the report shapes read
	// with it: that day from the rollups, the other days of November from the raw tables, and the
	// hour of the replayed row of c1 counted again from the raw table (where it is a repeat).
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	qs, qargs := clickhouse.RollSQLs(42, day, day.Add(24*time.Hour))
	for i, q := range qs {
		stmts = append(stmts, chtest.Bind(t, q, qargs[i]...))
	}
	stmts = append(stmts, "INSERT INTO rollup_runs (day, run, committed_ns) VALUES ('2026-11-10', 42, 1)",
		"SELECT 'rolled', count() FROM rollup_clicks_links WHERE run = 42")
	runs := map[time.Time]uint64{day: 42}
	replayed := [][2]time.Time{{day.Add(10 * time.Hour), day.Add(11 * time.Hour)}}
	for _, q := range []report.Slice{
		{From: from, To: to},
		{From: from, To: to, By: []string{"day", "partner"}, Limit: 10},
		{From: from, To: to, By: []string{"hour"}, Where: map[string]string{"program": "affiliate"}},
		{From: from, To: to, By: []string{"country", "device"}},
		{From: from, To: to, By: []string{"link"}, Where: map[string]string{"partner": "PA"}, IncludeBots: true},
	} {
		for _, src := range []report.Source{report.SourceClicks, report.SourceAssociations, report.SourceImpressions} {
			s := q
			s.By = slices.DeleteFunc(slices.Clone(q.By), func(d string) bool { return !report.Holds(src, d) })
			s.Where = maps.Clone(q.Where)
			maps.DeleteFunc(s.Where, func(d, _ string) bool { return !report.Holds(src, d) })
			for _, v := range []int{clickhouse.ValuesAll, clickhouse.ValuesCounts, clickhouse.ValuesVisitors} {
				if v != clickhouse.ValuesAll && src != report.SourceClicks {
					continue
				}
				sql, args, ok, err := clickhouse.RollupGroupsSQL(src, s, runs, nil, replayed, v)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					t.Fatalf("%s %+v: not read with rollups", src, s)
				}
				stmts = append(stmts, "SELECT 'rollup "+src.String()+" "+strings.Join(s.By, ",")+"'", chtest.Bind(t, sql, args...))
			}
		}
	}
	// November's month rows, made from its day run (42) by run 43, then read by link in place of it.
	mqs, margs, days := clickhouse.MonthSQLs(43, from, runs)
	for i, q := range mqs {
		stmts = append(stmts, chtest.Bind(t, q, margs[i]...))
	}
	stmts = append(stmts, chtest.Bind(t, "INSERT INTO rollup_month_runs (month, days, run, committed_ns) SELECT '2026-11-01', ?, 43, 1", days))
	months := map[time.Time]map[uint64]uint64{from: {days: 43}}
	for _, src := range []report.Source{report.SourceClicks, report.SourceAssociations, report.SourceImpressions} {
		s := report.Slice{From: from, To: to, By: []string{"link"}, Where: map[string]string{"partner": "PA"}}
		sql, args, ok, err := clickhouse.RollupGroupsSQL(src, s, runs, months, replayed, clickhouse.ValuesAll)
		if err != nil || !ok {
			t.Fatalf("%s by link over November: read with rollups %v (%v)", src, ok, err)
		}
		if !strings.Contains(sql, "_months") || strings.Contains(sql, src.String()+"_links\n") {
			t.Errorf("%s by link over November does not read the month rows alone:\n%s", src, sql)
		}
		stmts = append(stmts, "SELECT 'months "+src.String()+"'", chtest.Bind(t, sql, args...))
	}
	// The commission lines' rollup (run 9, made above by rollups/lines), read by day and partner.
	lsql, largs := clickhouse.LinesRollupSQL(report.Slice{From: from, To: to, By: []string{"day", "partner"}, Where: map[string]string{"program": "affiliate"}})
	stmts = append(stmts, "SELECT 'lines rollup'", chtest.Bind(t, lsql, append([]any{uint64(9), from, to}, largs...)...))
	if dir := os.Getenv("FIRSTCLAIM_DUMP_SQL"); dir != "" {
		for i, st := range stmts {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.sql", i)), []byte(st+";\n"), 0o644)
		}
	}
	out := chtest.RunCurrent(t, stmts...)
	for _, want := range []string{
		"1\t2", // clicks_count: c1 once, in two rows
		"PA\t01a1c4e6-75fa-7000-91f0-805201bf36ad\tregister\t2026-11-10 10:00:00", // the association takes its partner and claim from the click
		"affiliate\torder\to1\tpending",                                           // settled postbacks
		"PA\tUSD\t1\t1000\t0\t50",                                                 // the network's statement
		"2026-11-10\tPA\t1\t1\t1\t0\t0\t0\t0\t0",                                  // clicks by day and partner: c1 once, replayed or not
		"2026-11-10T10:00Z\tDE\tmobile\t1\t1\t1",
		"2026-11-10\tPA\t1\t0",             // associations by day and partner: the partner of the click it names
		"2026-11-10\tPA\tUSD\t1\t1000\t50", // lines by day and partner
		"2026-11-10T09:00Z\t1",             // impressions by hour
		"L1\t1\t1\t1",
		"wp-login.php\t9\t2026-11-10 10:00:01\t2026-11-10 10:00:59", // unknown codes
		"rolled\t1", // the day's clicks in rollup_clicks_links
		"lines rollup\n2026-11-10\tPA\tUSD\t1\t1000\t50\n",                              // the lines from their rollup
		"L1\t7\thttps://shop.example.com/\tPA\taffiliate\t\tactive\t0\tadmin\tcreate\t", // a link's versions
		"L1\t5\tw1\tr\n", // the standing claims (L2's is released)
		"\nL1\t7\n",      // the codes changed since 1970, with their newest version
		// Read with rollups: c1 once (its replayed row a repeat), one visitor, the sign-up of the
		// click it names, the impression; with and without the visitors' separate query.
		"rollup clicks \n1\t1\t0\t0\t0\t0\t0\t1\n",
		"rollup clicks day,partner\n2026-11-10\tPA\t1\t1\t0\t0\t0\t0\t0\t1\n",
		"rollup clicks day,partner\n2026-11-10\tPA\t1\t1\t0\t0\t0\t0\t0\n",
		"rollup clicks day,partner\n2026-11-10\tPA\t1\n",
		"rollup associations day,partner\n2026-11-10\tPA\t1\t0\n",
		"rollup impressions day,partner\n2026-11-10\tPA\t1\n",
		"rollup clicks country,device\nDE\tmobile\t1\t1\t0\t0\t0\t0\t0\t1\n",
		"rollup clicks hour\n2026-11-10T10:00Z\t1\t1\t0\t0\t0\t0\t0\t1\n",
		// The same from November's month rows.
		"months clicks\nL1\t1\t1\t0\t0\t0\t0\t0\t1\n",
		"months associations\nL1\t1\t0\n",
		"months impressions\nL1\t1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("current engine output lacks %q", want)
		}
	}
	if strings.Contains(out, "L2\t6\tw1") {
		t.Error("a released claim is read as standing")
	}
	if t.Failed() {
		t.Fatalf("current engine printed:\n%s", out)
	}
}
