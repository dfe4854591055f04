package clickhouse_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// declared lists a table's declared columns as "name type" lines, in the declaration's order.
func declared() map[string][]string {
	out := map[string][]string{}
	add := func(table string, names, types []string) {
		for i := range names {
			out[table] = append(out[table], names[i]+" "+types[i])
		}
	}
	types := func(n int, typ func(int) string) []string {
		t := make([]string, n)
		for i := range t {
			t[i] = typ(i)
		}
		return t
	}
	cc, ac, ic, uc := firstclaim.ClickColumns(), firstclaim.AssociationColumns(), firstclaim.ImpressionColumns(), firstclaim.UnknownCodeColumns()
	add(clickhouse.TableClicks, firstclaim.ColumnNames(cc), types(len(cc), func(i int) string { return cc[i].Type }))
	add(clickhouse.TableAssociations, firstclaim.ColumnNames(ac), types(len(ac), func(i int) string { return ac[i].Type }))
	add(clickhouse.TableImpressions, firstclaim.ColumnNames(ic), types(len(ic), func(i int) string { return ic[i].Type }))
	add(clickhouse.TableUnknownCodes, firstclaim.ColumnNames(uc), types(len(uc), func(i int) string { return uc[i].Type }))
	return out
}

// The columns the INSERTs and the NDJSON writer use are the migrated tables' columns, with their
// types, on 18.16 (here) and on the current engine (TestSchemaOnCurrentClickHouse); and the clicks
// table's sorting key is the order declared beside it, which is the order the sink produces.
func TestDeclaredColumnsAreTheTables(t *testing.T) {
	_, db := chtest.Database(t)
	for table, want := range declared() {
		rows, err := db.Conn().Query(ctx(t), "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", db.Database(), table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, name+" "+typ)
		}
		rows.Close()
		slices.Sort(got)
		if w := slices.Sorted(slices.Values(want)); !slices.Equal(got, w) {
			t.Errorf("%s: the migrated table has\n  %s\nthe declaration\n  %s", table, strings.Join(got, ", "), strings.Join(w, ", "))
		}
	}
	var key string
	if err := db.Conn().QueryRow(ctx(t), "SELECT sorting_key FROM system.tables WHERE database = ? AND name = 'clicks'", db.Database()).Scan(&key); err != nil {
		t.Fatal(err)
	}
	checkClickOrder(t, key)
}

func checkClickOrder(t *testing.T, sortingKey string) {
	t.Helper()
	if declared := strings.Join(clickhouse.ClicksOrderBy(), ", "); sortingKey != declared {
		t.Errorf("the clicks table is sorted by %q; ClicksOrderBy declares %q", sortingKey, declared)
	}
	if !slices.Equal(clickhouse.ClicksOrderBy(), firstclaim.ClickOrder()) {
		t.Errorf("ClicksOrderBy %v is not the order the sink can hand clicks over in, firstclaim.ClickOrder %v",
			clickhouse.ClicksOrderBy(), firstclaim.ClickOrder())
	}
}

func TestSchemaOnCurrentClickHouse(t *testing.T) {
	var stmts []string
	for table := range declared() {
		stmts = append(stmts, fmt.Sprintf("SELECT '%s', name, type FROM system.columns WHERE database = currentDatabase() AND table = '%s'", table, table))
	}
	stmts = append(stmts, "SELECT 'key', sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'clicks'")
	out := chtest.RunCurrent(t, stmts...)
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		switch {
		case len(f) == 2 && f[0] == "key":
			checkClickOrder(t, f[1])
		case len(f) == 3:
			got[f[0]] = append(got[f[0]], f[1]+" "+strings.ReplaceAll(f[2], `\'`, "'"))
		}
	}
	for table, want := range declared() {
		slices.Sort(got[table])
		if w := slices.Sorted(slices.Values(want)); !slices.Equal(got[table], w) {
			t.Errorf("%s on the current engine: the table has\n  %s\nthe declaration\n  %s", table, strings.Join(got[table], ", "), strings.Join(w, ", "))
		}
	}
}

// The adapter holds every dimension report says a source has, and no other.
func TestDimensionColumnsAreReports(t *testing.T) {
	for _, src := range report.Sources() {
		for _, dim := range report.Dimensions() {
			if has := clickhouse.DimensionColumn(src, dim) != ""; has != report.Holds(src, dim) {
				t.Errorf("%s %s: the adapter has a column: %v; report says the source holds it: %v", src, dim, has, report.Holds(src, dim))
			}
		}
	}
}

// Each source's groups hold exactly the counts report names for it (report.SourceMetrics), as
// the SQL aliases them.
func TestGroupsCountWhatReportNames(t *testing.T) {
	_, db := chtest.Database(t)
	ts := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
	c := sampleClick(1, ts)
	a := firstclaim.Association{ID: "a1", TS: ts, Program: "affiliate", AccountID: "x", Kind: "register"}
	m := firstclaim.Impression{ID: "i1", TS: ts, Link: c.Link}
	if err := db.Events().Write(ctx(t), &sink.Batch{Clicks: []firstclaim.Click{c}, Associations: []firstclaim.Association{a}, Impressions: []firstclaim.Impression{m}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLines(ctx(t), []attribution.Line{{Program: "affiliate", Line: "order", Ref: "o1", Status: "approved", Currency: "USD", Base: 100, Commission: 5, TS: ts}}, ts, ts); err != nil {
		t.Fatal(err)
	}
	for _, src := range report.Sources() {
		ans, err := db.Groups(ctx(t), src, report.Slice{From: ts.Add(-time.Hour), To: ts.Add(time.Hour), By: []string{"day"}})
		if err != nil {
			t.Fatal(err)
		}
		groups := ans.Groups
		if len(groups) != 1 {
			t.Fatalf("%s: %d groups, want 1", src, len(groups))
		}
		got := slices.Sorted(maps.Keys(groups[0].Counts))
		if want := slices.Sorted(slices.Values(report.SourceMetrics(src))); !slices.Equal(got, want) {
			t.Errorf("%s: counts %v, report names %v", src, got, want)
		}
		if groups[0].Dims[0] != "2026-11-10" {
			t.Errorf("%s: day %q", src, groups[0].Dims[0])
		}
	}
}

// A report query runs under the time limit the server was given (max_execution_time): a wide
// report is stopped by ClickHouse, not left to hold it.
func TestReportQueriesHaveATimeLimit(t *testing.T) {
	_, db := chtest.Database(t)
	db.SetQueryTimeout(7 * time.Second)
	v, err := db.ReportSetting(context.Background(), "max_execution_time")
	if n, _ := strconv.Atoi(v); err != nil || n < 7 || n > 12 {
		t.Fatalf("with a limit of 7 s, max_execution_time is %q (%v); want 7 to 12", v, err)
	}
	db.SetQueryTimeout(0)
	if v, err := db.ReportSetting(context.Background(), "max_execution_time"); err != nil || v != "0" {
		t.Fatalf("without a limit: %q %v", v, err)
	}
}
