package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PruneResult says what Prune did to one table.
type PruneResult struct {
	Table             string
	DroppedPartitions []string // whole months (YYYYMM) or days (YYYYMMDD) dropped at once
	Deleted           bool     // a DELETE was started for the rest (ClickHouse runs it in the background)
	TTL               bool     // a TTL now drops old rows by itself
}

// Prune removes the events of tables older than cutoff: partitions (a month, or a day for clicks
// and impressions) wholly before it are dropped (instant), and the rows before it of the partition
// it falls in are deleted with ALTER TABLE DELETE, which the server completes in the background.
// With ttlDays > 0 on a server that has TTL (19.6 and later), it also sets a TTL of that many days,
// so the server keeps pruning by itself; 18.16 has none, so schedule prune instead (cron, a systemd
// timer).
func (db *DB) Prune(ctx context.Context, tables []string, cutoff time.Time, ttlDays int) ([]PruneResult, error) {
	conn, database := db.conn, db.name
	l, err := db.layout(ctx)
	if err != nil {
		return nil, err
	}
	// While migrate makes tables again, what prune removed from the live table would come back
	// with the copy of the old one.
	if busy, err := db.rebuildUnderway(ctx); err != nil || busy {
		if err == nil {
			err = errors.New("migrate is making the event tables again (or was stopped while it did: run it again); prune once it is done")
		}
		return nil, fmt.Errorf("cannot prune: %w", err)
	}
	// On a cluster the parts are on every shard, and each statement runs on each shard.
	partsQuery := strings.Replace(Query("schema/prune_partitions"), "FROM system.parts", "FROM "+l.parts(), 1)
	ttl := false
	if ttlDays > 0 {
		var v string
		if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
			return nil, fmt.Errorf("cannot read the server version: %w", err)
		}
		ttl = HasTTL(v)
	}
	cutoff = cutoff.UTC().Truncate(time.Second)
	var out []PruneResult
	for _, t := range tables {
		if !validTable.MatchString(t) {
			return out, fmt.Errorf("cannot prune %q: not a table name", t)
		}
		res := PruneResult{Table: t}
		rows, err := conn.Query(ctx, partsQuery, database, l.local(t))
		if err != nil {
			return out, fmt.Errorf("cannot list the partitions of %s: %w", t, err)
		}
		var parts []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return out, fmt.Errorf("cannot list the partitions of %s: %w", t, err)
			}
			parts = append(parts, p)
		}
		rows.Close()
		straddles := false
		for _, p := range parts {
			start, end, ok := partitionSpan(p)
			if !ok {
				straddles = true // not a partition of time: its rows are deleted one by one
				continue
			}
			if end.After(cutoff) {
				straddles = straddles || start.Before(cutoff)
				continue
			}
			if err := db.execStored(ctx, l, fmt.Sprintf("ALTER TABLE %s DROP PARTITION ID %s", l.target(t), literal(p))); err != nil {
				return out, fmt.Errorf("cannot drop partition %s of %s: %w", p, t, err)
			}
			res.DroppedPartitions = append(res.DroppedPartitions, p)
		}
		if straddles {
			q := fmt.Sprintf("ALTER TABLE %s DELETE WHERE %s < toDateTime(%d)", l.target(t), timeColumn(t), cutoff.Unix())
			if err := db.execStored(ctx, l, q); err != nil {
				return out, fmt.Errorf("cannot delete old rows of %s: %w", t, err)
			}
			res.Deleted = true
		}
		if ttl {
			q := fmt.Sprintf("ALTER TABLE %s MODIFY TTL %s + toIntervalDay(%d)", l.target(t), timeColumn(t), ttlDays)
			if err := db.execStored(ctx, l, q); err != nil {
				return out, fmt.Errorf("cannot set the TTL of %s: %w", t, err)
			}
			res.TTL = true
		}
		out = append(out, res)
	}
	return out, nil
}

// partitionSpan is the time a partition id covers: a month (YYYYMM) or a day (YYYYMMDD), in UTC.
func partitionSpan(id string) (start, end time.Time, ok bool) {
	switch len(id) {
	case 6:
		t, err := time.Parse("200601", id)
		return t, t.AddDate(0, 1, 0), err == nil
	case 8:
		t, err := time.Parse("20060102", id)
		return t, t.AddDate(0, 0, 1), err == nil
	}
	return time.Time{}, time.Time{}, false
}

var validTable = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// timeColumn is the column an event table is partitioned and pruned by.
func timeColumn(table string) string {
	if table == TableUnknownCodes {
		return "minute"
	}
	return "ts"
}

// HasTTL reports whether a server version (SELECT version()) supports table TTL: 19.6 and later.
func HasTTL(version string) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 19 || major == 19 && minor >= 6
}
