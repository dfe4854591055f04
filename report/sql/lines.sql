-- The current commission lines, newest run of each, in a time range. Parameters: from, to, then the
-- filters (partner, program) where the placeholder below stands.
SELECT program, partner_id, line, ref, account_id, status, reason, currency, base, rate, commission, payable_on, ts
FROM
(
    SELECT
        program, line, ref,
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
    GROUP BY program, line, ref
)
WHERE ts >= ? AND ts < ? {where}
ORDER BY ts DESC, line, ref
LIMIT 10000
