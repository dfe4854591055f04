// Command cluster measures what a ClickHouse cluster costs and gives against one server, in one run:
// rows per second written by two edges at once (each its own connection pool, entering the cluster
// at a different server) through one server, through the cluster's Distributed tables
// synchronously (the default), asynchronously, and synchronously with a quorum of two replicas;
// that every click written is stored once; and report latency on one server and on the cluster.
//
//	go run ./bench/cluster -single clickhouse://127.0.0.1:P/x -cluster clickhouse://h1,h2,h3,h4/x -name firstclaim [-clicks N] [-batch N] [-rounds N]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/firstclaim/firstclaim/bench/internal/clickgen"
	"github.com/firstclaim/firstclaim/bench/internal/measure"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

func main() {
	single := flag.String("single", "", "one server (clickhouse://host:port/anything; databases bench_cluster_* are made and dropped)")
	cluster := flag.String("cluster", "", "the cluster's servers (clickhouse://h1:p1,h2:p2,.../anything)")
	name := flag.String("name", "firstclaim", "the cluster's name")
	clicks := flag.Int("clicks", 1_000_000, "clicks per mode and round, half from each edge")
	batch := flag.Int("batch", 10_000, "clicks per INSERT (the sink's batch)")
	rounds := flag.Int("rounds", 2, "rounds (the modes' order alternates)")
	reports := flag.Int("reports", 5, "runs of each report")
	flag.Parse()
	if *single == "" || *cluster == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*single, *cluster, *name, *clicks, *batch, *rounds, *reports); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

type mode struct {
	name    string
	cluster bool
	options string // added to the address
}

func run(single, cluster, name string, n, batch, rounds, reportRuns int) error {
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	edges := [2][]*sink.Batch{clickgen.Batches(n/2, batch, day, 1), clickgen.Batches(n/2, batch, day, 2)}
	modes := []mode{
		{name: "one server"},
		{name: "cluster, synchronous (default)", cluster: true},
		{name: "cluster, asynchronous", cluster: true, options: "insert_distributed_sync=0"},
		{name: "cluster, synchronous, quorum 2", cluster: true, options: "insert_quorum=2"},
	}
	rates := map[string][]float64{}
	visible := map[string][]float64{}
	failed := map[string]string{} // a mode whose writes fail: the first error's first line
	for r := range rounds {
		order := slices.Clone(modes)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, m := range order {
			if failed[m.name] != "" {
				continue
			}
			base := single
			if m.cluster {
				base = cluster
			}
			dsn := clickhouse.WithDatabase(base, "bench_cluster")
			if m.options != "" {
				dsn += "?" + m.options
			}
			db, drop, err := database(ctx, dsn, m.cluster, name)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			took, seen, err := write(ctx, dsn, edges, n)
			if err != nil && m.name != modes[0].name {
				failed[m.name], _, _ = strings.Cut(err.Error(), "\n")
				fmt.Fprintf(os.Stderr, "round %d, %s: %s\n", r+1, m.name, failed[m.name])
				db.Close()
				drop()
				continue
			}
			if err == nil {
				var ids, rows uint64
				ids, rows, err = db.CountDistinctClicks(ctx)
				if err == nil && (ids != uint64(n) || rows != uint64(n)) {
					err = fmt.Errorf("%d clicks written, %d stored (%d rows)", n, ids, rows)
				}
			}
			db.Close()
			drop()
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			rate := float64(n) / took.Seconds()
			rates[m.name] = append(rates[m.name], rate)
			visible[m.name] = append(visible[m.name], seen.Seconds())
			fmt.Fprintf(os.Stderr, "round %d, %s: %.0f clicks/s, all visible after %.1f s\n", r+1, m.name, rate, seen.Seconds())
		}
	}
	fmt.Printf("clicks=%d (two edges, %d each) batch=%d rounds=%d; medians\n\n", n, n/2, batch, rounds)
	fmt.Printf("| write path | clicks/s | ratio to one server | all readable after |\n|---|---|---|---|\n")
	baseRate := measure.Median(rates[modes[0].name])
	for _, m := range modes {
		if f := failed[m.name]; f != "" {
			fmt.Printf("| %s | fails: %s | | |\n", m.name, strings.ReplaceAll(f, "|", "/"))
			continue
		}
		fmt.Printf("| %s | %.0f | %.2f | %.1f s |\n", m.name, measure.Median(rates[m.name]), measure.Median(rates[m.name])/baseRate, measure.Median(visible[m.name]))
	}

	// Reports, on the same clicks through one server and the cluster.
	fmt.Printf("\n| report (%d clicks, one day) | one server | cluster | ratio |\n|---|---|---|---|\n", n)
	lat := map[string][2]time.Duration{}
	var bytesPerClick [2]float64
	var names []string
	for i, base := range []string{single, cluster} {
		dsn := clickhouse.WithDatabase(base, "bench_cluster_reports")
		db, drop, err := database(ctx, dsn, i == 1, name)
		if err != nil {
			return err
		}
		if _, _, err := write(ctx, dsn, edges, n); err != nil {
			return err
		}
		if _, err := db.RollDay(ctx, day); err != nil {
			return err
		}
		// Bytes a click takes on disk, once merged: one server's, or one replica of each shard's.
		parts, table := "system.parts", "clicks"
		if i == 1 {
			parts, table = "cluster('"+name+"', system, parts)", "clicks"+clickhouse.LocalSuffix
		}
		if err := db.Conn().Exec(ctx, "OPTIMIZE TABLE "+table+map[bool]string{true: " ON CLUSTER " + name, false: ""}[i == 1]+" PARTITION "+day.Format("200601")+" FINAL"); err != nil {
			return err
		}
		var onDisk, rows uint64
		if err := db.Conn().QueryRow(ctx, "SELECT sum(bytes_on_disk), sum(rows) FROM "+parts+" WHERE database = ? AND table = ? AND active",
			db.Database(), table).Scan(&onDisk, &rows); err != nil {
			return err
		}
		bytesPerClick[i] = float64(onDisk) / float64(rows)
		raw, err := clickhouse.Open(dsn)
		if err != nil {
			return err
		}
		raw.ReadRollups(false)
		views := []struct {
			name string
			db   *clickhouse.DB
			q    report.Query
		}{
			{"totals", db, report.Query{}},
			{"by partner", db, report.Query{By: []string{"partner"}}},
			{"by link", db, report.Query{By: []string{"link"}}},
			{"by country", db, report.Query{By: []string{"country"}}},
			{"one partner's view by link", db, report.Query{Partner: "p7", By: []string{"link"}}},
			{"totals, raw tables", raw, report.Query{}},
			{"by partner, raw tables", raw, report.Query{By: []string{"partner"}}},
		}
		for _, v := range views {
			v.q.From, v.q.To = day, day.Add(24*time.Hour)
			var ts []time.Duration
			for range reportRuns + 1 { // the first run warms the caches and is not counted
				t0 := time.Now()
				if _, err := report.Run(ctx, v.db, v.q); err != nil {
					return fmt.Errorf("%s: %w", v.name, err)
				}
				ts = append(ts, time.Since(t0))
			}
			ts = ts[1:]
			slices.Sort(ts)
			l := lat[v.name]
			l[i] = ts[len(ts)/2]
			lat[v.name] = l
			if i == 0 {
				names = append(names, v.name)
			}
		}
		raw.Close()
		db.Close()
		drop()
	}
	for _, v := range names {
		l := lat[v]
		fmt.Printf("| %s | %d ms | %d ms | %.2f |\n", v, l[0].Milliseconds(), l[1].Milliseconds(), float64(l[1])/float64(l[0]))
	}
	fmt.Printf("\nBytes a click takes on disk once merged (clicks table, compressed, with its marks and index): one server %.1f; the cluster %.1f per replica (each of a shard's replicas holds a copy).\n",
		bytesPerClick[0], bytesPerClick[1])
	return nil
}

// write sends each edge's batches from its own pool at once, entering the cluster at a different
// server (the address's hosts rotated), and returns how long the INSERTs took and how long until
// every click was readable.
func write(ctx context.Context, dsn string, edges [2][]*sink.Batch, n int) (took, visible time.Duration, err error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(edges))
	for e, batches := range edges {
		db, err := clickhouse.Open(rotate(dsn, e*2))
		if err != nil {
			return 0, 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer db.Close()
			for _, b := range batches {
				// Written on time, as an edge writes (rows written late are counted apart).
				w := db.Events()
				at := b.Clicks[0].TS
				for _, c := range b.Clicks {
					if c.TS.Before(at) {
						at = c.TS
					}
				}
				w.SetClock(func() time.Time { return at })
				if err := w.Write(ctx, b); err != nil {
					errs[e] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	took = time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	db, err := clickhouse.Open(dsn)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		ids, _, err := db.CountDistinctClicks(ctx)
		if err != nil {
			return 0, 0, err
		}
		if ids >= uint64(n) {
			return took, time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%d of %d clicks readable after 5 minutes", ids, n)
		}
	}
}

// database makes a fresh migrated database (on the cluster when asked) and returns it and its drop.
func database(ctx context.Context, dsn string, onCluster bool, cluster string) (*clickhouse.DB, func(), error) {
	db, err := clickhouse.Open(dsn)
	if err != nil {
		return nil, nil, err
	}
	on := ""
	if onCluster {
		on = " ON CLUSTER " + cluster
	} else {
		cluster = ""
	}
	drop := func() {
		admin, err := clickhouse.Open(clickhouse.WithDatabase(dsn, "default"))
		if err == nil {
			err = admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db.Database()+on)
			admin.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cannot drop", db.Database(), err)
		}
	}
	drop()
	if _, err := clickhouse.MigrateCluster(ctx, dsn, cluster, slog.New(slog.DiscardHandler)); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, drop, nil
}

// rotate moves the first k hosts of an address to its end: another entry server, the same cluster.
func rotate(dsn string, k int) string {
	rest := strings.TrimPrefix(dsn, "clickhouse://")
	hosts, path, _ := strings.Cut(rest, "/")
	hs := strings.Split(hosts, ",")
	k %= len(hs)
	return "clickhouse://" + strings.Join(append(hs[k:], hs[:k]...), ",") + "/" + path
}
