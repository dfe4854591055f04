package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/firstclaim/firstclaim/report"
)

type reportCmd struct {
	clickhouse  clickhouseFlag
	from, to    string
	by, where   string
	includeBots bool
	format      string
	partner     string
	limit       int
	unknown     bool
	exact       bool
	noRollups   bool
}

func (c *reportCmd) flags(fs *flag.FlagSet) {
	c.clickhouse.register(fs, "")
	fs.StringVar(&c.from, "from", "", "start (a date, 2026-11-01, or RFC 3339), inclusive; default 30 days before --to")
	fs.StringVar(&c.to, "to", "", "end, exclusive; default tomorrow (UTC)")
	fs.StringVar(&c.by, "by", "", "group by `dimensions`, comma-separated: day, hour, link, partner, program, campaign, outcome, country, device, browser, referer_host")
	fs.StringVar(&c.where, "where", "", "filters on the same dimensions: `dim=value,dim=value`")
	fs.BoolVar(&c.includeBots, "include-bots", false, "count bots in clicks, visitors and the other click metrics")
	fs.StringVar(&c.format, "format", "table", "output: table, csv or json")
	fs.StringVar(&c.partner, "partner", "", "one partner's view: only this partner's numbers")
	fs.IntVar(&c.limit, "limit", 1000, "most rows")
	fs.BoolVar(&c.exact, "exact-visitors", false, "count unique visitors exactly, from the raw clicks (slower over long ranges); without it they may be an estimate, marked ≈")
	fs.BoolVar(&c.noRollups, "no-rollups", false, "read the raw tables only, not the rollups (slower; what rollups are checked against)")
	fs.BoolVar(&c.unknown, "unknown-codes", false, "list the codes asked for that are no link (hits, first and last seen) instead")
}

func (c *reportCmd) run(ctx context.Context, env *environment) error {
	q := report.Query{IncludeBots: c.includeBots, Partner: c.partner, Limit: c.limit, ExactVisitors: c.exact}
	q.To = time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	var err error
	if c.to != "" {
		if q.To, err = report.ParseTime(c.to); err != nil {
			return fmt.Errorf("--to %w", err)
		}
	}
	q.From = q.To.Add(-30 * 24 * time.Hour)
	if c.from != "" {
		if q.From, err = report.ParseTime(c.from); err != nil {
			return fmt.Errorf("--from %w", err)
		}
	}
	if q.By, err = report.ParseBy(c.by); err != nil {
		return fmt.Errorf("--by: %w", err)
	}
	if q.Where, err = report.ParseWhere(c.where); err != nil {
		return fmt.Errorf("--where: %w", err)
	}
	if c.format != "table" && c.format != "csv" && c.format != "json" {
		return fmt.Errorf("--format %q: want table, csv or json", c.format)
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	db.ReadRollups(!c.noRollups)
	db.SetLogger(env.log)
	if c.unknown {
		codes, err := db.UnknownCodes(ctx, q.From, q.To, c.limit)
		if err != nil {
			return err
		}
		return report.WriteUnknownCodes(env.stdout, codes, c.format)
	}
	res, err := report.Run(ctx, db, q)
	if err != nil {
		return err
	}
	if len(res.Estimates) > 0 && c.format != "table" {
		// The table says it under the rows; CSV and JSON carry it in their header and "estimates".
		for _, n := range res.EstimateNotes() {
			env.log.Info(n)
		}
	}
	switch c.format {
	case "csv":
		return res.WriteCSV(env.stdout)
	case "json":
		return res.WriteJSON(env.stdout)
	}
	return res.WriteTable(env.stdout)
}
