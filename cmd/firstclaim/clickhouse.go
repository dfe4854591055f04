package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
)

// clickhouseFlag is the --clickhouse flag, declared the same way by every subcommand that reads or
// writes ClickHouse.
type clickhouseFlag struct{ dsn string }

func (f *clickhouseFlag) register(fs *flag.FlagSet, what string) {
	if what == "" {
		what = "ClickHouse"
	}
	fs.StringVar(&f.dsn, "clickhouse", "", what+": `DSN` clickhouse://[user:password@]host:port[,host:port...]/database, native protocol (env FIRSTCLAIM_CLICKHOUSE)")
}

// open connects to the database the flag names; the flag is required.
func (f *clickhouseFlag) open() (*clickhouse.DB, error) {
	if f.dsn == "" {
		return nil, errors.New("--clickhouse is required (or FIRSTCLAIM_CLICKHOUSE)")
	}
	db, err := clickhouse.Open(f.dsn)
	if err != nil {
		return nil, fmt.Errorf("--clickhouse: %w", err)
	}
	return db, nil
}

// loadPrograms reads the programs file (none: the presets alone).
func loadPrograms(path string) (map[string]attribution.Program, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("cannot read programs: %w", err)
		}
	}
	return attribution.ParsePrograms(path, data)
}
