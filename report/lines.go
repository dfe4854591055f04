package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/attribution"
)

// LinesQuery selects commission lines.
type LinesQuery struct {
	From, To time.Time
	Partner  string // "" for every partner (admin only)
	Program  string
}

// Lines returns the current commission lines in a range (at most 10,000, newest first).
func Lines(ctx context.Context, conn driver.Conn, q LinesQuery) ([]attribution.Line, error) {
	if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
		return nil, fmt.Errorf("want a time range with from before to")
	}
	where, args := "", []any{q.From.UTC().Truncate(time.Second), q.To.UTC().Truncate(time.Second)}
	if q.Partner != "" {
		where += " AND partner_id = ?"
		args = append(args, q.Partner)
	}
	if q.Program != "" {
		where += " AND program = ?"
		args = append(args, q.Program)
	}
	rows, err := conn.Query(ctx, strings.Replace(SQL("lines"), "{where}", where, 1), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read commission lines: %w", err)
	}
	defer rows.Close()
	var out []attribution.Line
	for rows.Next() {
		var l attribution.Line
		if err := rows.Scan(&l.Program, &l.PartnerID, &l.Line, &l.Ref, &l.AccountID, &l.Status, &l.Reason, &l.Currency,
			&l.Base, &l.Rate, &l.Commission, &l.PayableOn, &l.TS); err != nil {
			return nil, fmt.Errorf("cannot read commission lines: %w", err)
		}
		l.BaseCount = l.Line == attribution.LineTier || l.Line == attribution.LineLead
		if l.PayableOn.Unix() <= 0 {
			l.PayableOn = time.Time{}
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
