package attribution

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/sink"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// Query returns the embedded query sql/NAME.sql, without its trailing ';'.
func Query(name string) string {
	data, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("no embedded query %q", name))
	}
	return strings.TrimSuffix(strings.TrimSpace(string(data)), ";")
}

// QueryNames lists the embedded queries.
func QueryNames() []string {
	ents, _ := sqlFiles.ReadDir("sql")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".sql"))
	}
	return out
}

// Progress, when not nil, hears what a long load is doing.
type Progress func(stage string)

// Load reads what program p needs from ClickHouse as known at asOf: accounts and partners (newest
// import of each), the orders up to asOf, and the program's associations up to asOf joined with
// the clicks they name (see sql/associations.sql).
func Load(ctx context.Context, conn driver.Conn, p *Program, asOf time.Time, progress Progress) (*Input, error) {
	if progress == nil {
		progress = func(string) {}
	}
	in := &Input{}
	asOfDT := asOf.UTC().Truncate(time.Second)
	progress("reading accounts")
	rows, err := conn.Query(ctx, Query("accounts"))
	if err != nil {
		return nil, fmt.Errorf("cannot read accounts: %w", err)
	}
	for rows.Next() {
		var a Account
		var sales uint8
		if err := rows.Scan(&a.ID, &a.IdentityID, &a.RegisteredAt, &a.Type, &sales); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read accounts: %w", err)
		}
		a.SalesBound, a.RegisteredAt = sales == 1, fromDateTime(a.RegisteredAt, 0)
		in.Accounts = append(in.Accounts, a)
	}
	if err := closeRows(rows, "accounts"); err != nil {
		return nil, err
	}

	progress("reading partners")
	if rows, err = conn.Query(ctx, Query("partners")); err != nil {
		return nil, fmt.Errorf("cannot read partners: %w", err)
	}
	for rows.Next() {
		var pt Partner
		var level, excluded uint8
		if err := rows.Scan(&pt.ID, &pt.Month, &pt.IdentityID, &level, &excluded); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read partners: %w", err)
		}
		pt.Level, pt.Excluded = int(level), excluded == 1
		in.Partners = append(in.Partners, pt)
	}
	if err := closeRows(rows, "partners"); err != nil {
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
	if rows, err = conn.Query(ctx, Query("orders"), asOfDT); err != nil {
		return nil, fmt.Errorf("cannot read orders: %w", err)
	}
	for rows.Next() {
		var o Order
		var ms uint16
		if err := rows.Scan(&o.ID, &o.AccountID, &o.TS, &ms, &o.Product, &o.Category, &o.Billing, &o.Kind, &o.Currency,
			&o.Amount, &o.Voucher, &o.Refund, &o.RefundedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read orders: %w", err)
		}
		o.TS, o.RefundedAt = fromDateTime(o.TS, ms), fromDateTime(o.RefundedAt, 0)
		intern(&o.Product, &o.Category, &o.Billing, &o.Kind, &o.Currency)
		if len(in.Orders)%100_000 == 0 && len(in.Orders) > 0 {
			progress(fmt.Sprintf("reading orders: %d", len(in.Orders)))
		}
		in.Orders = append(in.Orders, o)
	}
	if err := closeRows(rows, "orders"); err != nil {
		return nil, err
	}

	progress("reading associations")
	win := uint32(p.Window() / time.Second)
	if rows, err = conn.Query(ctx, Query("associations"), win, p.Name, asOfDT, p.Name, asOfDT); err != nil {
		return nil, fmt.Errorf("cannot read associations: %w", err)
	}
	for rows.Next() {
		a := Association{Program: p.Name}
		var ms uint16
		if err := rows.Scan(&a.TS, &ms, &a.AccountID, &a.PartnerID, &a.ClickID, &a.Kind, &a.ClaimedAt, &a.NetworkClickID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read associations: %w", err)
		}
		a.TS, a.ClaimedAt = fromDateTime(a.TS, ms), fromDateTime(a.ClaimedAt, 0)
		intern(&a.Kind, &a.PartnerID)
		in.Associations = append(in.Associations, a)
	}
	if err := closeRows(rows, "associations"); err != nil {
		return nil, err
	}
	return in, nil
}

func closeRows(rows driver.Rows, what string) error {
	err := rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", what, err)
	}
	return nil
}

// fromDateTime turns a DateTime column (and its milliseconds) back into an instant; the epoch, which
// stands for "none", becomes the zero time.
func fromDateTime(t time.Time, ms uint16) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return time.Unix(t.Unix(), int64(ms)*int64(time.Millisecond)).UTC()
}

func toDateTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

func millis(t time.Time) uint16 {
	if t.IsZero() {
		return 0
	}
	return uint16(t.Nanosecond() / int(time.Millisecond))
}

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// SaveLines writes a run's lines to the commissions table. Each line is keyed by (program, line,
// ref) and versioned by computedAt, so the newest run is the line's current state and running the
// job again replaces lines instead of adding them. Lines go in INSERTs of saveChunk rows, which keeps
// the client's memory flat; a run cut off between two is repaired by running it again.
func SaveLines(ctx context.Context, conn driver.Conn, lines []Line, asOf, computedAt time.Time) error {
	for start := 0; start < len(lines); start += saveChunk {
		if err := saveLines(ctx, conn, lines[start:min(start+saveChunk, len(lines))], asOf, computedAt); err != nil {
			return err
		}
	}
	return nil
}

const saveChunk = 100_000

func saveLines(ctx context.Context, conn driver.Conn, lines []Line, asOf, computedAt time.Time) error {
	err := sink.Insert(ctx, conn, `INSERT INTO commissions (program, partner_id, line, ref, account_id, status, reason,
 currency, base, rate, commission, payable_on, as_of, computed_at, ts)`, len(lines), func(bt driver.Batch, i int) error {
		l := &lines[i]
		payable := l.PayableOn
		if payable.IsZero() {
			payable = time.Unix(0, 0).UTC()
		}
		return bt.Append(l.Program, l.PartnerID, l.Line, l.Ref, l.AccountID, l.Status, l.Reason, l.Currency,
			l.Base, l.Rate, l.Commission, payable, toDateTime(asOf), toDateTime(computedAt), toDateTime(l.TS))
	})
	if err != nil {
		return fmt.Errorf("cannot write %d commission lines: %w", len(lines), err)
	}
	return nil
}

// CurrentLines reads the current state of a program's lines from the commissions table.
func CurrentLines(ctx context.Context, conn driver.Conn, program string) ([]Line, error) {
	rows, err := conn.Query(ctx, Query("commissions_current"), program)
	if err != nil {
		return nil, fmt.Errorf("cannot read commissions: %w", err)
	}
	var out []Line
	for rows.Next() {
		l := Line{Program: program}
		if err := rows.Scan(&l.Line, &l.Ref, &l.PartnerID, &l.AccountID, &l.Status, &l.Reason, &l.Currency, &l.Base,
			&l.Rate, &l.Commission, &l.PayableOn); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read commissions: %w", err)
		}
		l.BaseCount = l.Line == LineTier || l.Line == LineLead
		if l.PayableOn.Unix() <= 0 {
			l.PayableOn = time.Time{}
		} else {
			l.PayableOn = l.PayableOn.UTC()
		}
		out = append(out, l)
	}
	return out, closeRows(rows, "commissions")
}

// Import tables.
var ImportTables = []string{FileAccounts, FilePartners, FileOrders, FileAssociations}

// Import loads a file of the offline contract into its ClickHouse table. The whole file is read
// and checked first: a bad value anywhere refuses it with its file, line and field, and nothing is
// written. It is then sent as one INSERT. Rows carry their natural key (and associations an id made
// from their fields), so importing the same file again replaces rows instead of adding them.
// It returns the number of rows.
func Import(ctx context.Context, conn driver.Conn, table, path string, now time.Time) (int, error) {
	imported := toDateTime(now)
	switch table {
	case FileAccounts:
		rows, err := ReadAccounts(path)
		if err != nil {
			return 0, err
		}
		return len(rows), insert(ctx, conn, "INSERT INTO accounts (account_id, identity_id, registered_at, type, sales_bound, imported_at)",
			len(rows), func(bt driver.Batch, i int) error {
				a := &rows[i]
				return bt.Append(a.ID, a.IdentityID, toDateTime(a.RegisteredAt), a.Type, b8(a.SalesBound), imported)
			})
	case FilePartners:
		rows, err := ReadPartners(path)
		if err != nil {
			return 0, err
		}
		return len(rows), insert(ctx, conn, "INSERT INTO partners (partner_id, identity_id, level, excluded, month, imported_at)",
			len(rows), func(bt driver.Batch, i int) error {
				p := &rows[i]
				return bt.Append(p.ID, p.IdentityID, uint8(p.Level), b8(p.Excluded), p.Month, imported)
			})
	case FileOrders:
		rows, err := ReadOrders(path)
		if err != nil {
			return 0, err
		}
		return len(rows), insert(ctx, conn, `INSERT INTO orders (order_id, account_id, ts, ts_ms, product, category, billing, kind,
 currency, amount, voucher, refund, refunded_at, imported_at)`, len(rows), func(bt driver.Batch, i int) error {
			o := &rows[i]
			return bt.Append(o.ID, o.AccountID, toDateTime(o.TS), millis(o.TS), o.Product, o.Category, o.Billing, o.Kind,
				o.Currency, o.Amount, o.Voucher, o.Refund, toDateTime(o.RefundedAt), imported)
		})
	case FileAssociations:
		rows, err := ReadAssociations(path)
		if err != nil {
			return 0, err
		}
		return len(rows), insert(ctx, conn, `INSERT INTO associations (association_id, ts, ts_ms, program, account_id, partner_id,
 click_id, link, kind, claimed_at, claim_expires_at, source, network_click_id)`, len(rows), func(bt driver.Batch, i int) error {
			a := &rows[i]
			return bt.Append(AssociationID(a), toDateTime(a.TS), millis(a.TS), a.Program, a.AccountID, a.PartnerID, a.ClickID, "",
				a.Kind, toDateTime(a.ClaimedAt), toDateTime(time.Time{}), "import", a.NetworkClickID)
		})
	}
	return 0, fmt.Errorf("cannot import %q: want one of %s", table, strings.Join(ImportTables, ", "))
}

// AssociationID names an imported association by its fields, so that the same row imported twice
// is one association.
func AssociationID(a *Association) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d", a.Program, a.AccountID, a.PartnerID, a.ClickID, a.Kind,
		a.TS.UnixNano(), a.ClaimedAt.Unix())
	return "imp-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// insert sends an import's rows in one INSERT.
func insert(ctx context.Context, conn driver.Conn, query string, n int, row func(driver.Batch, int) error) error {
	if err := sink.Insert(ctx, conn, query, n, row); err != nil {
		return fmt.Errorf("cannot import %d rows: %w", n, err)
	}
	return nil
}
