package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
)

type pruneCmd struct {
	clickhouse clickhouseFlag
	olderThan  string
	tables     string
	ttl        bool
}

func (c *pruneCmd) flags(fs *flag.FlagSet) {
	c.clickhouse.register(fs, "")
	fs.StringVar(&c.olderThan, "older-than", "", "delete events older than this `age`: 400d, or a Go duration such as 9600h")
	fs.StringVar(&c.tables, "tables", strings.Join(clickhouse.EventTables(), ","), "event `tables` to prune")
	fs.BoolVar(&c.ttl, "ttl", false, "also set a TTL of that age where the server has TTL (ClickHouse 19.6+), so it keeps pruning by itself")
}

// parseAge reads "400d" or a Go duration.
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--older-than %q: want a number of days such as 400d, or a duration such as 9600h", s)
	}
	return d, nil
}

func (c *pruneCmd) run(ctx context.Context, env *environment) error {
	if c.olderThan == "" {
		return errors.New("--older-than is required, for example --older-than 400d")
	}
	age, err := parseAge(c.olderThan)
	if err != nil {
		return err
	}
	tables := splitList(c.tables)
	for _, t := range tables {
		ok := false
		for _, e := range clickhouse.EventTables() {
			ok = ok || t == e
		}
		if !ok {
			return fmt.Errorf("--tables: %q is not an event table (%s); orders and commissions are never pruned", t, strings.Join(clickhouse.EventTables(), ", "))
		}
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	cutoff := time.Now().Add(-age)
	ttlDays := 0
	if c.ttl {
		ttlDays = int(age / (24 * time.Hour))
	}
	res, err := db.Prune(ctx, tables, cutoff, ttlDays)
	for _, r := range res {
		fmt.Fprintf(env.stdout, "%s: dropped partitions %v; deleting rows before %s: %v; TTL set: %v\n",
			r.Table, r.DroppedPartitions, cutoff.UTC().Format(time.RFC3339), r.Deleted, r.TTL)
	}
	if err == nil && c.ttl && (len(res) == 0 || !res[0].TTL) {
		fmt.Fprintln(env.stdout, "this ClickHouse has no TTL (19.6 and later do): run prune on a schedule instead")
	}
	return err
}
