// Command ingest measures what ClickHouse spends to keep clicks and their rollups, in CPU seconds
// of the server process per million clicks: the sink's INSERTs (clickhouse.Events, batches of a
// given size), then rolling the day up (clickhouse.DB.RollDay), each until no merge of the
// database runs. With -prior N the rolled day is the month's (N+1)th and the N days before it hold as
// many clicks each (copies of the day's, made inside ClickHouse and not measured), as a month's
// partition does in production by then, rolled up. With -views it also measures the same INSERTs into a database that keeps rollups
// by materialized views instead (the file's statements, {db} standing for the database), the way
// that was measured and not taken. Rounds alternate the order of the databases. The day is rolled
// up as the roller does it (clickhouse.Background: a thread per query); with -threads-default, as a
// backfill by migrate does (the server's default).
//
//	go run ./bench/ingest -dsn clickhouse://127.0.0.1:PORT -pid PID [-clicks N] [-batch N] [-links N] [-rounds N] [-prior N] [-threads-default] [-views FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/bench/internal/clickgen"
	"github.com/firstclaim/firstclaim/bench/internal/measure"
	"github.com/firstclaim/firstclaim/clickhouse"
)

func main() {
	dsn := flag.String("dsn", "", "ClickHouse server (clickhouse://host:port); databases ingest_* are made and dropped")
	pid := flag.Int("pid", 0, "the ClickHouse server's process id, whose CPU time is read")
	clicks := flag.Int("clicks", 2_000_000, "clicks per database and round, over one day")
	batch := flag.Int("batch", 10_000, "clicks per INSERT (the sink's batch)")
	rounds := flag.Int("rounds", 3, "rounds")
	views := flag.String("views", "", "a file of materialized views to measure against ({db} is the database)")
	prior := flag.Int("prior", 0, "days of the month before the rolled one, holding as many clicks each (0-27)")
	links := flag.Int("links", 20000, "links the clicks go to")
	threadsDefault := flag.Bool("threads-default", false, "roll up on the server's default threads (a backfill by migrate), not the roller's one")
	flag.Parse()
	if *dsn == "" || *pid == 0 || *prior < 0 || *prior > 27 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dsn, *pid, *clicks, *batch, *links, *rounds, *prior, !*threadsDefault, *views); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(dsn string, pid, n, batch, links, rounds, prior int, roller bool, viewsFile string) error {
	ctx := context.Background()
	var views []string
	if viewsFile != "" {
		b, err := os.ReadFile(viewsFile)
		if err != nil {
			return err
		}
		views = clickhouse.Statements(string(b))
	}
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	if prior > 0 {
		// The (prior+1)th day of last month.
		y, m, _ := time.Now().UTC().AddDate(0, -1, 0).Date()
		day = time.Date(y, m, 1+prior, 0, 0, 0, 0, time.UTC)
	}
	clicks := clickgen.Day{Clicks: n, Batch: batch, Links: links, Day: day, Seed: 1}
	var insert, roll, viewed []float64
	perM := func(s float64) float64 { return s / float64(n) * 1e6 }
	for r := range rounds {
		steps := []func() error{
			func() error {
				in, ro, err := measureRollups(ctx, dsn, pid, clicks, prior, roller)
				insert, roll = append(insert, perM(in)), append(roll, perM(ro))
				fmt.Fprintf(os.Stderr, "round %d: INSERTs %.2f, rolling up %.2f CPU s per million clicks\n", r+1, perM(in), perM(ro))
				return err
			},
		}
		if views != nil {
			steps = append(steps, func() error {
				v, err := measureViews(ctx, dsn, pid, clicks, views)
				viewed = append(viewed, perM(v))
				fmt.Fprintf(os.Stderr, "round %d: INSERTs with views %.2f CPU s per million clicks\n", r+1, perM(v))
				return err
			})
		}
		if r%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	in, ro := measure.Median(insert), measure.Median(roll)
	fmt.Printf("clicks=%d batch=%d links=%d rounds=%d prior=%d roller=%v (medians, CPU s of ClickHouse per million clicks)\n", n, batch, links, rounds, prior, roller)
	fmt.Printf("INSERTs:                 %.2f  %v\n", in, insert)
	fmt.Printf("rolling the day up:      %.2f  %v\n", ro, roll)
	fmt.Printf("INSERTs and rollups / INSERTs: %.3f\n", (in+ro)/in)
	if views != nil {
		v := measure.Median(viewed)
		fmt.Printf("INSERTs with views:      %.2f  %v\n", v, viewed)
		fmt.Printf("with views / INSERTs:    %.3f\n", v/in)
	}
	return nil
}

// database makes a fresh migrated database of that name and opens it.
func database(ctx context.Context, dsn, name string) (*clickhouse.DB, *clickhouse.DB, error) {
	admin, err := clickhouse.Open(clickhouse.WithDatabase(dsn, "default"))
	if err != nil {
		return nil, nil, err
	}
	if err := admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return nil, nil, err
	}
	if _, err := clickhouse.Migrate(ctx, clickhouse.WithDatabase(dsn, name), slog.New(slog.DiscardHandler)); err != nil {
		return nil, nil, err
	}
	db, err := clickhouse.Open(clickhouse.WithDatabase(dsn, name))
	if err != nil {
		return nil, nil, err
	}
	// As a database made before the clicks it holds (they are dated days and weeks back): every
	// release since marks the copies it writes, so the roll looks a day over by id only when it
	// holds a copy of an older one (clickhouse.DB.RollDay). A repeated version row is harmless
	// (versions are read with DISTINCT); the earliest is when the database reached it.
	err = db.Conn().Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) SELECT 4, 'replayed', toDateTime('2000-01-01 00:00:00', 'UTC')")
	return admin, db, err
}

func measureRollups(ctx context.Context, dsn string, pid int, clicks clickgen.Day, prior int, roller bool) (insert, roll float64, err error) {
	day := clicks.Day
	admin, db, err := database(ctx, dsn, "ingest_rollups")
	if err != nil {
		return 0, 0, err
	}
	defer admin.Close()
	defer db.Close()
	if insert, err = writeAll(ctx, admin, db, pid, clicks, "ingest_rollups"); err != nil {
		return 0, 0, err
	}
	if prior > 0 {
		// The month's earlier days: the day's clicks again, k days earlier, as new clicks.
		var cols []string
		rows, err := db.Conn().Query(ctx, "SELECT name FROM system.columns WHERE database = 'ingest_rollups' AND table = 'clicks'")
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return 0, 0, err
			}
			cols = append(cols, c)
		}
		rows.Close()
		for k := 1; k <= prior; k++ {
			exprs := make([]string, len(cols))
			for i, c := range cols {
				switch c {
				case "ts":
					exprs[i] = fmt.Sprintf("ts - %d", k*86400)
				case "click_id":
					exprs[i] = fmt.Sprintf("concat('%02x', substring(click_id, 3))", k)
				default:
					exprs[i] = c
				}
			}
			q := fmt.Sprintf("INSERT INTO clicks (%s) SELECT %s FROM clicks WHERE ts >= ? AND ts < ?", strings.Join(cols, ", "), strings.Join(exprs, ", "))
			if err := db.Conn().Exec(ctx, q, clickhouse.DateTime(day), clickhouse.DateTime(day.Add(24*time.Hour))); err != nil {
				return 0, 0, fmt.Errorf("cannot copy the day %d days earlier: %w", k, err)
			}
		}
		// Merged as a month's partition is by then (merges fold a month's parts into large ones
		// spanning many days; fresh copies would sit in parts of their own day, which a roll skips).
		if err := db.Conn().Exec(ctx, "OPTIMIZE TABLE clicks FINAL"); err != nil {
			return 0, 0, err
		}
		// The earlier days rolled up too, and their rollup rows merged: a table made from another
		// (the partners, from the links) reads the month's partition of that one.
		for k := prior; k >= 1; k-- {
			if _, err := db.RollDay(ctx, day.AddDate(0, 0, -k)); err != nil {
				return 0, 0, err
			}
		}
		for _, t := range clickhouse.RollupTables() {
			if err := db.Conn().Exec(ctx, "OPTIMIZE TABLE "+t+" FINAL"); err != nil {
				return 0, 0, err
			}
		}
		settle(ctx, admin, "ingest_rollups")
	}
	rollCtx := ctx
	if roller {
		rollCtx = clickhouse.Background(ctx)
	}
	t0 := measure.ProcCPU(pid)
	if _, err := db.RollDay(rollCtx, day); err != nil {
		return 0, 0, err
	}
	settle(ctx, admin, "ingest_rollups")
	roll = measure.ProcCPU(pid) - t0
	if prior > 0 {
		// What finishing the month costs (clickhouse.DB.FinishMonths: its rollup partitions merged
		// into one part, its month rows made; the roller does it once a month has ended), per
		// million clicks of the days the month holds by then: not counted in the roll, printed.
		// The month's later days are recorded as rolled up (empty) first.
		for d := day.AddDate(0, 0, 1); d.Month() == day.Month(); d = d.AddDate(0, 0, 1) {
			if err := db.Conn().Exec(ctx, "INSERT INTO rollup_runs (day, run, committed_ns) SELECT toDate(?), ?, 1", d.Format(time.DateOnly), uint64(d.Unix())); err != nil {
				return 0, 0, err
			}
		}
		settle(ctx, admin, "ingest_rollups")
		t1 := measure.ProcCPU(pid)
		if err := db.FinishMonths(rollCtx, nil, nil); err != nil {
			return 0, 0, err
		}
		settle(ctx, admin, "ingest_rollups")
		fmt.Fprintf(os.Stderr, "finishing the month: %.3f CPU s per million clicks of its %d days\n",
			(measure.ProcCPU(pid)-t1)/float64(clicks.Clicks*(prior+1))*1e6, prior+1)
	}
	return insert, roll, nil
}

func measureViews(ctx context.Context, dsn string, pid int, clicks clickgen.Day, views []string) (float64, error) {
	admin, db, err := database(ctx, dsn, "ingest_views")
	if err != nil {
		return 0, err
	}
	defer admin.Close()
	defer db.Close()
	for _, st := range views {
		if err := db.Conn().Exec(ctx, strings.ReplaceAll(st, "{db}", "ingest_views")); err != nil {
			return 0, fmt.Errorf("%s: %w", st, err)
		}
	}
	return writeAll(ctx, admin, db, pid, clicks, "ingest_views")
}

// writeAll writes the day's batches as an edge writes them, on time, and returns the server's CPU
// seconds until its merges are done.
func writeAll(ctx context.Context, admin, db *clickhouse.DB, pid int, clicks clickgen.Day, name string) (float64, error) {
	settle(ctx, admin, name)
	t0 := measure.ProcCPU(pid)
	for b := range clicks.All() {
		w := db.Events()
		at := b.Clicks[0].TS // the batch's earliest click: written on time, none of it late
		for _, c := range b.Clicks {
			if c.TS.Before(at) {
				at = c.TS
			}
		}
		w.SetClock(func() time.Time { return at })
		if err := w.Write(ctx, b); err != nil {
			return 0, err
		}
	}
	settle(ctx, admin, name)
	return measure.ProcCPU(pid) - t0, nil
}

// settle waits until the database has no merge running, and a second more.
func settle(ctx context.Context, admin *clickhouse.DB, name string) {
	for {
		var n uint64
		if err := admin.Conn().QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", name).Scan(&n); err != nil || n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
}
