package report_test

import (
	"fmt"
	"testing"

	"github.com/firstclaim/firstclaim/report"
)

// A report lists its rows by the time dimensions ascending, then by clicks descending, then by the
// other dimensions ascending; TopGroups keeps the first of them in that order.
func TestTopGroupsOrder(t *testing.T) {
	g := func(day, link string, clicks uint64) report.Group {
		return report.Group{Dims: []string{day, link}, Counts: map[string]uint64{"clicks": clicks}}
	}
	groups := []report.Group{
		g("2026-11-02", "b", 5), g("2026-11-01", "z", 1), g("2026-11-02", "a", 5), g("2026-11-01", "c", 9),
		g("2026-11-02", "c", 7), g("2026-11-01", "a", 1),
	}
	want := []string{"2026-11-01 c", "2026-11-01 a", "2026-11-01 z", "2026-11-02 c", "2026-11-02 a", "2026-11-02 b"}
	for limit := 0; limit <= len(groups); limit++ {
		got := report.TopGroups([]string{"day", "link"}, groups, limit)
		n := limit
		if n == 0 {
			n = len(groups)
		}
		if len(got) != n {
			t.Fatalf("limit %d: %d groups", limit, len(got))
		}
		for i, r := range got {
			if s := fmt.Sprintf("%s %s", r.Dims[0], r.Dims[1]); s != want[i] {
				t.Fatalf("limit %d: row %d is %q, want %q", limit, i, s, want[i])
			}
		}
	}
	// Without a time dimension: clicks first, then the dimension.
	got := report.TopGroups([]string{"link"}, []report.Group{
		{Dims: []string{"b"}, Counts: map[string]uint64{"clicks": 2}},
		{Dims: []string{"a"}, Counts: map[string]uint64{"clicks": 2}},
		{Dims: []string{"c"}, Counts: map[string]uint64{"clicks": 3}},
	}, 2)
	if len(got) != 2 || got[0].Dims[0] != "c" || got[1].Dims[0] != "a" {
		t.Fatalf("by link: %+v", got)
	}
}
