-- The current state of a program's commission lines: the newest run's row of each line.
-- Parameters: program.
SELECT
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
    argMax(payable_on, computed_at) AS payable_on
FROM commissions
WHERE program = ?
GROUP BY line, ref
ORDER BY line, ref;
