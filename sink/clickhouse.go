package sink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim"
)

// DefaultDatabase is used when a DSN names none.
const DefaultDatabase = "firstclaim"

// ParseDSN reads a ClickHouse address, clickhouse://[user[:password]@]host:port/database[?options],
// for the native protocol (the options are clickhouse-go's: dial_timeout, compress, secure, …).
// Without a database it is DefaultDatabase; without a port, 9000. Blocks are LZ4-compressed unless
// the host is a loopback address or the options say otherwise (compress=lz4, compress=false).
func ParseDSN(dsn string) (*clickhouse.Options, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "clickhouse" || u.Host == "" {
		return nil, fmt.Errorf("ClickHouse address %q: want clickhouse://host:port/database", redact(dsn))
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/" + DefaultDatabase
	}
	if u.Port() == "" {
		u.Host += ":9000"
	}
	q := u.Query()
	if q.Get("dial_timeout") == "" {
		q.Set("dial_timeout", "5s")
	}
	if q.Get("compress") == "" && !loopback(u.Hostname()) {
		q.Set("compress", "lz4")
	}
	u.RawQuery = q.Encode()
	opts, err := clickhouse.ParseDSN(u.String())
	if err != nil {
		return nil, fmt.Errorf("ClickHouse address %q: %w", redact(dsn), err)
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 4
	}
	return opts, nil
}

// loopback reports whether host is this machine. Data sent to a ClickHouse on the same machine is
// not compressed unless the address asks for it: compressing costs CPU on both sides (about a
// quarter of a microsecond a click here, and ClickHouse's work to undo it) and saves no network.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// redact hides a password in a DSN, for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if i := strings.LastIndexByte(dsn, '@'); i >= 0 {
			return "…@" + dsn[i+1:]
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Redact returns dsn with its password hidden.
func Redact(dsn string) string { return redact(dsn) }

// Connect opens a connection pool to the database a DSN names. It does not wait for the server:
// the first use does.
func Connect(dsn string) (driver.Conn, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", redact(dsn), err)
	}
	return conn, nil
}

// ClickHouse writes batches to the event tables over the native protocol, one INSERT per table
// with its columns named (ClickHouse 18.16 needs the list). Every attempt builds its batch afresh
// from the sink's records: a batch whose Send failed is never sent again.
type ClickHouse struct {
	conn driver.Conn

	mu    sync.Mutex
	spare []column.Interface // the last clicks INSERT's columns, for the next one's storage
}

// NewClickHouse returns a Writer over conn; the caller closes conn.
func NewClickHouse(conn driver.Conn) *ClickHouse { return &ClickHouse{conn: conn} }

// KeyOrdered implements KeyOrdered: the clicks table is sorted by partner, link, time and id, and
// ClickHouse skips sorting an INSERT's rows that come in that order.
func (w *ClickHouse) KeyOrdered() bool { return true }

const (
	insertClicks = `INSERT INTO clicks (click_id, ts, ts_ms, link, partner_id, program, campaign, outcome,
 claim_partner_id, claim_click_id, claim_expires_at, tampered, ip, user_agent, referer, referer_host, visitor,
 bot, not_navigation, rate_limited, duplicate, gpc, network_param, network_click_id,
 country, region, city, device_type, os, os_version, browser, browser_version, replayed)`
	insertAssociations = `INSERT INTO associations (association_id, ts, ts_ms, program, account_id, partner_id,
 click_id, link, kind, claimed_at, claim_expires_at, source, network_click_id)`
	insertImpressions = `INSERT INTO impressions (impression_id, ts, ts_ms, link, partner_id, program, campaign,
 ip, user_agent, referer, visitor, bot, known_link)`
)

// Write stores b: clicks, then associations, then impressions. An error leaves part of b stored;
// the sink sends all of it again, and the tables fold the repeats (see sql/migrations).
func (w *ClickHouse) Write(ctx context.Context, b *Batch) error {
	st := w.Begin(ctx, b.Retry)
	err := st.Add(b)
	if err == nil {
		err = st.Commit()
	}
	if err != nil {
		st.Abort()
	}
	return err
}

// Begin implements StreamWriter. The clicks of a batch are one INSERT, whose data goes to the
// server a block at a time as slices arrive (so encoding and compressing is never one long
// stretch); ClickHouse makes one part of them when the INSERT ends, on Commit. Associations and
// impressions, few next to clicks, are kept and inserted on Commit.
func (w *ClickHouse) Begin(ctx context.Context, retry bool) Stream {
	return &chStream{w: w, ctx: ctx, retry: retry}
}

// blockRows is how many clicks the driver gathers before it sends a block of the INSERT: four
// slices of the sink's worker (sliceRecords). ClickHouse 18.16 parses every column's type anew for
// each block it receives (a seventh of its CPU for an INSERT of 256-row blocks, in a profile) and
// copies the blocks of an INSERT into one; at a fixed 40,000 clicks a second it used 0.16 s of CPU
// per 100,000 clicks with blocks of 256 rows and 0.12 with 2,048 (medians of five runs, its data
// in memory). The columns keep their storage from one INSERT to the next (reuse), so a larger
// block costs no garbage. A smaller block keeps each write to the socket shorter while handlers
// wait for the core; 1,024 rows take a few tenths of a millisecond to encode and write.
const blockRows = 4 * sliceRecords

type chStream struct {
	w            *ClickHouse
	ctx          context.Context
	retry        bool
	bt           driver.Batch       // the clicks' INSERT, once there is a click
	cols         []column.Interface // bt's columns
	row          clickRow           // the click being appended
	done         func()             // ends bt's insertContext
	clicks, rows int                // clicks added; rows in the block not yet sent
	associations []firstclaim.Association
	impressions  []firstclaim.Impression
}

func (s *chStream) Add(b *Batch) error {
	if len(b.Clicks) > 0 {
		if s.bt == nil {
			ictx, done := insertContext(s.ctx)
			bt, err := s.w.conn.PrepareBatch(ictx, insertClicks)
			if err != nil {
				done()
				return fmt.Errorf("cannot insert clicks: %w", classify(err))
			}
			s.bt, s.cols, s.done = bt, bt.Columns(), done
			s.w.reuse(s.cols)
		}
		if err := s.appendClicks(b.Clicks); err != nil {
			return err
		}
		s.clicks += len(b.Clicks)
		if s.rows += len(b.Clicks); s.rows >= blockRows {
			if err := s.bt.Flush(); err != nil {
				return fmt.Errorf("cannot insert clicks: %w", classify(err))
			}
			s.rows = 0
		}
	}
	s.associations = append(s.associations, b.Associations...)
	s.impressions = append(s.impressions, b.Impressions...)
	return nil
}

func (s *chStream) Commit() error {
	if s.bt != nil {
		err := s.bt.Send()
		s.bt = nil
		s.done()
		s.w.keep(s.cols)
		if err != nil {
			return fmt.Errorf("cannot insert %d clicks: %w", s.clicks, classify(err))
		}
	}
	if len(s.associations) > 0 {
		if err := Insert(s.ctx, s.w.conn, insertAssociations, len(s.associations), func(bt driver.Batch, i int) error {
			a := &s.associations[i]
			return bt.Append(a.ID, DateTime(a.TS), Millis(a.TS), a.Program, a.AccountID, a.PartnerID, a.ClickID, a.Link,
				a.Kind, DateTime(a.ClaimedAt), DateTime(a.ClaimExpiresAt), a.Source, a.NetworkClickID)
		}); err != nil {
			return fmt.Errorf("cannot insert %d associations: %w", len(s.associations), err)
		}
	}
	if len(s.impressions) > 0 {
		if err := Insert(s.ctx, s.w.conn, insertImpressions, len(s.impressions), func(bt driver.Batch, i int) error {
			m := &s.impressions[i]
			return bt.Append(m.ID, DateTime(m.TS), Millis(m.TS), m.Link, m.PartnerID, m.Program, m.Campaign, m.StoredIP,
				m.UserAgent, m.Referer, m.Visitor, u8(m.Bot), u8(m.Known))
		}); err != nil {
			return fmt.Errorf("cannot insert %d impressions: %w", len(s.impressions), err)
		}
	}
	return nil
}

func (s *chStream) Abort() {
	if s.bt != nil {
		_ = s.bt.Abort()
		s.bt = nil
		s.done()
		s.w.keep(s.cols)
	}
}

// keep holds an ended INSERT's columns for the next one: the driver is done with them once Send or
// Abort has returned.
func (w *ClickHouse) keep(cols []column.Interface) {
	w.mu.Lock()
	w.spare = cols
	w.mu.Unlock()
}

// reuse gives a new INSERT's empty columns the storage of the previous INSERT's, emptied. The driver
// makes new columns for every INSERT, which then grow to a block's size: garbage on every INSERT
// (BenchmarkClickHouse/driver, 10,000 clicks an INSERT: 25 MB allocated per INSERT before, 1.3 MB
// with reuse). A column of another type or name (a table changed between INSERTs) keeps its own.
func (w *ClickHouse) reuse(cols []column.Interface) {
	w.mu.Lock()
	prev := w.spare
	w.spare = nil
	w.mu.Unlock()
	if len(prev) != len(cols) {
		return
	}
	for i, c := range cols {
		switch c := c.(type) {
		case *column.String:
			takeColumn(c, prev[i])
		case *column.DateTime:
			takeColumn(c, prev[i])
		case *column.UInt8:
			takeColumn(c, prev[i])
		case *column.UInt16:
			takeColumn(c, prev[i])
		case *column.UInt64:
			takeColumn(c, prev[i])
		}
	}
}

// takeColumn moves prev's storage, emptied, into the empty column dst when both are the same
// column. prev must not be used afterwards.
func takeColumn[T any, P interface {
	*T
	column.Interface
}](dst P, prev column.Interface) {
	p, ok := prev.(P)
	if !ok || dst.Rows() != 0 || p.Name() != dst.Name() || p.Type() != dst.Type() {
		return
	}
	p.Reset()
	*dst = *p
}

// clickRow holds one click's fixed-width values, converted for their columns. The driver is handed
// a pointer to each and copies the value at once, so one row, reused, is all the room needed.
type clickRow struct {
	ts, exp time.Time
	ms      uint16
	vis     uint64
	flags   [7]uint8 // tampered, bot, not_navigation, rate_limited, duplicate, gpc, replayed
}

// clickColumns is the number of columns of insertClicks.
const clickColumns = 33

// outcomeText holds every outcome's name, so a row can point at its own.
var outcomeText = func() []string {
	t := []string{firstclaim.OutcomeNone.String()}
	for _, o := range firstclaim.Outcomes() {
		t = append(t, o.String())
	}
	return t
}()

// appendClicks adds clicks to the INSERT's columns row by row, every value as a pointer: to the
// click's own field for strings, into s.row for the rest. The driver's slice appends allocate a
// nulls array on every call (for 33 columns, most of the sink's garbage), and boxing a value would
// allocate too.
func (s *chStream) appendClicks(clicks []firstclaim.Click) error {
	if len(s.cols) != clickColumns {
		return Permanent(fmt.Errorf("cannot insert clicks: the INSERT has %d columns, want %d", len(s.cols), clickColumns))
	}
	r := &s.row
	for i := range clicks {
		k := &clicks[i]
		r.ts, r.exp, r.ms, r.vis = DateTime(k.TS), DateTime(k.ClaimExpiresAt), Millis(k.TS), k.Visitor
		for j, v := range [...]bool{k.Tampered, k.Bot, k.NotNavigation, k.RateLimited, k.Duplicate, k.GPC, s.retry} {
			r.flags[j] = u8(v)
		}
		outcome := &outcomeText[0]
		if int(k.Outcome) < len(outcomeText) {
			outcome = &outcomeText[k.Outcome]
		}
		// In insertClicks's order.
		for col, v := range [clickColumns]any{
			&k.ID, &r.ts, &r.ms, &k.Link, &k.PartnerID, &k.Program, &k.Campaign, outcome,
			&k.ClaimPartnerID, &k.ClaimClickID, &r.exp, &r.flags[0], &k.StoredIP, &k.UserAgent, &k.Referer,
			&k.RefererHost, &r.vis, &r.flags[1], &r.flags[2], &r.flags[3], &r.flags[4], &r.flags[5],
			&k.NetworkParam, &k.NetworkClickID, &k.Country, &k.Region, &k.City, &k.DeviceType, &k.OS,
			&k.OSVersion, &k.Browser, &k.BrowserVersion, &r.flags[6],
		} {
			if err := s.cols[col].AppendRow(v); err != nil {
				return Permanent(fmt.Errorf("cannot insert clicks: column %d: %w", col, err))
			}
		}
	}
	return nil
}

// insertContext is ctx for one INSERT, done is called once the INSERT has ended. It works around
// a race in the driver (clickhouse-go PR #2032): a batch's Send watches its context from a
// goroutine that closes the connection when the context ends, and ending the watch does not wait
// for that goroutine, so a context cancelled just after Send returns (the usual deferred cancel)
// can close a connection that is already back in the pool, and the next query on it fails with
// "use of closed network connection". The context returned ends with ctx while the INSERT is under
// way, has ctx's deadline (which the driver also sets on the connection), and after done nothing
// ends it, so a late watchdog has nothing to act on.
func insertContext(ctx context.Context) (ictx context.Context, done func()) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	d, ok := ctx.Deadline()
	return deadlineContext{c, d, ok}, func() { stop() }
}

// deadlineContext reports a deadline it does not enforce itself (insertContext enforces it
// through its parent).
type deadlineContext struct {
	context.Context
	deadline time.Time
	ok       bool
}

func (c deadlineContext) Deadline() (time.Time, bool) { return c.deadline, c.ok }

// Insert sends n rows in one INSERT: query names its columns (18.16 needs the list), row appends row
// i. A row the driver refuses aborts the batch, releasing the pooled connection it holds, and is
// marked Permanent (it will not convert on a retry either); server errors are classified. Nothing is
// sent for n = 0.
func Insert(ctx context.Context, conn driver.Conn, query string, n int, row func(driver.Batch, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, done := insertContext(ctx)
	defer done()
	bt, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return classify(err)
	}
	for i := 0; i < n; i++ {
		if err := row(bt, i); err != nil {
			_ = bt.Abort()
			return Permanent(fmt.Errorf("row %d: %w", i+1, err))
		}
	}
	if err := bt.Send(); err != nil {
		_ = bt.Abort()
		return classify(err)
	}
	return nil
}

// classify marks the errors a retry cannot fix: the server understood the request and refused it
// (no such table or column, a type mismatch, bad credentials). Network errors, timeouts, and
// overload (too many parts, memory limits) stay retryable.
func classify(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 16, // NO_SUCH_COLUMN_IN_TABLE
			47,  // UNKNOWN_IDENTIFIER
			53,  // TYPE_MISMATCH
			60,  // UNKNOWN_TABLE
			62,  // SYNTAX_ERROR
			81,  // UNKNOWN_DATABASE
			192, // UNKNOWN_USER
			193, // WRONG_PASSWORD
			497, // ACCESS_DENIED
			516: // AUTHENTICATION_FAILED
			return Permanent(err)
		}
	}
	return err
}

// DateTime converts t for a DateTime column: seconds in UTC, the zero time as the epoch.
func DateTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

// Millis is the millisecond part of t, for the *_ms column beside a DateTime.
func Millis(t time.Time) uint16 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint16(t.Nanosecond() / 1e6)
}

func u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// CountDistinctClicks returns the click ids in the clicks table, each counted once (the
// clicks_count query).
func CountDistinctClicks(ctx context.Context, conn driver.Conn) (uint64, error) {
	var ids, rows uint64
	if err := conn.QueryRow(ctx, Query("clicks_count")).Scan(&ids, &rows); err != nil {
		return 0, fmt.Errorf("cannot count clicks: %w", err)
	}
	return ids, nil
}

var _ Writer = (*ClickHouse)(nil)

// DatabaseOf returns the database a DSN names (DefaultDatabase when none).
func DatabaseOf(dsn string) (string, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	return opts.Auth.Database, nil
}

// quoteIdent quotes a database or table name for SQL.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}
