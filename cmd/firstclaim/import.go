package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/sink"
)

// importCmd is "firstclaim import TABLE FILE": its two arguments come after the flags.
type importCmd struct {
	clickhouse string
	args       []string
}

func (c *importCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.clickhouse, "clickhouse", "", "ClickHouse `DSN` (env FIRSTCLAIM_CLICKHOUSE)")
}

func (c *importCmd) setArgs(args []string) { c.args = args }

func (c *importCmd) run(ctx context.Context, env *environment) error {
	if len(c.args) != 2 {
		return fmt.Errorf("usage: firstclaim import %s FILE (CSV with a header, or NDJSON)", strings.Join(attribution.ImportTables, "|"))
	}
	table, path := c.args[0], c.args[1]
	if !slices.Contains(attribution.ImportTables, table) {
		return fmt.Errorf("cannot import %q: want one of %s", table, strings.Join(attribution.ImportTables, ", "))
	}
	if c.clickhouse == "" {
		return errors.New("--clickhouse is required (or FIRSTCLAIM_CLICKHOUSE)")
	}
	conn, err := sink.Connect(c.clickhouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	n, err := attribution.Import(ctx, conn, table, path, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "imported %d %s from %s\n", n, table, path)
	return nil
}
