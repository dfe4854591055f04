package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/firstclaim/firstclaim/clickhouse"
)

type migrateCmd struct {
	clickhouse clickhouseFlag
}

func (c *migrateCmd) flags(fs *flag.FlagSet) { c.clickhouse.register(fs, "") }

func (c *migrateCmd) run(ctx context.Context, env *environment) error {
	if c.clickhouse.dsn == "" {
		return errors.New("--clickhouse is required (or FIRSTCLAIM_CLICKHOUSE)")
	}
	res, err := clickhouse.Migrate(ctx, c.clickhouse.dsn, env.log)
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
