package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/redirect"
)

// linksCmd loads a links file into ClickHouse (links import FILE) and writes the links held there
// as a links file (links export).
type linksCmd struct {
	clickhouse clickhouseFlag
	programs   string
	format     string
	out        string
	args       []string
}

func (c *linksCmd) flags(fs *flag.FlagSet) {
	c.clickhouse.register(fs, "")
	fs.StringVar(&c.programs, "programs", "", "programs `file` (JSON): the programs links may name; the presets are built in")
	fs.StringVar(&c.format, "format", "csv", "export: csv (the links file's columns) or json (an array)")
	fs.StringVar(&c.out, "out", "-", "export: `file` to write (- for standard output)")
}

func (c *linksCmd) setArgs(args []string) { c.args = args }

func (c *linksCmd) run(ctx context.Context, env *environment) error {
	if len(c.args) == 0 {
		return errors.New("want `links [flags] import FILE` or `links [flags] export` (flags before the subcommand)")
	}
	for _, a := range c.args[1:] {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("%s: flags go before the subcommand, as in: firstclaim links --clickhouse DSN %s ...", a, c.args[0])
		}
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	cat := links.NewCatalog(links.Options{Store: db, Logger: env.log})
	if err := cat.Sync(ctx); err != nil {
		return fmt.Errorf("cannot read the links from ClickHouse: %w", err)
	}
	switch c.args[0] {
	case "import":
		if len(c.args) != 2 {
			return errors.New("want `links import FILE`")
		}
		return c.importFile(ctx, env, cat, c.args[1])
	case "export":
		if len(c.args) != 1 {
			return errors.New("`links export` takes no file: use --out")
		}
		return c.export(env, cat)
	}
	return fmt.Errorf("unknown links command %q: want import or export", c.args[0])
}

// importFile creates the file's new links and writes a new version of each link the file changes;
// the links the file does not name stay as they are. The file is checked whole first: one bad line
// refuses it, with its line and reason.
func (c *linksCmd) importFile(ctx context.Context, env *environment, cat *links.Catalog, path string) error {
	progs, err := loadPrograms(c.programs)
	if err != nil {
		return err
	}
	all, err := redirect.ReadLinks(path, func(name string) bool { _, ok := progs[name]; return ok })
	if err != nil {
		return err
	}
	var fresh []redirect.Link
	var changed []redirect.Link
	unchanged := 0
	for _, l := range all {
		cur, ok := cat.Get(l.Code)
		switch {
		case !ok:
			fresh = append(fresh, l)
		case cur.URL == l.URL && cur.PartnerID == l.PartnerID && cur.Program == l.Program && cur.Campaign == l.Campaign &&
			cur.Status == l.Status && cur.ExpiresAt.Equal(l.ExpiresAt):
			unchanged++
		case cur.PartnerID != l.PartnerID || cur.Program != l.Program:
			return fmt.Errorf("%s: link %q belongs to partner %q in program %q in ClickHouse; a link's partner and program cannot change (give it another code)",
				path, l.Code, cur.PartnerID, cur.Program)
		default:
			changed = append(changed, l)
		}
	}
	began := time.Now()
	for len(fresh) > 0 {
		part := fresh[:min(len(fresh), links.MaxBulk)]
		fresh = fresh[len(part):]
		res, err := cat.Create(ctx, part, "import", "")
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stderr, "links: created %d\n", len(res.Links))
	}
	for _, l := range changed {
		if _, _, err := cat.Update(ctx, l.Code, "import", "", "update", func(cur *redirect.Link) error {
			cur.URL, cur.Campaign, cur.Status, cur.ExpiresAt = l.URL, l.Campaign, l.Status, l.ExpiresAt
			return nil
		}); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stdout, "imported %s: %d new, %d changed, %d unchanged, in %s\n", path,
		len(all)-len(changed)-unchanged, len(changed), unchanged, time.Since(began).Round(time.Millisecond))
	return nil
}

func (c *linksCmd) export(env *environment, cat *links.Catalog) error {
	var w io.Writer = env.stdout
	if c.out != "-" {
		f, err := os.Create(c.out)
		if err != nil {
			return fmt.Errorf("cannot write --out: %w", err)
		}
		defer f.Close()
		w = f
	}
	vs, _ := cat.List(links.Filter{})
	switch c.format {
	case "csv":
		// Plain CSV, not the spreadsheet-safe form of the reports: the file is for loading again
		// (--links, links import), and a code may begin with '-'.
		cw := csv.NewWriter(w)
		cw.Write([]string{"code", "url", "partner", "program", "campaign", "status", "expires_at"})
		for _, v := range vs {
			exp := ""
			if !v.ExpiresAt.IsZero() {
				exp = v.ExpiresAt.UTC().Format(time.RFC3339)
			}
			cw.Write([]string{v.Code, v.URL, v.PartnerID, v.Program, v.Campaign, v.Status, exp})
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]redirect.Link, len(vs))
		for i := range vs {
			out[i] = vs[i].Link
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	return fmt.Errorf("--format %q: want csv or json", c.format)
}
