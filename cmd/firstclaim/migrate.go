package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/firstclaim/firstclaim/sink"
)

type migrateCmd struct {
	clickhouse string
}

func (c *migrateCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.clickhouse, "clickhouse", "", "ClickHouse `DSN`, clickhouse://[user:password@]host:port/database (env FIRSTCLAIM_CLICKHOUSE)")
}

func (c *migrateCmd) run(ctx context.Context, env *environment) error {
	if c.clickhouse == "" {
		return errors.New("--clickhouse is required (or FIRSTCLAIM_CLICKHOUSE)")
	}
	res, err := sink.Migrate(ctx, c.clickhouse, env.log)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(env.stdout, "database %s is up to date (schema version %d)\n", res.Database, res.Version)
		return nil
	}
	for _, m := range res.Applied {
		fmt.Fprintf(env.stdout, "applied %03d_%s\n", m.Version, m.Name)
	}
	fmt.Fprintf(env.stdout, "database %s is at schema version %d\n", res.Database, res.Version)
	return nil
}
