package main

import (
	"context"
	"fmt"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/postback"
	"github.com/firstclaim/firstclaim/sink"
)

// attributeClickHouse reads the program's data from ClickHouse, computes its lines and writes
// them to the commissions table.
func attributeClickHouse(ctx context.Context, dsn string, p *attribution.Program, asOf time.Time, prog *progress, env *environment,
	nets []postback.Network, pbTimeout time.Duration) ([]attribution.Line, error) {
	conn, err := sink.Connect(dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	in, err := attribution.Load(ctx, conn, p, asOf, prog.stage)
	if err != nil {
		return nil, err
	}
	prog.stage(fmt.Sprintf("attributing %d orders, %d associations", len(in.Orders), len(in.Associations)))
	lines, err := attribution.Compute(p, in, asOf)
	if err != nil {
		return nil, err
	}
	prog.stage(fmt.Sprintf("writing %d lines", len(lines)))
	if err := attribution.SaveLines(ctx, conn, lines, asOf, time.Now()); err != nil {
		return nil, err
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
		sender := &postback.Sender{Conn: conn, Log: env.log}
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
