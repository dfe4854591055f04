package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Database string
	Applied  []Migration // this run, in order
	Version  uint32      // the schema's version afterwards
}

// Migrate brings the database that dsn names to the newest schema: it creates the database when
// missing, then runs each migration not yet recorded in schema_migrations, statement by
// statement, and records it. Every statement is written to be safe to run twice (IF NOT EXISTS), so
// a migration cut off half-way is simply run again. Running Migrate on an up-to-date database
// changes nothing.
func Migrate(ctx context.Context, dsn string, log *slog.Logger) (*MigrateResult, error) {
	if log == nil {
		log = slog.Default()
	}
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := opts.Auth.Database
	res := &MigrateResult{Database: db}

	// The database may not exist yet, and a connection cannot name a missing one: create it over a
	// connection to "default" first.
	boot := *opts
	boot.Auth.Database = "default"
	bc, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", Redact(dsn), err)
	}
	err = bc.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(db))
	bc.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot create database %q: %w", db, err)
	}

	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", Redact(dsn), err)
	}
	defer conn.Close()
	for _, st := range Statements(Query("schema/schema_migrations")) {
		if err := conn.Exec(ctx, st); err != nil {
			return nil, fmt.Errorf("cannot create schema_migrations: %w", err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("cannot read schema_migrations: %w", err)
	}
	var done []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read schema_migrations: %w", err)
		}
		done = append(done, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read schema_migrations: %w", err)
	}
	for _, m := range Migrations() {
		if slices.Contains(done, m.Version) {
			res.Version = m.Version
			continue
		}
		for i, st := range Statements(m.SQL) {
			if err := conn.Exec(ctx, st); err != nil && !alreadyDone(err) {
				return res, fmt.Errorf("migration %03d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		// A batch, not INSERT … VALUES through Exec: 18.16 waits for a data block that Exec never sends.
		rec := &DB{conn: conn}
		if err := rec.insert(ctx, "INSERT INTO schema_migrations (version, name, applied_at)", 1, func(bt driver.Batch, _ int) error {
			return bt.Append(m.Version, m.Name, DateTime(time.Now()))
		}); err != nil {
			return res, fmt.Errorf("cannot record migration %03d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("migration applied", "database", db, "version", m.Version, "name", m.Name)
		res.Applied = append(res.Applied, m)
		res.Version = m.Version
	}
	return res, nil
}

// alreadyDone reports an error that means the statement's work is there already: a column added by
// a migration that was cut off before it was recorded (18.16 has no ADD COLUMN IF NOT EXISTS).
func alreadyDone(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 44 // ILLEGAL_COLUMN / duplicate column
}

// SchemaVersion returns the newest migration applied to the database (0 when none), and
// the version this build needs.
func (db *DB) SchemaVersion(ctx context.Context) (have, want uint32, err error) {
	all := Migrations()
	want = all[len(all)-1].Version
	err = db.conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&have)
	if err != nil {
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && (ex.Code == 60 || ex.Code == 81) { // no such table or database: never migrated
			return 0, want, nil
		}
		return 0, want, err
	}
	return have, want, nil
}
