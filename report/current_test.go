package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/internal/chtest"
)

// Every report query, rendered for several shapes, runs on a current ClickHouse too.
func TestQueriesRunOnCurrentClickHouse(t *testing.T) {
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	data := `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, country, device_type, visitor, replayed)
VALUES ('c1', '2026-11-10 10:00:00', 'L1', 'PA', 'affiliate', 'claimed', 'DE', 'mobile', 7, 0), ('c1', '2026-11-10 10:00:00', 'L1', 'PA', 'affiliate', 'claimed', 'DE', 'mobile', 7, 1);
INSERT INTO impressions (impression_id, ts, link, partner_id, program) VALUES ('i1', '2026-11-10 09:00:00', 'L1', 'PA', 'affiliate');
INSERT INTO associations (association_id, ts, program, account_id, partner_id, link, kind) VALUES ('a1', '2026-11-10 11:00:00', 'affiliate', 'x', 'PA', 'L1', 'register');
INSERT INTO commissions (program, partner_id, line, ref, status, currency, base, commission, ts, computed_at) VALUES ('affiliate', 'PA', 'order', 'o1', 'approved', 'USD', 1000, 50, '2026-11-10 12:00:00', '2026-11-11 00:00:00')`
	stmts := []string{data}
	for _, q := range []Query{
		{From: from, To: to},
		{From: from, To: to, By: []string{"day", "partner"}},
		{From: from, To: to, By: []string{"hour", "country", "device"}, Where: map[string]string{"program": "affiliate"}},
		{From: from, To: to, By: []string{"link"}, Partner: "PA"},
	} {
		for _, src := range []struct {
			name string
			col  func(dimension) string
			args func([]any) []any
		}{
			{"clicks", func(d dimension) string { return d.clicks }, func(a []any) []any { return append([]any{1, 0, 0, 0, from, to}, a...) }},
			{"clicks_dedup", func(d dimension) string { return d.clicks }, func(a []any) []any {
				all := append([]any{1, 0, 0, 0, from, to}, a...)
				return append(append(append(all, from, to), a...), from, to, from, to)
			}},
			{"associations", func(d dimension) string { return d.assocs }, func(a []any) []any { return append([]any{from, to}, a...) }},
			{"commissions", func(d dimension) string { return d.lines }, func(a []any) []any { return append([]any{from, to}, a...) }},
			{"impressions", func(d dimension) string { return d.imps }, func(a []any) []any { return append([]any{0, from, to}, a...) }},
		} {
			sql, _, args, ok := q.build(SQL(src.name), src.col)
			if ok {
				stmts = append(stmts, chtest.Bind(t, sql, src.args(args)...))
			}
		}
	}
	stmts = append(stmts, chtest.Bind(t, SQL("replayed_rows"), from, to),
		chtest.Bind(t, strings.Replace(SQL("lines"), "{where}", " AND partner_id = ?", 1), from, to, "PA"))
	if dir := os.Getenv("FIRSTCLAIM_DUMP_SQL"); dir != "" {
		for i, st := range stmts {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.sql", i)), []byte(st+";\n"), 0o644)
		}
	}
	out := chtest.RunCurrent(t, stmts...)
	// c1 and its replayed copy are one click; every source answered its shapes.
	for _, want := range []string{"2026-11-10\tPA\t1\t1\t1\t0\t0\t0\t0\t0", "2026-11-10T10:00Z\tDE\tmobile\t1\t1\t1", "2026-11-10\tPA\t1\t0",
		"2026-11-10\tPA\tUSD\t1\t1000\t50", "2026-11-10T09:00Z\t1", "L1\t1\t1\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("current engine output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("current engine printed:\n%s", out)
	}
}
