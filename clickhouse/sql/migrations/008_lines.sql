-- Commission lines carry the claim they came through (its click id and an affiliate network's
-- click id: a network's statement lists only what was attributed through it), and the run that
-- wrote them: computed_at is whole seconds, and two runs in one second must not tie, so a line's
-- current state is the newest (computed_at, run).
ALTER TABLE commissions ADD COLUMN click_id String;
ALTER TABLE commissions ADD COLUMN network_click_id String;
ALTER TABLE commissions ADD COLUMN run UInt64;

DROP TABLE IF EXISTS commission_lines;

CREATE VIEW IF NOT EXISTS commission_lines AS
SELECT
    program,
    line,
    ref,
    argMax(partner_id, (computed_at, run)) AS partner_id,
    argMax(account_id, (computed_at, run)) AS account_id,
    argMax(status, (computed_at, run)) AS status,
    argMax(reason, (computed_at, run)) AS reason,
    argMax(currency, (computed_at, run)) AS currency,
    argMax(base, (computed_at, run)) AS base,
    argMax(rate, (computed_at, run)) AS rate,
    argMax(commission, (computed_at, run)) AS commission,
    argMax(payable_on, (computed_at, run)) AS payable_on,
    argMax(ts, (computed_at, run)) AS ts,
    argMax(click_id, (computed_at, run)) AS click_id,
    argMax(network_click_id, (computed_at, run)) AS network_click_id
FROM commissions
GROUP BY program, line, ref;
