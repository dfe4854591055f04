package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// Tables: the event tables the sink writes, with their columns declared once in the firstclaim
// package (firstclaim.ClickColumns and the like).
const (
	TableClicks       = "clicks"
	TableAssociations = "associations"
	TableImpressions  = "impressions"
	TableUnknownCodes = "unknown_codes"
)

// ClicksOrderBy is the clicks table's sorting key (its ORDER BY, sql/migrations/001_events.sql and
// 009_rollups.sql).
// The sink hands a batch's clicks over in this order, which spares ClickHouse sorting each part it
// writes; a test fails if the migrated table's key, this declaration and the order the sink can
// produce (firstclaim.ClickOrder) disagree.
func ClicksOrderBy() []string { return []string{"partner_id", "link", "ts", "click_id", "rewritten"} }

// EventTables are the tables prune may shorten: the events. Orders and commission lines are
// financial records and are never pruned.
func EventTables() []string {
	return []string{TableClicks, TableImpressions, TableAssociations, TableUnknownCodes}
}

// insertInto is the INSERT for a table's declared columns (ClickHouse 18.16 needs the list).
func insertInto[R any](table string, cols []firstclaim.Column[R]) string {
	return "INSERT INTO " + table + " (" + strings.Join(firstclaim.ColumnNames(cols), ", ") + ")"
}

var (
	insertClicks       = insertInto(TableClicks, firstclaim.ClickColumns())
	insertAssociations = insertInto(TableAssociations, firstclaim.AssociationColumns())
	insertImpressions  = insertInto(TableImpressions, firstclaim.ImpressionColumns())
	insertUnknownCodes = insertInto(TableUnknownCodes, firstclaim.UnknownCodeColumns())
)

// Events writes the sink's batches to the event tables over the native protocol, one INSERT per
// table. Every attempt builds its INSERT afresh from the sink's records: a batch whose Send failed
// is never sent again. It is the sink.StreamWriter of a server with ClickHouse.
type Events struct {
	db  *DB
	now func() time.Time // the clock (tests set another)

	mu        sync.Mutex
	spare     []column.Interface // the last clicks INSERT's columns, for the next one's storage
	offset    time.Duration      // ClickHouse's clock minus ours, as last measured
	offsetAt  time.Time          // when it was measured
	offsetErr bool               // the last measurement failed
	fixed     bool               // the clock was set: no offset
}

// SetClock makes the writer take the time from now, not from its clock and ClickHouse's: for tests
// and tools that store events as if they were written when they happened. Call it before use.
func (w *Events) SetClock(now func() time.Time) {
	w.now, w.fixed = now, true
}

// Events returns the writer of the event tables.
func (db *DB) Events() *Events { return &Events{db: db, now: time.Now} }

// lateBefore is the time before which an event written now is late (rollup.go: LateAfter), on
// ClickHouse's clock, which the rollups go by: our clock and the edge's may be off; then events
// look late and are counted from the raw tables, which is slower but never wrong. The offset is
// measured every ten minutes.
func (w *Events) lateBefore(ctx context.Context) time.Time {
	now := w.now()
	if w.fixed {
		return now.Add(-LateAfter)
	}
	w.mu.Lock()
	stale := w.offsetAt.IsZero() || now.Sub(w.offsetAt) > 10*time.Minute || now.Before(w.offsetAt)
	off := w.offset
	w.mu.Unlock()
	if stale {
		var server time.Time
		err := w.db.conn.QueryRow(ctx, "SELECT now()").Scan(&server)
		w.mu.Lock()
		w.offsetAt, w.offsetErr = now, err != nil
		if err == nil {
			// now() has whole seconds: round our clock down alike.
			w.offset = server.Sub(now.Truncate(time.Second))
			off = w.offset
		}
		w.mu.Unlock()
	}
	return now.Add(off - LateAfter)
}

// replayKey is an hour that holds rows of a source written late or replayed (the replays table).
type replayKey struct {
	source string
	hour   time.Time
}

// ClickOrder implements sink.KeyOrdered: the clicks table's sorting key.
func (w *Events) ClickOrder() []string { return ClicksOrderBy() }

// Write stores b: clicks, then associations, then impressions. An error leaves part of b stored;
// the sink sends all of it again, and the tables fold the repeats (see sql/migrations).
func (w *Events) Write(ctx context.Context, b *sink.Batch) error {
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

// Begin implements sink.StreamWriter. The clicks of a batch are one INSERT, whose data goes to the
// server a block at a time as slices arrive (so encoding and compressing is never one long
// stretch); ClickHouse makes one part of them when the INSERT ends, on Commit. Associations and
// impressions, few next to clicks, are kept and inserted on Commit.
func (w *Events) Begin(ctx context.Context, retry bool) sink.Stream {
	return &eventStream{w: w, ctx: ctx, retry: retry}
}

// blockRows is how many clicks the driver gathers before it sends a block of the INSERT: four
// slices of the sink's worker. ClickHouse 18.16 parses every column's type anew for each block it
// receives (a seventh of its CPU for an INSERT of 256-row blocks, in a profile) and copies the
// blocks of an INSERT into one; at a fixed 40,000 clicks a second it used 0.16 s of CPU per 100,000
// clicks with blocks of 256 rows and 0.12 with 2,048 (medians of five runs, its data in memory). The
// columns keep their storage from one INSERT to the next (reuse), so a larger block costs no
// garbage. A smaller block keeps each write to the socket shorter while handlers wait for the core;
// 1,024 rows take a few tenths of a millisecond to encode and write.
const blockRows = 1024

type eventStream struct {
	w            *Events
	ctx          context.Context
	retry        bool
	bt           driver.Batch       // the clicks' INSERT, once there is a click
	cols         []column.Interface // bt's columns
	row          firstclaim.ClickRow
	vals         []any  // where each column's value is in row (firstclaim.Column.Value)
	done         func() // ends bt's insertContext
	clicks, rows int    // clicks added; rows in the block not yet sent
	associations []firstclaim.Association
	impressions  []firstclaim.Impression
	unknownCodes []firstclaim.UnknownCode
	late         time.Time // events before it are written late (lateBefore)
	replays      map[replayKey]uint64
}

// replayed notes a row of source at ts that is replayed or late, and says whether it is.
func (s *eventStream) replayed(source string, ts time.Time) bool {
	if !s.retry && !ts.Before(s.late) {
		return false
	}
	if s.replays == nil {
		s.replays = map[replayKey]uint64{}
	}
	s.replays[replayKey{source, ts.UTC().Truncate(time.Hour)}]++
	return true
}

func (s *eventStream) Add(b *sink.Batch) error {
	s.late = s.w.lateBefore(s.ctx)
	if len(b.Clicks) > 0 {
		if s.bt == nil {
			ictx, done := insertContext(s.ctx)
			bt, err := s.w.db.conn.PrepareBatch(ictx, insertClicks)
			if err != nil {
				done()
				return fmt.Errorf("cannot insert clicks: %w", classify(err))
			}
			s.bt, s.cols, s.done = bt, bt.Columns(), done
			s.w.reuse(s.cols)
			if s.vals, err = values(s.cols, firstclaim.ClickColumns(), &s.row); err != nil {
				return fmt.Errorf("cannot insert clicks: %w", err)
			}
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
	for i := range b.Associations {
		s.replayed(TableAssociations, b.Associations[i].TS)
	}
	s.associations = append(s.associations, b.Associations...)
	s.impressions = append(s.impressions, b.Impressions...)
	s.unknownCodes = append(s.unknownCodes, b.UnknownCodes...) // decoded as copies, like associations
	return nil
}

// appendClicks adds clicks to the INSERT's columns row by row. Each click becomes the stream's one
// row (firstclaim.ClickRow.Set), and every column takes its value through a pointer into that row,
// found once per INSERT: the driver's slice appends allocate a nulls array on every call (for 33
// columns, most of the sink's garbage), and boxing a value would allocate too.
func (s *eventStream) appendClicks(clicks []firstclaim.Click) error {
	for i := range clicks {
		s.row.Set(&clicks[i], s.replayed(TableClicks, clicks[i].TS))
		for c, col := range s.cols {
			if err := col.AppendRow(s.vals[c]); err != nil {
				return sink.Permanent(fmt.Errorf("cannot insert clicks: column %s: %w", col.Name(), err))
			}
		}
	}
	return nil
}

// values returns, for each of an INSERT's columns, the pointer into row where its value is. The
// columns must be the declared ones, in the declared order (the INSERT names them so); anything
// else means the table and this build disagree, which a retry cannot fix.
func values[R any](cols []column.Interface, decl []firstclaim.Column[R], row *R) ([]any, error) {
	if len(cols) != len(decl) {
		return nil, sink.Permanent(fmt.Errorf("the INSERT has %d columns, this build declares %d", len(cols), len(decl)))
	}
	vals := make([]any, len(decl))
	for i, d := range decl {
		if cols[i].Name() != d.Name {
			return nil, sink.Permanent(fmt.Errorf("column %d is %q, this build declares %q", i+1, cols[i].Name(), d.Name))
		}
		vals[i] = d.Value(row)
	}
	return vals, nil
}

func (s *eventStream) Commit() error {
	// Impressions are marked here (they are kept until now); then the hours of what is written late
	// or again are recorded before any of it is stored, so that no report misses it.
	marks := make([]bool, len(s.impressions))
	for i := range s.impressions {
		marks[i] = s.replayed(TableImpressions, s.impressions[i].TS)
	}
	if len(s.replays) > 0 {
		keys := slices.SortedFunc(maps.Keys(s.replays), func(a, b replayKey) int {
			return cmp.Or(strings.Compare(a.source, b.source), a.hour.Compare(b.hour))
		})
		if err := s.w.db.insert(s.ctx, "INSERT INTO replays (period, source, rows)", len(keys), func(bt driver.Batch, i int) error {
			return bt.Append(keys[i].hour, keys[i].source, s.replays[keys[i]])
		}); err != nil {
			s.Abort()
			return fmt.Errorf("cannot record the hours of rows written late or again: %w", err)
		}
	}
	if s.bt != nil {
		err := s.bt.Send()
		s.bt = nil
		s.done()
		s.w.keep(s.cols)
		if err != nil {
			return fmt.Errorf("cannot insert %d clicks: %w", s.clicks, classify(err))
		}
	}
	if err := insertRows(s.ctx, s.w.db, insertAssociations, firstclaim.AssociationColumns(), s.associations,
		func(r *firstclaim.AssociationRow, a *firstclaim.Association) { r.Set(a) }); err != nil {
		return fmt.Errorf("cannot insert %d associations: %w", len(s.associations), err)
	}
	i := 0
	if err := insertRows(s.ctx, s.w.db, insertImpressions, firstclaim.ImpressionColumns(), s.impressions,
		func(r *firstclaim.ImpressionRow, m *firstclaim.Impression) { r.Set(m, marks[i]); i++ }); err != nil {
		return fmt.Errorf("cannot insert %d impressions: %w", len(s.impressions), err)
	}
	if err := insertRows(s.ctx, s.w.db, insertUnknownCodes, firstclaim.UnknownCodeColumns(), s.unknownCodes,
		func(r *firstclaim.UnknownCodeRow, u *firstclaim.UnknownCode) { r.Set(u) }); err != nil {
		return fmt.Errorf("cannot insert %d unknown codes: %w", len(s.unknownCodes), err)
	}
	return nil
}

func (s *eventStream) Abort() {
	if s.bt != nil {
		_ = s.bt.Abort()
		s.bt = nil
		s.done()
		s.w.keep(s.cols)
	}
}

// insertRows sends items as one INSERT of a table's declared columns; set makes an item the row.
func insertRows[R, T any](ctx context.Context, db *DB, query string, decl []firstclaim.Column[R], items []T, set func(*R, *T)) error {
	var row R
	var vals []any
	return db.insert(ctx, query, len(items), func(bt driver.Batch, i int) error {
		cols := bt.Columns()
		if vals == nil {
			var err error
			if vals, err = values(cols, decl, &row); err != nil {
				return err
			}
		}
		set(&row, &items[i])
		for c, col := range cols {
			if err := col.AppendRow(vals[c]); err != nil {
				return fmt.Errorf("column %s: %w", col.Name(), err)
			}
		}
		return nil
	})
}

// keep holds an ended INSERT's columns for the next one: the driver is done with them once Send or
// Abort has returned.
func (w *Events) keep(cols []column.Interface) {
	w.mu.Lock()
	w.spare = cols
	w.mu.Unlock()
}

// reuse gives a new INSERT's empty columns the storage of the previous INSERT's, emptied. The driver
// makes new columns for every INSERT, which then grow to a block's size: garbage on every INSERT
// (BenchmarkEvents/driver, 10,000 clicks an INSERT: 25 MB allocated per INSERT before, 1.3 MB with
// reuse). A column of another type or name (a table changed between INSERTs) keeps its own.
func (w *Events) reuse(cols []column.Interface) {
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

// CountDistinctClicks returns the click ids in the clicks table, each counted once (the
// events/clicks_count query), and the rows that hold them.
func (db *DB) CountDistinctClicks(ctx context.Context) (ids, rows uint64, err error) {
	if err := db.conn.QueryRow(ctx, Query("events/clicks_count")).Scan(&ids, &rows); err != nil {
		return 0, 0, fmt.Errorf("cannot count clicks: %w", err)
	}
	return ids, rows, nil
}

var _ sink.StreamWriter = (*Events)(nil)
