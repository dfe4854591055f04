-- The current state of every commission line: the values of its newest run (a later run moves a line
-- forward, pending to approved, by writing it again). The job, the reports, the lines API and the
-- networks' statements all read lines through it.
CREATE VIEW IF NOT EXISTS commission_lines AS
SELECT
    program,
    line,
    ref,
    argMax(partner_id, computed_at) AS partner_id,
    argMax(account_id, computed_at) AS account_id,
    argMax(status, computed_at) AS status,
    argMax(reason, computed_at) AS reason,
    argMax(currency, computed_at) AS currency,
    argMax(base, computed_at) AS base,
    argMax(rate, computed_at) AS rate,
    argMax(commission, computed_at) AS commission,
    argMax(payable_on, computed_at) AS payable_on,
    argMax(ts, computed_at) AS ts
FROM commissions
GROUP BY program, line, ref;
