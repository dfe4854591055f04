package main

import (
	"flag"
	"fmt"
	"time"
)

// burnPeriod is the control run's: one burst and one sleep.
const burnPeriod = 100 * time.Millisecond

// burn keeps a core busy for a share of every period, in one burst, then sleeps for the rest: a
// stand-in for ClickHouse's inserts on the load generator's core, which work in bursts of a few
// milliseconds. It lets nginx be measured with the same part of wrk's core taken as firstclaim's
// ClickHouse takes (see compare).
func burn(args []string) error {
	fs := flag.NewFlagSet("burn", flag.ExitOnError)
	share := fs.Float64("share", 0.15, "fraction of each period spent busy, 0 to 1")
	period := fs.Duration("period", burnPeriod, "one burst and one sleep")
	dur := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	if *share < 0 || *share > 1 || *period <= 0 {
		return fmt.Errorf("burn: --share %v must be within 0 and 1, --period %v above 0", *share, *period)
	}
	busy := time.Duration(float64(*period) * *share)
	for end := time.Now().Add(*dur); time.Now().Before(end); {
		for start := time.Now(); time.Since(start) < busy; {
		}
		time.Sleep(*period - busy)
	}
	return nil
}
