package postback_test

import (
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/internal/chtest"
	"github.com/firstclaim/firstclaim/postback"
)

func TestQueriesRunOnCurrentClickHouse(t *testing.T) {
	out := chtest.RunCurrent(t,
		`INSERT INTO postbacks (network, program, line, ref, status, ok) VALUES ('n', 'affiliate', 'order', 'o1', 'pending', 1)`,
		`INSERT INTO commissions (program, partner_id, line, ref, status, currency, base, commission, ts, computed_at) VALUES ('affiliate', 'pa', 'order', 'o1', 'approved', 'USD', 1000, 50, '2026-10-10 12:00:00', '2026-10-11 00:00:00')`,
		chtest.Bind(t, postback.SQL("sent"), "n"),
		chtest.Bind(t, postback.SQL("export"), []string{"affiliate"}, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	if !strings.Contains(out, "affiliate\torder\to1\tpending") || !strings.Contains(out, "pa\tUSD\t1\t1000\t0\t50") {
		t.Fatalf("current engine printed:\n%s", out)
	}
}
