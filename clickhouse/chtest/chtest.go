// Package chtest gives tests a real ClickHouse: a fresh, migrated database on the server that
// scripts/test starts (FIRSTCLAIM_TEST_CLICKHOUSE), or a private server of their own, started and
// stopped by scripts/clickhouse, for tests that take the server down on purpose. Without
// ClickHouse a test fails, unless -short.
package chtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
)

// EnvDSN names the variable that holds the shared test server's address.
const EnvDSN = "FIRSTCLAIM_TEST_CLICKHOUSE"

// ServerDSN returns the shared test server's address, database part included.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if testing.Short() {
			t.Skip(EnvDSN + " not set; -short skips ClickHouse tests")
		}
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a ClickHouse, or start one with "+
			"eval \"$(scripts/clickhouse start)\" and export %s=$FIRSTCLAIM_CLICKHOUSE", EnvDSN, EnvDSN)
	}
	return dsn
}

// Database creates a migrated database with a unique name on the shared server, dropped when the
// test ends. It returns its address and the adapter over it.
func Database(t testing.TB) (string, *clickhouse.DB) {
	t.Helper()
	return DatabaseOn(t, ServerDSN(t))
}

// DatabaseOn is Database on the server of dsn.
func DatabaseOn(t testing.TB, serverDSN string) (string, *clickhouse.DB) {
	t.Helper()
	return ClusterDatabaseOn(t, serverDSN, "")
}

// Root returns the repository's root folder (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the repository root (go.mod)")
		}
		dir = parent
	}
}

// Server is a private ClickHouse server that a test may stop and start again; its data survive a
// Stop, and it is removed when the test ends.
type Server struct {
	t      testing.TB
	script string
	Dir    string
	DSN    string // address of the firstclaim database on it
}

// NewServer starts a private server on free loopback ports.
func NewServer(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short skips tests that start their own ClickHouse")
	}
	s := &Server{t: t, script: filepath.Join(Root(t), "scripts", "clickhouse")}
	vars := s.run("start")
	s.Dir, s.DSN = vars["CLICKHOUSE_DIR"], vars["FIRSTCLAIM_CLICKHOUSE"]
	if s.Dir == "" || s.DSN == "" {
		t.Fatalf("scripts/clickhouse start printed no address: %v", vars)
	}
	t.Cleanup(func() { exec.Command(s.script, "stop", s.Dir).Run() })
	return s
}

// Stop stops the server and keeps its data.
func (s *Server) Stop() { s.t.Helper(); s.run("kill", s.Dir) }

// Start starts the stopped server again, on the same ports.
func (s *Server) Start() { s.t.Helper(); s.run("start", s.Dir) }

func (s *Server) run(args ...string) map[string]string {
	s.t.Helper()
	cmd := exec.Command(s.script, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("scripts/clickhouse %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "export") {
			vars[k] = v
		}
	}
	return vars
}

// Count runs a query that returns one UInt64.
func Count(t testing.TB, db *clickhouse.DB, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Conn().QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// RunCurrent runs SQL statements (each ending with ';' at the end of a line) on the current
// ClickHouse engine through scripts/ch-current, after the schema's migrations, and returns what they
// printed. Without the engine a test fails, unless -short.
func RunCurrent(t testing.TB, statements ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short skips the current-engine check")
	}
	dir := t.TempDir()
	var files []string
	add := func(text string) {
		p := filepath.Join(dir, fmt.Sprintf("%03d.sql", len(files)))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, m := range clickhouse.Migrations() {
		add(m.SQL)
	}
	for _, s := range statements {
		add(strings.TrimSuffix(strings.TrimSpace(s), ";") + ";\n")
	}
	out, err := exec.Command("python3", append([]string{filepath.Join(Root(t), "scripts", "ch-current"), "run"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ch-current: %v\n%s", err, out)
	}
	return string(out)
}

// Literal writes a query parameter as SQL, for running a bound query on the current engine.
func Literal(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'"
	case time.Time:
		return "toDateTime('" + v.UTC().Format("2006-01-02 15:04:05") + "', 'UTC')"
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = Literal(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []uint64:
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = fmt.Sprint(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// Bind fills a query's '?' parameters with literals, in order.
func Bind(t testing.TB, query string, args ...any) string {
	t.Helper()
	var b strings.Builder
	i := 0
	for _, c := range query {
		if c == '?' {
			if i >= len(args) {
				t.Fatalf("query has more parameters than the %d given:\n%s", len(args), query)
			}
			b.WriteString(Literal(args[i]))
			i++
			continue
		}
		b.WriteRune(c)
	}
	if i != len(args) {
		t.Fatalf("query has %d parameters, %d given", i, len(args))
	}
	return b.String()
}

// Exec runs a statement on db, failing the test on an error.
func Exec(t testing.TB, db *clickhouse.DB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Conn().Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// EnvClusterDSN and EnvCluster name the variables that hold the shared test cluster's address
// (every server) and its name, as scripts/test sets them from scripts/clickhouse cluster start.
const (
	EnvClusterDSN = "FIRSTCLAIM_TEST_CLUSTER"
	EnvCluster    = "FIRSTCLAIM_TEST_CLUSTER_NAME"
)

// ClusterDatabase creates a database with a unique name on the shared test cluster, migrated with
// --cluster, dropped on every server when the test ends. It returns its address, the cluster's
// name and the adapter over it.
func ClusterDatabase(t testing.TB) (dsn, cluster string, db *clickhouse.DB) {
	t.Helper()
	serverDSN, cluster := os.Getenv(EnvClusterDSN), os.Getenv(EnvCluster)
	if serverDSN == "" || cluster == "" {
		if testing.Short() {
			t.Skip(EnvClusterDSN + " not set; -short skips cluster tests")
		}
		t.Fatalf("%s and %s are not set: run the tests with `make test`, which starts a cluster, or start one with "+
			"eval \"$(scripts/clickhouse cluster start)\" and export %s=$FIRSTCLAIM_CLICKHOUSE %s=$CLICKHOUSE_CLUSTER",
			EnvClusterDSN, EnvCluster, EnvClusterDSN, EnvCluster)
	}
	dsn, db = ClusterDatabaseOn(t, serverDSN, cluster)
	return dsn, cluster, db
}

// ClusterDatabaseOn is ClusterDatabase on the cluster of serverDSN; with cluster "", Database on
// the server of serverDSN.
func ClusterDatabaseOn(t testing.TB, serverDSN, cluster string) (string, *clickhouse.DB) {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	dsn := clickhouse.WithDatabase(serverDSN, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := clickhouse.MigrateCluster(ctx, dsn, cluster, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate %s (cluster %q): %v", name, cluster, err)
	}
	store, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	drop := "DROP DATABASE IF EXISTS " + name
	if cluster != "" {
		drop += " ON CLUSTER " + cluster
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := store.Conn().Exec(ctx, drop); err != nil {
			t.Logf("cannot drop %s: %v", name, err)
		}
		store.Close()
	})
	return dsn, store
}

// Cluster is a private cluster (ZooKeeper and four servers, 2 shards x 2 replicas) that a test may
// take apart and start again; removed when the test ends.
type Cluster struct {
	s     *Server
	Name  string
	DSN   string   // the firstclaim database, every server
	Ports []string // the servers' native ports: node 1 and 2 are shard 1, node 3 and 4 shard 2
}

// NewCluster starts a private cluster on free loopback ports.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short skips tests that start their own ClickHouse cluster")
	}
	s := &Server{t: t, script: filepath.Join(Root(t), "scripts", "clickhouse")}
	vars := s.run("cluster", "start")
	c := &Cluster{s: s, Name: vars["CLICKHOUSE_CLUSTER"], DSN: vars["FIRSTCLAIM_CLICKHOUSE"], Ports: strings.Fields(strings.Trim(vars["CLICKHOUSE_PORTS"], `"`))}
	s.Dir = vars["CLICKHOUSE_CLUSTER_DIR"]
	if s.Dir == "" || c.DSN == "" || len(c.Ports) != 4 {
		t.Fatalf("scripts/clickhouse cluster start printed no cluster: %v", vars)
	}
	t.Cleanup(func() { exec.Command(s.script, "cluster", "stop", s.Dir).Run() })
	return c
}

// KillNode stops server n (1-4), keeping its data; StartNode starts it again.
func (c *Cluster) KillNode(n int) {
	c.s.t.Helper()
	c.s.run("cluster", "kill-node", c.s.Dir, fmt.Sprint(n))
}

// StartNode starts server n again, on its ports.
func (c *Cluster) StartNode(n int) {
	c.s.t.Helper()
	c.s.run("cluster", "start-node", c.s.Dir, fmt.Sprint(n))
}

// KillZooKeeper stops ZooKeeper, keeping its data; StartZooKeeper starts it again.
func (c *Cluster) KillZooKeeper() { c.s.t.Helper(); c.s.run("cluster", "kill-zookeeper", c.s.Dir) }

// StartZooKeeper starts ZooKeeper again.
func (c *Cluster) StartZooKeeper() { c.s.t.Helper(); c.s.run("cluster", "start-zookeeper", c.s.Dir) }

// NodeDSN is the address of the firstclaim database on server n alone.
func (c *Cluster) NodeDSN(n int) string {
	return "clickhouse://127.0.0.1:" + c.Ports[n-1] + "/firstclaim"
}

// SyncBuffer is a log sink a test reads while another goroutine (a server, a roller) writes it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
