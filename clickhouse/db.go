package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// DB is a connection pool to one firstclaim database (on one server, or any of several hosts) and
// every store the product keeps there: the event writer the sink calls, the attribution job's
// loader and line store, the reports' and postbacks' queries. Safe for concurrent use.
type DB struct {
	conn  driver.Conn
	dsn   string
	name  string        // the database
	limit time.Duration // a report query's time limit (SetQueryTimeout); 0: none
	raw   bool          // reports read the raw tables only (ReadRollups)
	// readers bounds the report queries under way, and the roller's round (RunRoller), to one
	// less than the pool's connections, so that the sink's INSERTs always find one.
	readers chan struct{}
	log     *slog.Logger // report tracing at debug level; nil: none
	// The reads a report's queries share (shared.go).
	runs    sharedReads[rolledUp]
	replays sharedReads[map[string][]time.Time]

	layoutMu sync.Mutex // guards the two below: where the rows are (one server or a cluster), read once
	laidOut  bool
	lay      layout
}

// reader waits for one of the readers' places, as long as ctx allows, and returns what gives it back.
func (db *DB) reader(ctx context.Context) (release func(), err error) {
	select {
	case db.readers <- struct{}{}:
		return func() { <-db.readers }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetLogger makes the adapter log what each report read, at debug level. Call it before the DB is
// shared.
func (db *DB) SetLogger(log *slog.Logger) { db.log = log }

// ReadRollups says whether reports read rollups where they can (the default) or the raw tables
// only (slower, and what rollups are checked against). Call it before the DB is shared.
func (db *DB) ReadRollups(on bool) { db.raw = !on }

// Open returns a pool for the database a DSN names. It does not wait for the server: the first
// use does.
func Open(dsn string) (*DB, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", Redact(dsn), err)
	}
	return &DB{conn: conn, dsn: dsn, name: opts.Auth.Database, readers: make(chan struct{}, max(1, opts.MaxOpenConns-1))}, nil
}

// SetQueryTimeout bounds each report query: ClickHouse stops it after d (max_execution_time) and
// the client stops waiting soon after, so one wide report cannot hold the server. 0: no bound.
// Call it before the DB is shared.
func (db *DB) SetQueryTimeout(d time.Duration) { db.limit = d }

// readContext is ctx for one report query, with its time limit: a deadline, which the driver also
// sends ClickHouse as max_execution_time (the deadline's seconds and five more), so the server
// stops the query too.
func (db *DB) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if db.limit <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.limit)
}

// Close closes the pool.
func (db *DB) Close() error { return db.conn.Close() }

// Conn is the driver's connection pool, for tools and tests that run their own statements.
func (db *DB) Conn() driver.Conn { return db.conn }

// Database is the database's name.
func (db *DB) Database() string { return db.name }

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error { return db.conn.Ping(ctx) }

// insert sends n rows in one INSERT: query names its columns (18.16 needs the list), row appends
// row i. A row the driver refuses aborts the batch, releasing the pooled connection it holds, and is
// marked permanent (it will not convert on a retry either); server errors are classified. Nothing is
// sent for n = 0.
func (db *DB) insert(ctx context.Context, query string, n int, row func(driver.Batch, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, done := insertContext(ctx)
	defer done()
	bt, err := db.conn.PrepareBatch(ctx, query)
	if err != nil {
		return classify(err)
	}
	for i := 0; i < n; i++ {
		if err := row(bt, i); err != nil {
			_ = bt.Abort()
			return sink.Permanent(fmt.Errorf("row %d: %w", i+1, err))
		}
	}
	if err := bt.Send(); err != nil {
		_ = bt.Abort()
		return classify(err)
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
			return sink.Permanent(err)
		}
	}
	return err
}

// DateTime converts t for a DateTime column: seconds in UTC, the zero time as the epoch.
func DateTime(t time.Time) time.Time { return firstclaim.StoredTime(t) }

// fromDateTime turns a DateTime column (and its milliseconds) back into an instant; the epoch, which
// stands for "none", becomes the zero time.
func fromDateTime(t time.Time, ms uint16) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return time.Unix(t.Unix(), int64(ms)*int64(time.Millisecond)).UTC()
}

// Millis is the millisecond part of t, for the *_ms column beside a DateTime.
func Millis(t time.Time) uint16 { return firstclaim.StoredMilli(t) }

func u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// closeRows ends a read, with the read's error if it failed part-way.
func closeRows(rows driver.Rows, what string) error {
	err := rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", what, err)
	}
	return nil
}
