package clickhouse

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
)

// Progress, when not nil, hears what a long load is doing.
type Progress func(stage string)

// LoadInput reads what program p needs from ClickHouse as known at asOf: accounts and partners
// (newest import of each), the orders up to asOf, and the program's associations up to asOf joined
// with the clicks they name (sql/attribution/associations.sql).
func (db *DB) LoadInput(ctx context.Context, p *attribution.Program, asOf time.Time, progress Progress) (*attribution.Input, error) {
	if progress == nil {
		progress = func(string) {}
	}
	in := &attribution.Input{}
	asOfDT := DateTime(asOf)
	progress("reading accounts")
	err := db.each(ctx, "accounts", Query("attribution/accounts"), nil, func(rows driver.Rows) error {
		var a attribution.Account
		var sales uint8
		if err := rows.Scan(&a.ID, &a.IdentityID, &a.RegisteredAt, &a.Type, &sales); err != nil {
			return err
		}
		a.SalesBound, a.RegisteredAt = sales == 1, fromDateTime(a.RegisteredAt, 0)
		in.Accounts = append(in.Accounts, a)
		return nil
	})
	if err != nil {
		return nil, err
	}

	progress("reading partners")
	err = db.each(ctx, "partners", Query("attribution/partners"), nil, func(rows driver.Rows) error {
		var pt attribution.Partner
		var level, excluded uint8
		if err := rows.Scan(&pt.ID, &pt.Month, &pt.IdentityID, &level, &excluded); err != nil {
			return err
		}
		pt.Level, pt.Excluded = int(level), excluded == 1
		in.Partners = append(in.Partners, pt)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Products, categories and the like repeat on every row: keep one copy of each, so a million
	// orders do not hold five million small strings.
	pool := map[string]string{}
	intern := func(ps ...*string) {
		for _, p := range ps {
			if v, ok := pool[*p]; ok {
				*p = v
			} else if len(pool) < 100_000 {
				pool[*p] = *p
			}
		}
	}
	progress("reading orders")
	err = db.each(ctx, "orders", Query("attribution/orders"), []any{asOfDT}, func(rows driver.Rows) error {
		var o attribution.Order
		var ms uint16
		if err := rows.Scan(&o.ID, &o.AccountID, &o.TS, &ms, &o.Product, &o.Category, &o.Billing, &o.Kind, &o.Currency,
			&o.Amount, &o.Voucher, &o.Refund, &o.RefundedAt); err != nil {
			return err
		}
		o.TS, o.RefundedAt = fromDateTime(o.TS, ms), fromDateTime(o.RefundedAt, 0)
		intern(&o.Product, &o.Category, &o.Billing, &o.Kind, &o.Currency)
		if len(in.Orders)%100_000 == 0 && len(in.Orders) > 0 {
			progress(fmt.Sprintf("reading orders: %d", len(in.Orders)))
		}
		in.Orders = append(in.Orders, o)
		return nil
	})
	if err != nil {
		return nil, err
	}

	progress("reading associations")
	win := uint32(p.Window() / time.Second)
	err = db.each(ctx, "associations", Query("attribution/associations"), []any{win, p.Name, asOfDT, p.Name, asOfDT}, func(rows driver.Rows) error {
		a := attribution.Association{Program: p.Name}
		var ms uint16
		if err := rows.Scan(&a.TS, &ms, &a.AccountID, &a.PartnerID, &a.ClickID, &a.Kind, &a.ClaimedAt, &a.NetworkClickID); err != nil {
			return err
		}
		a.TS, a.ClaimedAt = fromDateTime(a.TS, ms), fromDateTime(a.ClaimedAt, 0)
		intern(&a.Kind, &a.PartnerID)
		in.Associations = append(in.Associations, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// each runs a query and calls f for every row; what names the rows in errors.
func (db *DB) each(ctx context.Context, what, query string, args []any, f func(driver.Rows) error) error {
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", what, err)
	}
	for rows.Next() {
		if err := f(rows); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read %s: %w", what, err)
		}
	}
	return closeRows(rows, what)
}

// SaveLines writes a run's lines to the commissions table. Each line is keyed by (program, line,
// ref) and versioned by computedAt, so the newest run is the line's current state and running the
// job again replaces lines instead of adding them. Lines go in INSERTs of saveChunk rows, which keeps
// the client's memory flat; a run cut off between two is repaired by running it again.
func (db *DB) SaveLines(ctx context.Context, lines []attribution.Line, asOf, computedAt time.Time) error {
	for start := 0; start < len(lines); start += saveChunk {
		if err := db.saveLines(ctx, lines[start:min(start+saveChunk, len(lines))], asOf, computedAt); err != nil {
			return err
		}
	}
	return nil
}

const saveChunk = 100_000

func (db *DB) saveLines(ctx context.Context, lines []attribution.Line, asOf, computedAt time.Time) error {
	run := uint64(computedAt.UnixNano()) // orders two runs of one second
	err := db.insert(ctx, `INSERT INTO commissions (program, partner_id, line, ref, account_id, status, reason,
 currency, base, rate, commission, payable_on, as_of, computed_at, ts, click_id, network_click_id, run)`, len(lines), func(bt driver.Batch, i int) error {
		l := &lines[i]
		payable := l.PayableOn
		if payable.IsZero() {
			payable = time.Unix(0, 0).UTC()
		}
		return bt.Append(l.Program, l.PartnerID, l.Line, l.Ref, l.AccountID, l.Status, l.Reason, l.Currency,
			l.Base, l.Rate, l.Commission, payable, DateTime(asOf), DateTime(computedAt), DateTime(l.TS), l.ClickID, l.NetworkClickID, run)
	})
	if err != nil {
		return fmt.Errorf("cannot write %d commission lines: %w", len(lines), err)
	}
	return nil
}

// CurrentLines reads the current state of a program's lines from the commissions table.
func (db *DB) CurrentLines(ctx context.Context, program string) ([]attribution.Line, error) {
	return db.lines(ctx, Query("attribution/commissions_current"), []any{program})
}

// lines reads commission lines: program, partner_id, line, ref, account_id, status, reason,
// currency, base, rate, commission, payable_on, ts, click_id, network_click_id.
func (db *DB) lines(ctx context.Context, query string, args []any) ([]attribution.Line, error) {
	var out []attribution.Line
	err := db.each(ctx, "commission lines", query, args, func(rows driver.Rows) error {
		var l attribution.Line
		if err := rows.Scan(&l.Program, &l.PartnerID, &l.Line, &l.Ref, &l.AccountID, &l.Status, &l.Reason, &l.Currency,
			&l.Base, &l.Rate, &l.Commission, &l.PayableOn, &l.TS, &l.ClickID, &l.NetworkClickID); err != nil {
			return err
		}
		l.BaseCount = l.Line == attribution.LineTier || l.Line == attribution.LineLead
		l.PayableOn, l.TS = fromDateTime(l.PayableOn, 0), fromDateTime(l.TS, 0)
		out = append(out, l)
		return nil
	})
	return out, err
}

// Import loads the rows of the offline contract in in (accounts, partners, orders, associations;
// one kind or several) into their tables, one INSERT a table. Rows carry their natural key (and
// associations an id made from their fields), so importing the same file again replaces rows
// instead of adding them. It returns the number of rows.
func (db *DB) Import(ctx context.Context, in *attribution.Input, now time.Time) (int, error) {
	imported := DateTime(now)
	steps := []struct {
		n     int
		query string
		row   func(bt driver.Batch, i int) error
	}{
		{len(in.Accounts), "INSERT INTO accounts (account_id, identity_id, registered_at, type, sales_bound, imported_at)",
			func(bt driver.Batch, i int) error {
				a := &in.Accounts[i]
				return bt.Append(a.ID, a.IdentityID, DateTime(a.RegisteredAt), a.Type, u8(a.SalesBound), imported)
			}},
		{len(in.Partners), "INSERT INTO partners (partner_id, identity_id, level, excluded, month, imported_at)",
			func(bt driver.Batch, i int) error {
				p := &in.Partners[i]
				return bt.Append(p.ID, p.IdentityID, uint8(p.Level), u8(p.Excluded), p.Month, imported)
			}},
		{len(in.Orders), `INSERT INTO orders (order_id, account_id, ts, ts_ms, product, category, billing, kind,
 currency, amount, voucher, refund, refunded_at, imported_at)`, func(bt driver.Batch, i int) error {
			o := &in.Orders[i]
			return bt.Append(o.ID, o.AccountID, DateTime(o.TS), Millis(o.TS), o.Product, o.Category, o.Billing, o.Kind,
				o.Currency, o.Amount, o.Voucher, o.Refund, DateTime(o.RefundedAt), imported)
		}},
	}
	total := 0
	for _, st := range steps {
		if err := db.insert(ctx, st.query, st.n, st.row); err != nil {
			return total, fmt.Errorf("cannot import %d rows: %w", st.n, err)
		}
		total += st.n
	}
	// Associations are the events the redirector also records: the same declared columns.
	assocs := make([]firstclaim.Association, len(in.Associations))
	for i := range in.Associations {
		a := &in.Associations[i]
		assocs[i] = firstclaim.Association{ID: attribution.AssociationID(a), TS: a.TS, Program: a.Program, AccountID: a.AccountID,
			PartnerID: a.PartnerID, ClickID: a.ClickID, Kind: a.Kind, ClaimedAt: a.ClaimedAt, Source: "import",
			NetworkClickID: a.NetworkClickID}
	}
	// Imported associations happened in the past: their hours are recorded as holding rows written
	// late, so that reports count them from the raw table too, not only from rollups made earlier.
	hours := map[time.Time]uint64{}
	for i := range assocs {
		hours[assocs[i].TS.UTC().Truncate(time.Hour)]++
	}
	keys := slices.SortedFunc(maps.Keys(hours), time.Time.Compare)
	if err := db.insert(ctx, "INSERT INTO replays (period, source, rows)", len(keys), func(bt driver.Batch, i int) error {
		return bt.Append(keys[i], TableAssociations, hours[keys[i]])
	}); err != nil {
		return total, fmt.Errorf("cannot import %d rows: %w", len(assocs), err)
	}
	if err := insertRows(ctx, db, insertAssociations, firstclaim.AssociationColumns(), assocs,
		func(r *firstclaim.AssociationRow, a *firstclaim.Association) { r.Set(a) }); err != nil {
		return total, fmt.Errorf("cannot import %d rows: %w", len(assocs), err)
	}
	return total + len(assocs), nil
}
