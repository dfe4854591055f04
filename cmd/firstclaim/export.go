package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/internal/csvsafe"
	"github.com/firstclaim/firstclaim/postback"
)

type exportCmd struct {
	clickhouse                    clickhouseFlag
	networks, network, month, out string
}

func (c *exportCmd) flags(fs *flag.FlagSet) {
	c.clickhouse.register(fs, "")
	fs.StringVar(&c.networks, "networks", "", "affiliate networks `file` (JSON)")
	fs.StringVar(&c.network, "network", "", "the network to export; every network of the file when empty (one file each, --out is then a folder)")
	fs.StringVar(&c.month, "month", "", "the month, YYYY-MM")
	fs.StringVar(&c.out, "out", "-", "CSV `file` (- for standard output), or a folder with several networks")
}

func (c *exportCmd) run(ctx context.Context, env *environment) error {
	if c.clickhouse.dsn == "" || c.networks == "" || c.month == "" {
		return errors.New("--clickhouse, --networks and --month are required")
	}
	nets, err := postback.LoadNetworks(c.networks)
	if err != nil {
		return err
	}
	var chosen []postback.Network
	for _, n := range nets {
		if c.network == "" || n.Name == c.network {
			chosen = append(chosen, n)
		}
	}
	if len(chosen) == 0 {
		return fmt.Errorf("--network %q is not in %s", c.network, c.networks)
	}
	if len(chosen) > 1 && c.out == "-" {
		return errors.New("several networks: give --out a folder (one CSV each) or pick one with --network")
	}
	db, err := c.clickhouse.open()
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range chosen {
		n := &chosen[i]
		rows, err := postback.Export(ctx, db, n, c.month)
		if err != nil {
			return err
		}
		var w io.Writer = env.stdout
		var f *os.File
		if c.out != "-" {
			path := c.out
			if len(chosen) > 1 {
				if err := os.MkdirAll(c.out, 0o755); err != nil {
					return err
				}
				path = c.out + "/" + n.Name + "-" + c.month + ".csv"
			}
			if f, err = os.Create(path); err != nil {
				return fmt.Errorf("cannot write --out: %w", err)
			}
			w = f
		}
		cw := csvsafe.NewWriter(w)
		cw.Write([]string{"network", "month", "partner_id", "currency", "orders", "effective_commissionable_amount", "leads", "commission"})
		for _, r := range rows {
			cw.Write([]string{n.Name, c.month, r.PartnerID, r.Currency, strconv.FormatUint(r.Orders, 10),
				attribution.FormatAmount(r.Amount, r.Currency), strconv.FormatUint(r.Leads, 10), attribution.FormatAmount(r.Commission, r.Currency)})
		}
		cw.Flush()
		if f != nil {
			if err := f.Close(); err != nil {
				return err
			}
		}
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return nil
}
