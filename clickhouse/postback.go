package clickhouse

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/postback"
)

// Settled implements postback.Store: the lines and statuses a network acknowledged.
func (db *DB) Settled(ctx context.Context, network string) (map[postback.Key]bool, error) {
	out := map[postback.Key]bool{}
	err := db.each(ctx, "postbacks", Query("postback/settled"), []any{network}, func(rows driver.Rows) error {
		var k postback.Key
		if err := rows.Scan(&k.Program, &k.Line, &k.Ref, &k.Status); err != nil {
			return err
		}
		out[k] = true
		return nil
	})
	return out, err
}

// SaveAttempts implements postback.Store: every attempt goes to the postbacks table.
func (db *DB) SaveAttempts(ctx context.Context, attempts []postback.Attempt) error {
	return db.insert(ctx, "INSERT INTO postbacks (network, program, line, ref, status, url, attempt, ts, http_status, error, ok)",
		len(attempts), func(bt driver.Batch, i int) error {
			a := &attempts[i]
			return bt.Append(a.Network, a.Program, a.Line, a.Ref, a.Status, a.URL, a.N, DateTime(a.TS), a.HTTPStatus, a.Error, u8(a.OK))
		})
}

// Statement implements postback.StatementStore (sql/postback/statement.sql).
func (db *DB) Statement(ctx context.Context, programs []string, from, to time.Time) ([]postback.ExportRow, error) {
	var out []postback.ExportRow
	err := db.each(ctx, "the month's lines", Query("postback/statement"), []any{programs, DateTime(from), DateTime(to)}, func(rows driver.Rows) error {
		var r postback.ExportRow
		if err := rows.Scan(&r.PartnerID, &r.Currency, &r.Orders, &r.Amount, &r.Leads, &r.Commission); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

var (
	_ postback.Store          = (*DB)(nil)
	_ postback.StatementStore = (*DB)(nil)
)
