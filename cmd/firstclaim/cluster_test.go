package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/report"
)

// Two edges under load on a cluster of 2 shards x 2 replicas, through faults: a replica killed and
// restarted, the server one edge is connected to killed (which is also the replica its shard's
// rows go to) and restarted, ZooKeeper stopped for a while. Every click served is counted exactly
// once by report, and each shard's replicas end up with the same clicks.
func TestTwoEdgesOnAClusterLoseNothing(t *testing.T) {
	c := chtest.NewCluster(t)
	ctx := context.Background()
	if _, err := clickhouse.MigrateCluster(ctx, c.DSN, c.Name, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	linksFile := filepath.Join(dir, "links.csv")
	os.WriteFile(linksFile, []byte("code,url,partner,program,campaign\nsummer,https://shop.example.com/,partner-a,affiliate,summer\n"), 0o644)
	// Edge A enters the cluster at node 1, edge B at node 3 (the address's hosts in another order).
	hosts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(c.DSN, "clickhouse://"), "/firstclaim"), ",")
	dsnB := "clickhouse://" + strings.Join([]string{hosts[2], hosts[3], hosts[0], hosts[1]}, ",") + "/firstclaim"
	common := []string{"--links", linksFile, "--admin-token", "cluster-admin-token-0123", "--claim-limit", "0", "--rollup-every", "0",
		"--flush-interval", "200ms"}
	pubA, _, logsA, stopA := startServe(t, append(common, "--clickhouse", c.DSN, "--data-dir", filepath.Join(dir, "a"))...)
	pubB, _, logsB, stopB := startServe(t, append(common, "--clickhouse", dsnB, "--data-dir", filepath.Join(dir, "b"))...)

	var mu sync.Mutex
	served := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		pub := []string{pubA, pubB}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", pub+"/r/summer", nil)
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
				resp, err := noFollow.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				loc, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusFound || err != nil || len(loc.Query()) != 1 {
					t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
					return
				}
				for _, v := range loc.Query() {
					mu.Lock()
					served[v[0]] = true
					mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(served) }
	phase := func(what string, d time.Duration) {
		n := count()
		time.Sleep(d)
		t.Logf("%s: %d clicks served", what, count()-n)
		if count() == n {
			t.Fatalf("%s: no click served", what)
		}
	}
	phase("all servers up", 2*time.Second)
	c.KillNode(2)
	phase("node 2 (a replica of shard 1) down", 3*time.Second)
	c.StartNode(2)
	c.KillNode(1)
	phase("node 1 (edge A's server, shard 1's first replica) down", 3*time.Second)
	c.StartNode(1)
	c.KillNode(3)
	phase("node 3 (edge B's server, shard 2's first replica) down", 3*time.Second)
	c.StartNode(3)
	c.KillZooKeeper()
	phase("ZooKeeper down", 5*time.Second)
	c.StartZooKeeper()
	phase("all up again", 2*time.Second)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	n := count()

	// Every click served is counted once: the report's total, and the stored ids are those served.
	db, err := clickhouse.Open(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last uint64
	drain := time.Now()
	if !within(90*time.Second, func() bool {
		ids, _, err := db.CountDistinctClicks(ctx)
		last = ids
		return err == nil && ids >= uint64(n)
	}) {
		t.Fatalf("%d clicks served, %d stored after 90 s\nedge A:\n%s\nedge B:\n%s", n, last, tail(logsA.String()), tail(logsB.String()))
	}
	t.Logf("every click stored %.1f s after the load ended", time.Since(drain).Seconds())
	for name, logs := range map[string]string{"A": logsA.String(), "B": logsB.String()} {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Logf("edge %s: %.300s", name, l)
			}
		}
	}
	if code := stopA(); code != 0 {
		t.Fatalf("edge A exited with %d", code)
	}
	if code := stopB(); code != 0 {
		t.Fatalf("edge B exited with %d", code)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	res, err := report.Run(ctx, db, report.Query{From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour), IncludeBots: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Totals.Counts["clicks"]; got != uint64(n) {
		t.Fatalf("report counts %d clicks, %d served", got, n)
	}
	rows, err := db.Conn().Query(ctx, "SELECT DISTINCT click_id FROM clicks")
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for rows.Next() {
		var id string
		rows.Scan(&id)
		if !served[id] {
			t.Errorf("stored click %s was never served", id)
		}
		stored++
	}
	rows.Close()
	if stored != n {
		t.Fatalf("%d distinct clicks stored, %d served", stored, n)
	}

	// Each shard's replicas hold the same clicks once they have caught up.
	perNode := make([]uint64, 4)
	for i := range 4 {
		node, err := clickhouse.Open(c.NodeDSN(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		// A server whose ZooKeeper session expired while ZooKeeper was down makes a new one
		// at its next use of it: until then SYNC REPLICA fails with "Session expired".
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			err := node.Conn().Exec(ctx, "SYSTEM SYNC REPLICA firstclaim.clicks_local")
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "Session expired") || time.Now().After(deadline) {
				t.Fatalf("node %d: %v", i+1, err)
			}
		}
		perNode[i] = chtest.Count(t, node, "SELECT uniqExact(click_id) FROM clicks_local")
		node.Close()
	}
	if perNode[0] != perNode[1] || perNode[2] != perNode[3] || perNode[0]+perNode[2] != uint64(n) || perNode[0] == 0 || perNode[2] == 0 {
		t.Fatalf("clicks per server %v (shard 1: servers 1 and 2; shard 2: 3 and 4); %d served", perNode, n)
	}
}

// tail is the end of a log, for a failure's message.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
