package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Database string
	Cluster  string      // "" on one server
	Applied  []Migration // this run, in order
	Version  uint32      // the schema's version afterwards
}

// Migrate brings the database that dsn names to the newest schema: it creates the database when
// missing, then runs each migration not yet recorded in schema_migrations, statement by
// statement, and records it. Every statement is written to be safe to run twice (IF NOT EXISTS), so
// a migration cut off half-way is simply run again. Running Migrate on an up-to-date database
// changes nothing.
func Migrate(ctx context.Context, dsn string, log *slog.Logger) (*MigrateResult, error) {
	return MigrateCluster(ctx, dsn, "", log)
}

// MigrateCluster is Migrate for a database on the cluster named cluster (one of the servers'
// <remote_servers>): every table is a replicated table, TABLE_local, on each server, created ON
// CLUSTER, under a Distributed table of the product's name; the schema's versions are recorded
// once for the cluster. dsn may name any of the cluster's servers (or several). With cluster "",
// it is Migrate. A database laid out one way is never silently migrated the other way: see
// docs/deploy.md for moving one server's data to a cluster.
func MigrateCluster(ctx context.Context, dsn, cluster string, log *slog.Logger) (*MigrateResult, error) {
	return migrateUpTo(ctx, dsn, cluster, log, ^uint32(0))
}

// migrateUpTo is MigrateCluster with the migrations after version upTo left out (for the tests of
// a migration, which need the schema as it was before it).
func migrateUpTo(ctx context.Context, dsn, cluster string, log *slog.Logger, upTo uint32) (*MigrateResult, error) {
	if log == nil {
		log = slog.Default()
	}
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := opts.Auth.Database
	res := &MigrateResult{Database: db, Cluster: cluster}
	on := ""
	if cluster != "" {
		if !validName.MatchString(cluster) {
			return nil, fmt.Errorf("cluster name %q: want letters, digits and _", cluster)
		}
		if !validName.MatchString(db) {
			return nil, fmt.Errorf("database name %q: on a cluster, want letters, digits and _", db)
		}
		on = " ON CLUSTER " + quoteIdent(cluster)
	}

	// The database may not exist yet, and a connection cannot name a missing one: create it over a
	// connection to "default" first.
	boot := *opts
	boot.Auth.Database = "default"
	bc, err := clickhouse.Open(&boot)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", Redact(dsn), err)
	}
	if cluster != "" {
		if err := checkServers(ctx, &DB{conn: bc}, opts, cluster); err != nil {
			bc.Close()
			return nil, fmt.Errorf("cannot migrate onto cluster %q: %w", cluster, err)
		}
	}
	if err := bc.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(db)+on); err != nil {
		bc.Close()
		return nil, fmt.Errorf("cannot create database %q: %w", db, err)
	}
	err = checkLayout(ctx, &DB{conn: bc}, db, cluster)
	bc.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot migrate database %q: %w", db, err)
	}

	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse %s: %w", Redact(dsn), err)
	}
	defer conn.Close()
	statements := func(text string) ([]string, error) { return Statements(text), nil }
	if cluster != "" {
		statements = func(text string) ([]string, error) {
			var out []string
			for _, st := range Statements(text) {
				cs, err := clusterStatements(st, db, cluster)
				if err != nil {
					return nil, err
				}
				out = append(out, cs...)
			}
			return out, nil
		}
	}
	sts, err := statements(Query("schema/schema_migrations"))
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
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
	store := &DB{conn: conn}
	follow := func() error { // on a cluster: Distributed tables take their local tables' columns
		if cluster == "" {
			return nil
		}
		changed, err := syncDistributed(ctx, store, db, cluster)
		for _, t := range changed {
			log.Info("distributed table follows its local table", "database", db, "table", t)
		}
		return err
	}
	// First, in case a run was cut off between an ALTER and its Distributed table.
	if err := follow(); err != nil {
		return nil, err
	}
	var lease *Lease
	for _, m := range Migrations() {
		if m.Version > upTo {
			break
		}
		if slices.Contains(done, m.Version) {
			res.Version = m.Version
			continue
		}
		sts, err := statements(m.SQL)
		if err != nil {
			return res, fmt.Errorf("migration %03d_%s: %w", m.Version, m.Name, err)
		}
		if step := migrationSteps[m.Version]; step != nil {
			if lease == nil {
				// One migrate at a time makes tables again (a second would swap them back).
				if lease, err = store.TakeLease(ctx, MigrateLease, ThisProcess(), time.Minute); err != nil {
					return res, fmt.Errorf("migration %03d_%s: %w", m.Version, m.Name, err)
				}
				defer lease.Release(context.WithoutCancel(ctx))
			}
			r := &rebuilder{db: store, opts: opts, l: layout{cluster: cluster, db: db}, log: log,
				exec: func(ctx context.Context, st string) error {
					if err := conn.Exec(ctx, st); err != nil && !alreadyDone(err) {
						return err
					}
					return nil
				}}
			if err := step(ctx, r, sts); err != nil {
				return res, fmt.Errorf("migration %03d_%s: %w", m.Version, m.Name, err)
			}
			sts = nil
		}
		for i, st := range sts {
			// On a cluster an ALTER runs on one replica of each shard, then the Distributed table
			// follows.
			alter := cluster != "" && strings.HasPrefix(st, perShard)
			var err error
			if alter {
				err = eachShard(ctx, store, opts, cluster, st)
			} else {
				err = conn.Exec(ctx, st)
			}
			if err != nil && !alreadyDone(err) {
				return res, fmt.Errorf("migration %03d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
			if alter {
				if err := follow(); err != nil {
					return res, err
				}
			}
		}
		// A batch, not INSERT … VALUES through Exec: 18.16 waits for a data block that Exec never sends.
		if err := store.insert(ctx, "INSERT INTO schema_migrations (version, name, applied_at)", 1, func(bt driver.Batch, _ int) error {
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

// checkLayout refuses to migrate a database laid out the other way: one server's tables onto a
// cluster (the data would stay behind, unseen) or a cluster's without --cluster.
func checkLayout(ctx context.Context, conn *DB, db, cluster string) error {
	var engine string
	err := conn.each(ctx, "tables", "SELECT engine FROM system.tables WHERE database = ? AND name = 'schema_migrations'", []any{db},
		func(rows driver.Rows) error { return rows.Scan(&engine) })
	switch {
	case err != nil:
		return err
	case engine == "":
		return nil // new
	case cluster == "" && engine == "Distributed":
		return errors.New("it is laid out on a cluster: run migrate --cluster NAME")
	case cluster != "" && engine != "Distributed":
		return errors.New("it holds one server's tables; to move them to a cluster, see docs/deploy.md (upgrading from one server)")
	}
	return nil
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
