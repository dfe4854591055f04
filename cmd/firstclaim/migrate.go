package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
)

type migrateCmd struct {
	clickhouse clickhouseFlag
	rollup     bool
	cluster    string
	copyFrom   string
}

func (c *migrateCmd) flags(fs *flag.FlagSet) {
	c.clickhouse.register(fs, "")
	fs.StringVar(&c.cluster, "cluster", "", "lay the database out on this ClickHouse cluster (a name in the servers' <remote_servers>): replicated tables on every server under Distributed tables; see docs/deploy.md")
	fs.StringVar(&c.copyFrom, "copy-from", "", "with --cluster: then copy the events, imports, lines and links of this one server's database (clickhouse://host:port/db) into the cluster; safe to run again (docs/deploy.md, upgrading from one server)")
	fs.BoolVar(&c.rollup, "rollup", true, "then roll up every day of events that has ended (the rollups reports read; on a database with events, a backfill that says how far it is and may run while servers write)")
}

func (c *migrateCmd) run(ctx context.Context, env *environment) error {
	if c.clickhouse.dsn == "" {
		return errors.New("--clickhouse is required (or FIRSTCLAIM_CLICKHOUSE)")
	}
	if c.copyFrom != "" && c.cluster == "" {
		return errors.New("--copy-from copies one server's database into a cluster: give --cluster too")
	}
	res, err := clickhouse.MigrateCluster(ctx, c.clickhouse.dsn, c.cluster, env.log)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(env.stdout, "database %s%s is up to date (schema version %d)\n", res.Database, onCluster(res.Cluster), res.Version)
	} else {
		for _, m := range res.Applied {
			fmt.Fprintf(env.stdout, "applied %03d_%s\n", m.Version, m.Name)
		}
		fmt.Fprintf(env.stdout, "database %s%s is at schema version %d\n", res.Database, onCluster(res.Cluster), res.Version)
	}
	if c.copyFrom == "" && !c.rollup {
		return nil
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	if c.copyFrom != "" {
		err := db.CopyFrom(ctx, c.copyFrom, func(table, month string, rows uint64, took time.Duration) {
			if month == "" {
				month = "all"
			}
			fmt.Fprintf(env.stdout, "copied %s %s: %d rows in %s\n", table, month, rows, took.Round(time.Millisecond))
		})
		if err != nil {
			return err
		}
	}
	if !c.rollup {
		return nil
	}
	months := 0
	n, err := db.RollPending(ctx, nil, func(r clickhouse.RollResult, i, n int) {
		if !r.Month.IsZero() {
			months++
			fmt.Fprintf(env.stdout, "merged the rollups of %s and made its month rows in %s\n", r.Month.Format("2006-01"), r.Took.Round(time.Millisecond))
			return
		}
		fmt.Fprintf(env.stdout, "rolled up %s: %d clicks, %d impressions, %d sign-ups and log-ins in %s (%d of %d days)\n",
			r.Day.Format(time.DateOnly), r.Clicks, r.Impressions, r.Associations, r.Took.Round(time.Millisecond), i, n)
	})
	if errors.Is(err, clickhouse.ErrMonthsUnfinished) {
		// Every day is rolled up; what is left only speeds reports up (the roller tries again).
		fmt.Fprintf(env.stderr, "warning: %v; reports read those months by day meanwhile\n", err)
	} else if err != nil {
		return fmt.Errorf("rolling up (run migrate again to go on from where it stopped): %w", err)
	}
	rolled, err := db.RollLines(ctx)
	if err != nil {
		return fmt.Errorf("rolling up the commission lines (run migrate again): %w", err)
	}
	if rolled {
		fmt.Fprintln(env.stdout, "rolled up the commission lines")
	}
	if n == 0 && months == 0 && !rolled {
		fmt.Fprintln(env.stdout, "rollups are up to date")
	}
	return nil
}

func onCluster(name string) string {
	if name == "" {
		return ""
	}
	return " on cluster " + name
}
