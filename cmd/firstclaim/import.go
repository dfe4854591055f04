package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

// importCmd is "firstclaim import TABLE FILE": its two arguments come after the flags.
type importCmd struct {
	clickhouse clickhouseFlag
	args       []string
}

func (c *importCmd) flags(fs *flag.FlagSet) { c.clickhouse.register(fs, "") }

func (c *importCmd) setArgs(args []string) { c.args = args }

func (c *importCmd) run(ctx context.Context, env *environment) error {
	if len(c.args) != 2 {
		return fmt.Errorf("usage: firstclaim import %s FILE (CSV with a header, or NDJSON)", strings.Join(attribution.Tables(), "|"))
	}
	table, path := c.args[0], c.args[1]
	if !slices.Contains(attribution.Tables(), table) {
		return fmt.Errorf("cannot import %q: want one of %s", table, strings.Join(attribution.Tables(), ", "))
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	// The whole file is read and checked first: a bad value anywhere refuses it with its file, line
	// and field, and nothing is written.
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	in := &attribution.Input{}
	err = attribution.ReadTable(in, table, path, f)
	f.Close()
	if err != nil {
		return err
	}
	n, err := db.Import(ctx, in, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "imported %d %s from %s\n", n, table, path)
	return nil
}
