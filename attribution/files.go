package attribution

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The offline contract's files (docs/rules.md §9): each NAME.csv (with a header; columns in any order,
// extra columns ignored) or NAME.ndjson / NAME.jsonl (one object a line, same field names).
const (
	FileAccounts     = "accounts"
	FilePartners     = "partners"
	FileAssociations = "associations"
	FileOrders       = "orders"
)

// Tables lists the offline contract's tables, in the order ReadDir reads them.
func Tables() []string { return []string{FileAccounts, FilePartners, FileAssociations, FileOrders} }

var fileExts = []string{".csv", ".ndjson", ".jsonl"}

// ReadDir reads the offline contract's files from the root of fsys (os.DirFS of a folder). A
// missing file is empty; two files for the same table, or a bad value anywhere, refuse the whole
// folder with the file, line and field.
func ReadDir(fsys fs.FS) (*Input, error) {
	in := &Input{}
	for _, table := range Tables() {
		var found []string
		for _, ext := range fileExts {
			if _, err := fs.Stat(fsys, table+ext); err == nil {
				found = append(found, table+ext)
			}
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("two files for %s (%s); keep one", table, strings.Join(found, ", "))
		}
		if len(found) == 0 {
			continue
		}
		f, err := fsys.Open(found[0])
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", found[0], err)
		}
		err = ReadTable(in, table, found[0], f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return in, nil
}

// ReadTable reads one file of the offline contract into in: the rows of table (accounts, partners,
// associations or orders) from r, a CSV stream when name ends in .csv and NDJSON otherwise. name
// is what errors call the file.
func ReadTable(in *Input, table, name string, r io.Reader) error {
	var err error
	switch table {
	case FileAccounts:
		in.Accounts, err = readTable(name, r, parseAccount, func(a *Account) (string, string) { return "account_id", a.ID })
	case FilePartners:
		in.Partners, err = readTable(name, r, parsePartner, func(p *Partner) (string, string) { return "partner_id", p.ID + " " + p.Month })
	case FileAssociations:
		in.Associations, err = readTable(name, r, parseAssociation, nil)
	case FileOrders:
		in.Orders, err = readTable(name, r, parseOrder, func(o *Order) (string, string) { return "order_id", o.ID })
	default:
		err = fmt.Errorf("cannot read %q: want one of %s", table, strings.Join(Tables(), ", "))
	}
	return err
}

// readTable parses every record of a file; key, when not nil, names a field that must not repeat.
func readTable[T any](name string, r io.Reader, parse func(*row) (T, error), key func(*T) (field, value string)) ([]T, error) {
	var out []T
	seen := unique{}
	err := readRows(name, r, func(r *row) error {
		v, err := parse(r)
		if err == nil && key != nil {
			field, k := key(&v)
			err = seen.add(r, field, k)
		}
		out = append(out, v)
		return err
	})
	return out, err
}

// row is one record of a file: its values by field name, and where it came from.
type row struct {
	file string
	line int
	vals map[string]string
}

// FieldError names the file, line and field of a bad value.
type FieldError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func (r *row) fail(field string, err error) error {
	return &FieldError{File: r.file, Line: r.line, Field: field, Err: err}
}

func (r *row) str(field string, required bool) (string, error) {
	v := strings.TrimSpace(r.vals[field])
	if required && v == "" {
		return "", r.fail(field, errors.New("missing"))
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return "", r.fail(field, errors.New("holds a control character"))
	}
	return v, nil
}

func (r *row) time(field string, required bool) (time.Time, error) {
	v, err := r.str(field, required)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, r.fail(field, fmt.Errorf("%q is not an RFC 3339 time (2026-01-02T15:04:05Z)", v))
	}
	return t.UTC(), nil
}

func (r *row) bool(field string) (bool, error) {
	v, err := r.str(field, false)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(v) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, r.fail(field, fmt.Errorf("%q: want true or false", v))
}

func (r *row) oneOf(field string, required bool, allowed ...string) (string, error) {
	v, err := r.str(field, required)
	if err != nil || v == "" {
		return v, err
	}
	if !slices.Contains(allowed, v) {
		return "", r.fail(field, fmt.Errorf("%q: want one of %s", v, strings.Join(allowed, ", ")))
	}
	return v, nil
}

func (r *row) amount(field, currency string, required bool) (int64, error) {
	v, err := r.str(field, required)
	if err != nil || v == "" {
		return 0, err
	}
	a, err := ParseAmount(v, currency)
	if err != nil {
		return 0, r.fail(field, err)
	}
	if a < 0 {
		return 0, r.fail(field, fmt.Errorf("%q is negative", v))
	}
	return a, nil
}

// readRows calls f for every record of a CSV (name ends in .csv) or NDJSON stream.
func readRows(name string, r io.Reader, f func(*row) error) error {
	if strings.HasSuffix(name, ".csv") {
		cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &FieldError{File: name, Line: 1, Err: fmt.Errorf("cannot read the header: %w", err)}
		}
		cols := make([]string, len(header))
		for i, h := range header {
			cols[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		}
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				// FieldPos is only for a record read whole: a parse error carries its own line.
				line := 0
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					line = pe.Line
				}
				return &FieldError{File: name, Line: line, Err: err}
			}
			line, _ := cr.FieldPos(0)
			if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
				continue
			}
			if len(rec) != len(cols) {
				return &FieldError{File: name, Line: line, Err: fmt.Errorf("%d fields, the header has %d", len(rec), len(cols))}
			}
			vals := make(map[string]string, len(cols))
			for i, c := range cols {
				vals[c] = rec[i]
			}
			if err := f(&row{file: name, line: line, vals: vals}); err != nil {
				return err
			}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return &FieldError{File: name, Line: line, Err: fmt.Errorf("not a JSON object: %v", err)}
		}
		vals := make(map[string]string, len(obj))
		for k, v := range obj {
			switch v := v.(type) {
			case nil:
				vals[k] = ""
			case string:
				vals[k] = v
			case bool:
				vals[k] = strconv.FormatBool(v)
			case float64:
				vals[k] = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				return &FieldError{File: name, Line: line, Field: k, Err: errors.New("want a string, number or boolean")}
			}
		}
		if err := f(&row{file: name, line: line, vals: vals}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read %s: %w", name, err)
	}
	return nil
}

// unique refuses a second record with the same key in one file.
type unique map[string]int

func (u unique) add(r *row, field, key string) error {
	if first, ok := u[key]; ok {
		return r.fail(field, fmt.Errorf("%q already appears on line %d", key, first))
	}
	u[key] = r.line
	return nil
}

func parseAccount(r *row) (a Account, err error) {
	if a.ID, err = r.str("account_id", true); err != nil {
		return
	}
	if a.IdentityID, err = r.str("identity_id", false); err != nil {
		return
	}
	if a.RegisteredAt, err = r.time("registered_at", false); err != nil {
		return
	}
	if a.Type, err = r.oneOf("type", false, AccountPersonal, AccountEnterprise, AccountEnterpriseSub, AccountReseller, AccountContract); err != nil {
		return
	}
	if a.Type == "" {
		a.Type = AccountPersonal
	}
	a.SalesBound, err = r.bool("sales_bound")
	return
}

func parsePartner(r *row) (p Partner, err error) {
	if p.ID, err = r.str("partner_id", true); err != nil {
		return
	}
	if p.IdentityID, err = r.str("identity_id", false); err != nil {
		return
	}
	lv, err := r.oneOf("level", false, "0", "1", "2", "3", "4")
	if err != nil {
		return
	}
	p.Level, _ = strconv.Atoi(cmpOr(lv, "0"))
	if p.Excluded, err = r.bool("excluded"); err != nil {
		return
	}
	if p.Month, err = r.str("month", false); err != nil {
		return
	}
	if p.Month != "" {
		if _, perr := time.Parse("2006-01", p.Month); perr != nil {
			err = r.fail("month", fmt.Errorf("%q: want YYYY-MM", p.Month))
		}
	}
	return
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func parseAssociation(r *row) (a Association, err error) {
	if a.TS, err = r.time("ts", true); err != nil {
		return
	}
	if a.Program, err = r.str("program", true); err != nil {
		return
	}
	if a.AccountID, err = r.str("account_id", true); err != nil {
		return
	}
	if a.PartnerID, err = r.str("partner_id", true); err != nil {
		return
	}
	if a.ClickID, err = r.str("click_id", false); err != nil {
		return
	}
	if a.Kind, err = r.oneOf("kind", true, "register", "login"); err != nil {
		return
	}
	if a.ClaimedAt, err = r.time("claimed_at", true); err != nil {
		return
	}
	if a.NetworkClickID, err = r.str("network_click_id", false); err != nil {
		return
	}
	if a.ClaimedAt.After(a.TS) {
		err = r.fail("claimed_at", fmt.Errorf("%s is after the association (%s)", a.ClaimedAt.Format(time.RFC3339), a.TS.Format(time.RFC3339)))
	}
	return
}

func parseOrder(r *row) (o Order, err error) {
	if o.ID, err = r.str("order_id", true); err != nil {
		return
	}
	if o.AccountID, err = r.str("account_id", true); err != nil {
		return
	}
	if o.TS, err = r.time("ts", true); err != nil {
		return
	}
	if o.Product, err = r.str("product", true); err != nil {
		return
	}
	if o.Category, err = r.oneOf("category", true, Categories()...); err != nil {
		return
	}
	if o.Billing, err = r.oneOf("billing", true, "prepaid", "payg"); err != nil {
		return
	}
	if o.Kind, err = r.oneOf("kind", true, orderKinds...); err != nil {
		return
	}
	if o.Currency, err = r.str("currency", true); err != nil {
		return
	}
	if !ValidCurrency(o.Currency) {
		err = r.fail("currency", fmt.Errorf("%q is not an ISO 4217 code", o.Currency))
		return
	}
	if o.Amount, err = r.amount("amount", o.Currency, true); err != nil {
		return
	}
	if o.Voucher, err = r.amount("voucher", o.Currency, false); err != nil {
		return
	}
	if o.Refund, err = r.amount("refund", o.Currency, false); err != nil {
		return
	}
	if o.RefundedAt, err = r.time("refunded_at", false); err != nil {
		return
	}
	switch {
	case o.Voucher > o.Amount:
		err = r.fail("voucher", fmt.Errorf("%s is more than the amount %s", FormatAmount(o.Voucher, o.Currency), FormatAmount(o.Amount, o.Currency)))
	case o.Refund > o.Amount-o.Voucher:
		err = r.fail("refund", fmt.Errorf("%s is more than was paid (%s)", FormatAmount(o.Refund, o.Currency), FormatAmount(o.Amount-o.Voucher, o.Currency)))
	case o.Refund > 0 && o.RefundedAt.IsZero():
		err = r.fail("refunded_at", errors.New("missing: the order has a refund"))
	case !o.RefundedAt.IsZero() && o.RefundedAt.Before(o.TS):
		err = r.fail("refunded_at", errors.New("before the order"))
	}
	return
}
