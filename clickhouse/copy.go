package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// copyTables are the tables CopyFrom moves from one server to a cluster, with the columns that
// identify a row: a row whose identity the cluster holds already is not copied again (a copy cut
// off and run again, or a batch an edge replayed into the cluster after it was stored on the old
// server), so the copy can run any number of times. Rollups are not copied: CopyFrom's caller
// rolls the days up on the cluster afterwards, over everything. Link claims, leases and the schema's
// versions belong to the cluster.
var copyTables = []struct{ table, identity string }{
	{"clicks", "click_id"},
	{"impressions", "impression_id"},
	{"associations", "association_id"},
	{"unknown_codes", "row_id"},
	{"orders", "order_id"},
	{"accounts", "account_id, imported_at"},
	{"partners", "partner_id, month, imported_at"},
	{"commissions", "program, line, ref, computed_at, run"},
	{"postbacks", "network, program, line, ref, status, attempt, ts"},
	{"replays", "source, period"}, // an hour with replays on the cluster already is marked
	{"link_versions", "code, version"},
}

// CopyProgress is told of each part of the copy: a table's month (or the whole table when it has
// no months) and the rows it added.
type CopyProgress func(table, month string, rows uint64, took time.Duration)

// CopyFrom copies the rows of the database srcDSN names (one server, this release's schema) into
// db, a database on a cluster, through its Distributed tables, month by month. Every server of the
// cluster reads the old server itself (remote()), so it must reach it, with srcDSN's user and
// password. Safe to run again, and while edges write to the cluster (copyTables).
func (db *DB) CopyFrom(ctx context.Context, srcDSN string, progress CopyProgress) error {
	l, err := db.layout(ctx)
	if err != nil {
		return err
	}
	if l.cluster == "" {
		return errors.New("copying is into a database on a cluster (migrate --cluster)")
	}
	opts, err := ParseDSN(srcDSN)
	if err != nil {
		return err
	}
	if len(opts.Addr) != 1 {
		return fmt.Errorf("copy from one server, not %d", len(opts.Addr))
	}
	src, err := Open(srcDSN)
	if err != nil {
		return err
	}
	defer src.Close()
	have, _, err := src.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the schema version of %s: %w", Redact(srcDSN), err)
	}
	if want, _, err := db.SchemaVersion(ctx); err != nil || have != want {
		return fmt.Errorf("the old server's schema is at version %d, the cluster's at %d (%v): run firstclaim migrate on the old server first", have, want, err)
	}
	if sl, err := src.layout(ctx); err != nil || sl.cluster != "" {
		return fmt.Errorf("the source is not one server's database (%v)", err)
	}
	// One copy at a time, and none while a migrate makes tables again: two copies at once would
	// each find a row missing and both write it.
	lease, err := db.TakeLease(ctx, MigrateLease, ThisProcess(), time.Minute)
	if err != nil {
		return fmt.Errorf("cannot copy: %w", err)
	}
	defer lease.Release(context.WithoutCancel(ctx))
	remote := fmt.Sprintf("remote(%s, %s, %%s, %s, %s)", literal(opts.Addr[0]), literal(opts.Auth.Database),
		literal(opts.Auth.Username), literal(opts.Auth.Password))
	for _, t := range copyTables {
		cols, err := db.columns(ctx, t.table)
		if err != nil {
			return err
		}
		part, err := src.monthColumn(ctx, t.table)
		if err != nil {
			return err
		}
		months := []string{""}
		if part != "" {
			months = nil
			err := src.each(ctx, "months", Query("schema/prune_partitions"), []any{src.name, t.table},
				func(rows driver.Rows) error {
					var id string
					err := rows.Scan(&id)
					// A month's id, or a day's (YYYYMMDD): the copy goes a month at a time.
					if m := id[:min(6, len(id))]; !slices.Contains(months, m) {
						months = append(months, m)
					}
					return err
				})
			if err != nil {
				return err
			}
		}
		from := fmt.Sprintf(remote, literal(t.table))
		for _, m := range months {
			where := "1"
			if m != "" {
				where = fmt.Sprintf("toYYYYMM(%s) = %s", part, m)
			}
			q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE %s AND (%s) GLOBAL NOT IN (SELECT %s FROM %s WHERE %s)",
				t.table, cols, cols, from, where, t.identity, t.identity, t.table, where)
			var before, after uint64
			count := fmt.Sprintf("SELECT count() FROM %s WHERE %s", t.table, where)
			start := time.Now()
			if err := db.conn.QueryRow(ctx, count).Scan(&before); err != nil {
				return fmt.Errorf("cannot count %s: %w", t.table, err)
			}
			if err := db.conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("cannot copy %s %s (run it again: what was copied is not copied twice): %w", t.table, m, err)
			}
			if err := db.conn.QueryRow(ctx, count).Scan(&after); err != nil {
				return fmt.Errorf("cannot count %s: %w", t.table, err)
			}
			if progress != nil {
				progress(t.table, m, max(after, before)-before, time.Since(start)) // merges may fold rows meanwhile
			}
		}
	}
	return nil
}

var partitionByMonth = regexp.MustCompile(`PARTITION BY (?:toYYYYMM|toDate)\((\w+)\)`)

// monthColumn is the column a table is partitioned by month (or day) on, "" when it is not.
func (db *DB) monthColumn(ctx context.Context, table string) (string, error) {
	engine, err := db.engine(ctx, table)
	if err != nil {
		return "", fmt.Errorf("the old server: %w", err)
	}
	if m := partitionByMonth.FindStringSubmatch(engine); m != nil {
		return m[1], nil
	}
	return "", nil
}

// columns lists a table's stored columns, comma-separated.
func (db *DB) columns(ctx context.Context, table string) (string, error) {
	var cols []string
	err := db.each(ctx, "the table's columns", "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ? AND default_kind IN ('', 'DEFAULT')",
		[]any{table}, func(rows driver.Rows) error {
			var c string
			err := rows.Scan(&c)
			cols = append(cols, c)
			return err
		})
	if err == nil && len(cols) == 0 {
		err = fmt.Errorf("no table %s", table)
	}
	return strings.Join(cols, ", "), err
}

// literal quotes a string for SQL text.
func literal(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
