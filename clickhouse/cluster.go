package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A database on a cluster (migrate --cluster NAME) keeps each table's rows in NAME_local, a
// replicated table on every server (ReplicatedMergeTree and its kin, coordinated by ZooKeeper), and
// gives the product's name to a Distributed table over them: every query and INSERT the product
// sends names the Distributed table, exactly as on one server. Only statements that act on stored
// parts (OPTIMIZE, ALTER … DELETE, DROP PARTITION) and reads of system.parts name the local tables,
// through the layout below.

// LocalSuffix ends the name of a table's replicated part on a cluster.
const LocalSuffix = "_local"

// shardKeys is each table's sharding key on a cluster: repeats of one event (a retried or replayed
// batch) have the same key, so they land on the same shard and the replacing merges and the
// reports' per-id counting see them together; an account's sign-ups, log-ins and orders stay on one
// shard. Rollup rows are spread at random: every report sums them over all shards.
var shardKeys = map[string]string{
	"schema_migrations":         "version",
	"clicks":                    "cityHash64(click_id)",
	"clicks_by_day":             "cityHash64(click_id)", // while migration 013 moves clicks
	"impressions":               "cityHash64(impression_id)",
	"impressions_by_day":        "cityHash64(impression_id)",
	"associations":              "cityHash64(account_id)",
	"accounts":                  "cityHash64(account_id)",
	"orders":                    "cityHash64(account_id)",
	"partners":                  "cityHash64(partner_id)",
	"commissions":               "cityHash64(line, ref)",
	"postbacks":                 "cityHash64(line, ref)",
	"unknown_codes":             "cityHash64(row_id)",
	"links":                     "cityHash64(code)",
	"link_versions":             "cityHash64(code)",
	"link_claims":               "cityHash64(code)",
	"replays":                   "cityHash64(source, period)",
	"rollup_runs":               "cityHash64(run)",
	"rollup_lines_runs":         "cityHash64(run)",
	"rollup_clicks_days":        "rand()",
	"rollup_clicks_hours":       "rand()",
	"rollup_clicks_partners":    "rand()",
	"rollup_clicks_links":       "rand()",
	"rollup_clicks_places":      "rand()",
	"rollup_clicks_devices":     "rand()",
	"rollup_clicks_referers":    "rand()",
	"rollup_impressions_hours":  "rand()",
	"rollup_impressions_links":  "rand()",
	"rollup_associations_hours": "rand()",
	"rollup_associations_links": "rand()",
	"rollup_lines":              "rand()",
	// While migration 014 makes them again (clickhouse/rebuild.go).
	"rollup_clicks_partners_fine":      "rand()",
	"rollup_clicks_links_fine":         "rand()",
	"rollup_impressions_links_fine":    "rand()",
	"rollup_associations_links_fine":   "rand()",
	"attribution_leases":               "cityHash64(program)",
	"rollup_month_runs":                "cityHash64(run)",
	"rollup_clicks_links_months":       "rand()",
	"rollup_impressions_links_months":  "rand()",
	"rollup_associations_links_months": "rand()",
}

// layout says where a database's rows are: on one server (cluster "") or on a cluster.
type layout struct{ cluster, db string }

// local is the name of the table holding table's rows on each server.
func (l layout) local(table string) string {
	if l.cluster == "" {
		return table
	}
	return table + LocalSuffix
}

// target is local(table) as a statement names it: with the database on a cluster, where each
// server runs the statement in its default database.
func (l layout) target(table string) string {
	if l.cluster == "" {
		return quoteIdent(table)
	}
	return quoteIdent(l.db) + "." + quoteIdent(l.local(table))
}

// parts is the system.parts of every shard.
func (l layout) parts() string {
	if l.cluster == "" {
		return "system.parts"
	}
	return "cluster('" + l.cluster + "', system, parts)"
}

var (
	createTable = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS ([a-z_0-9]+) \((.*)\)\s*ENGINE = ([A-Za-z]*MergeTree)(?:\(([^)]*)\))?(.*)$`)
	alterTable  = regexp.MustCompile(`(?s)^ALTER TABLE ([a-z_0-9]+) (.*)$`)
	dropTable   = regexp.MustCompile(`^DROP TABLE IF EXISTS ([a-z_0-9]+)$`)
	createView  = regexp.MustCompile(`(?s)^CREATE VIEW IF NOT EXISTS ([a-z_0-9]+) (AS\s.*)$`)
	viewFrom    = regexp.MustCompile(`FROM ([a-z_0-9]+)\b`)
	validName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	distEngine  = regexp.MustCompile(`^Distributed\('?([A-Za-z0-9_]+)'?,`)
)

// clusterStatements turns one statement of a migration written for one server into the statements
// that do the same on the cluster, for database db. The migrations keep to the forms below (a test
// runs every one of them through this function); any other statement is an error, not a guess.
func clusterStatements(st, db, cluster string) ([]string, error) {
	on := " ON CLUSTER " + quoteIdent(cluster)
	body := uncomment(st)
	switch {
	case createTable.MatchString(body):
		m := createTable.FindStringSubmatch(body)
		name, cols, engine, args, rest := m[1], m[2], m[3], strings.TrimSpace(m[4]), m[5]
		_, ok := shardKeys[name]
		if !ok {
			return nil, fmt.Errorf("table %s has no sharding key (clickhouse/cluster.go)", name)
		}
		local := name + LocalSuffix
		repl := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", db, local)
		if args != "" {
			repl += ", " + args
		}
		return []string{
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s (%s) ENGINE = Replicated%s(%s)%s", db, local, on, cols, engine, repl, rest),
			distributedTable(name, db, cluster),
		}, nil
	case alterTable.MatchString(body):
		// Not ON CLUSTER: 18.16 refuses some ALTERs of replicated tables that way (MODIFY ORDER BY).
		// MigrateCluster runs it on one replica of each shard, and replication does the rest; the
		// Distributed table's columns follow in syncDistributed.
		m := alterTable.FindStringSubmatch(body)
		return []string{fmt.Sprintf("%s%s.%s%s %s", perShard, db, m[1], LocalSuffix, m[2])}, nil
	case dropTable.MatchString(body):
		name := dropTable.FindStringSubmatch(body)[1]
		return []string{
			fmt.Sprintf("DROP TABLE IF EXISTS %s.%s%s", db, name, on),
			fmt.Sprintf("DROP TABLE IF EXISTS %s.%s%s%s", db, name, LocalSuffix, on),
		}, nil
	case createView.MatchString(body):
		m := createView.FindStringSubmatch(body)
		// Every server runs it in its default database: the tables it reads are named with db.
		sel := viewFrom.ReplaceAllString(m[2], "FROM "+db+".$1")
		return []string{fmt.Sprintf("CREATE VIEW IF NOT EXISTS %s.%s%s %s", db, m[1], on, sel)}, nil
	case strings.HasPrefix(body, "INSERT INTO "):
		return []string{body}, nil // through the Distributed table, once for the cluster
	}
	return nil, fmt.Errorf("no cluster form for the statement %.60q", body)
}

// perShard begins a statement that runs on one replica of each shard (an ALTER of a replicated
// table), not ON CLUSTER.
const perShard = "ALTER TABLE "

// replica is one server of a cluster: its shard and native address.
type replica struct {
	shard uint32
	addr  string
}

// servers lists a cluster's servers, as the connected server's <remote_servers> names them, by
// shard and in each shard's order.
func servers(ctx context.Context, conn *DB, cluster string) ([]replica, error) {
	var all []replica
	err := conn.each(ctx, "the cluster's servers", "SELECT shard_num, host_address, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num",
		[]any{cluster}, func(rows driver.Rows) error {
			var r replica
			var host string
			var port uint16
			if err := rows.Scan(&r.shard, &host, &port); err != nil {
				return err
			}
			r.addr = net.JoinHostPort(host, strconv.Itoa(int(port)))
			all = append(all, r)
			return nil
		})
	return all, err
}

// eachShard runs st on one live replica of each shard of cluster, trying the replicas in order.
// opts is how to connect (user, password, database); the hosts come from system.clusters.
func eachShard(ctx context.Context, conn *DB, opts *clickhouse.Options, cluster, st string, args ...any) error {
	return onEachShard(ctx, conn, opts, cluster, func(c driver.Conn) error {
		err := c.Exec(ctx, st, args...)
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && ex.Code == 341 {
			// UNFINISHED: done on the replicas that answer; the others do it when back.
			err = nil
		}
		return err
	})
}

// onEachShard calls f with a connection to one live replica of each shard of cluster, trying the
// replicas in order until one answers: an error from the server ends it (the other replicas would
// refuse too); one reaching no server tries the shard's next replica.
func onEachShard(ctx context.Context, conn *DB, opts *clickhouse.Options, cluster string, f func(driver.Conn) error) error {
	all, err := servers(ctx, conn, cluster)
	if err != nil {
		return err
	}
	for i := 0; i < len(all); {
		shard := all[i].shard
		var tried []string
		done := false
		for ; i < len(all) && all[i].shard == shard; i++ {
			if done {
				continue
			}
			o := *opts
			o.Addr = []string{all[i].addr}
			c, err := clickhouse.Open(&o)
			if err == nil {
				err = c.Ping(ctx)
				if err == nil {
					err = f(c)
					var ex *clickhouse.Exception
					if err != nil && !errors.As(err, &ex) {
						err = fmt.Errorf("%w (%w)", err, errServerDone)
					}
				}
				c.Close()
			}
			if err == nil || errors.As(err, new(*clickhouse.Exception)) || errors.Is(err, errServerDone) {
				// Done, or refused by the server: the other replicas would refuse it too.
				if err != nil {
					return fmt.Errorf("shard %d (%s): %w", shard, all[i].addr, err)
				}
				done = true
				continue
			}
			tried = append(tried, fmt.Sprintf("%s: %v", all[i].addr, err))
		}
		if !done {
			return fmt.Errorf("shard %d has no replica that answers: %s", shard, strings.Join(tried, "; "))
		}
	}
	return nil
}

// errServerDone marks an error of f after the server answered: f may have done part of its work
// there, so it is not tried on another replica.
var errServerDone = errors.New("after the server answered")

// distributedTable is the statement that creates table's Distributed table over its local tables.
func distributedTable(table, db, cluster string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s AS %s.%s%s ENGINE = Distributed(%s, %s, %s%s, %s)",
		db, table, quoteIdent(cluster), db, table, LocalSuffix, cluster, db, table, LocalSuffix, shardKeys[table])
}

// syncDistributed makes every Distributed table's columns those of its local table again after a
// migration altered the local one: a Distributed table holds no rows (INSERTs are synchronous,
// see ParseDSN), so it is dropped and created again, on every server. While that runs, an INSERT
// may fail, and the sink retries it. Tables whose columns match are left alone.
func syncDistributed(ctx context.Context, conn *DB, db, cluster string) ([]string, error) {
	cols := map[string][]string{}
	err := conn.each(ctx, "columns", "SELECT table, name, type FROM system.columns WHERE database = ?",
		[]any{db}, func(rows driver.Rows) error {
			var t, n, ty string
			if err := rows.Scan(&t, &n, &ty); err != nil {
				return err
			}
			cols[t] = append(cols[t], n+" "+ty)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("cannot read the columns of %s: %w", db, err)
	}
	var changed []string
	for t, local := range cols {
		name, ok := strings.CutSuffix(t, LocalSuffix)
		if !ok || slices.Equal(cols[name], local) {
			continue
		}
		if _, ok := shardKeys[name]; !ok {
			continue
		}
		// A server that does not answer gets both statements later, in order, from the cluster's
		// DDL queue: the CREATE is sent whatever the DROP's wait said, so the live servers are
		// never left without the table.
		var late error
		for _, st := range []string{"DROP TABLE IF EXISTS " + db + "." + name + " ON CLUSTER " + quoteIdent(cluster), distributedTable(name, db, cluster)} {
			if err := conn.conn.Exec(ctx, st); err != nil {
				if !queued(err) {
					return changed, fmt.Errorf("cannot make %s follow %s: %w", name, t, err)
				}
				late = err
			}
		}
		changed = append(changed, name)
		if late != nil {
			return changed, fmt.Errorf("%s follows %s on the servers that answer; the others will when they are back: %w", name, t, late)
		}
	}
	slices.Sort(changed)
	return changed, nil
}

// queued reports the error of an ON CLUSTER statement that some server did not run in time: it
// stays in the cluster's DDL queue and runs there when the server is back.
func queued(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 159 // TIMEOUT_EXCEEDED waiting for the DDL task
}

// checkServers fails, naming them, unless the connected server knows cluster and every server of
// it answers: an ON CLUSTER statement would otherwise wait distributed_ddl_task_timeout (180 s)
// for the missing one and fail.
func checkServers(ctx context.Context, conn *DB, opts *clickhouse.Options, cluster string) error {
	all, err := servers(ctx, conn, cluster)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("the server knows no cluster %q (its <remote_servers>)", cluster)
	}
	var down []string
	for _, r := range all {
		o := *opts
		o.Addr = []string{r.addr}
		o.Auth.Database = "default"
		c, err := clickhouse.Open(&o)
		if err == nil {
			err = c.Ping(ctx)
			c.Close()
		}
		if err != nil {
			down = append(down, r.addr)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("server %s of cluster %q does not answer: the schema changes on every server at once; start it (or take it out of <remote_servers>) and run migrate again",
			strings.Join(down, ", "), cluster)
	}
	return nil
}

// detectLayout reads how the connected database is laid out: on a cluster when clicks is a
// Distributed table (its engine names the cluster).
func detectLayout(ctx context.Context, conn *DB) (layout, error) {
	var engine string
	err := conn.each(ctx, "tables", "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'clicks'", nil,
		func(rows driver.Rows) error { return rows.Scan(&engine) })
	if err != nil {
		return layout{}, fmt.Errorf("cannot read the database's layout: %w", err)
	}
	if m := distEngine.FindStringSubmatch(engine); m != nil {
		return layout{cluster: m[1], db: conn.name}, nil
	}
	return layout{}, nil
}

// layout returns the database's layout, read once.
func (db *DB) layout(ctx context.Context) (layout, error) {
	db.layoutMu.Lock()
	defer db.layoutMu.Unlock()
	if db.laidOut {
		return db.lay, nil
	}
	l, err := detectLayout(ctx, db)
	if err != nil {
		return l, err
	}
	db.lay, db.laidOut = l, true
	return l, nil
}

// execStored runs a statement that acts on a table's stored parts (OPTIMIZE, ALTER … DELETE, DROP
// PARTITION, MODIFY TTL; naming layout.target): on one server, there; on a cluster, on one replica
// of each shard, whose replication carries it to the others. Not ON CLUSTER: 18.16's distributed
// DDL lets both replicas of a shard race for such a statement, and the loser's DDL worker stops
// ("Node exists" from ZooKeeper), leaving every later ON CLUSTER statement waiting for it.
func (db *DB) execStored(ctx context.Context, l layout, st string, args ...any) error {
	if l.cluster == "" {
		return db.conn.Exec(ctx, st, args...)
	}
	opts, err := ParseDSN(db.dsn)
	if err != nil {
		return err
	}
	return eachShard(ctx, db, opts, l.cluster, st, args...)
}

// Cluster is the name of the cluster the database is on, "" when it is on one server.
func (db *DB) Cluster(ctx context.Context) (string, error) {
	l, err := db.layout(ctx)
	return l.cluster, err
}
