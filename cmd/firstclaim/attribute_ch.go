package main

import (
	"context"
	"fmt"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/postback"
)

// leaseTTL is how long a program's lease outlives its last renewal (every third of it): how long a
// job that died blocks the next one.
const leaseTTL = time.Minute

// attributeClickHouse reads the program's data from ClickHouse, computes its lines and writes
// them to the commissions table.
func attributeClickHouse(ctx context.Context, chf *clickhouseFlag, p *attribution.Program, asOf time.Time, prog *progress, env *environment,
	nets []postback.Network, pbTimeout time.Duration) ([]attribution.Line, error) {
	db, err := chf.open()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// One job at a time writes a program's lines, on one server or a cluster.
	lease, err := db.TakeLease(ctx, p.Name, clickhouse.ThisProcess(), leaseTTL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			env.log.Warn("lease not released", "err", err)
		}
	}()
	in, err := db.LoadInput(ctx, p, asOf, prog.stage)
	if err != nil {
		return nil, err
	}
	prog.stage(fmt.Sprintf("attributing %d orders, %d associations", len(in.Orders), len(in.Associations)))
	lines, err := attribution.Compute(p, in, asOf)
	if err != nil {
		return nil, err
	}
	prog.stage(fmt.Sprintf("writing %d lines", len(lines)))
	if err := lease.Check(ctx); err != nil {
		return nil, fmt.Errorf("no lines written: %w", err)
	}
	if err := db.SaveLines(ctx, lines, asOf, time.Now()); err != nil {
		return nil, err
	}
	// Reports read the lines' rollup only while it matches the lines; make the new one now
	// rather than at the next roller's round (until then they read the lines themselves).
	if _, err := db.RollLines(ctx); err != nil {
		env.log.Warn("the commission lines' rollup could not be made; reports read the lines until the next roll", "err", err)
	}
	counts := map[string]int{}
	for _, l := range lines {
		counts[l.Status]++
	}
	fmt.Fprintf(env.stdout, "%s as of %s: %d lines (%d approved, %d pending, %d rejected) written to commissions\n",
		p.Name, asOf.Format(time.RFC3339), len(lines), counts[attribution.StatusApproved], counts[attribution.StatusPending], counts[attribution.StatusRejected])
	if len(nets) > 0 {
		prog.stage("sending postbacks")
		pctx, cancel := context.WithTimeout(ctx, pbTimeout)
		defer cancel()
		sender := &postback.Sender{Store: db, Log: env.log}
		results, err := sender.Send(pctx, nets, lines)
		for _, r := range results {
			fmt.Fprintf(env.stdout, "postbacks to %s: %d due, %d sent, %d failed (%d attempts), %d sent before\n",
				r.Network, r.Due, r.Sent, r.Failed, r.Attempts, r.Known)
		}
		if err != nil {
			return lines, err
		}
	}
	return lines, nil
}
