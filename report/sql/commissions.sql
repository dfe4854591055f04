-- Commission lines by the asked dimensions (those the table has) and currency, each line in the
-- state of its newest run; rejected lines count for nothing.
SELECT
    {dims}
    currency,
    countIf(line = 'order') AS orders,
    sumIf(base, line = 'order') AS base,
    sum(commission) AS commission
FROM
(
    SELECT
        program, line, ref,
        argMax(partner_id, computed_at) AS partner_id,
        argMax(status, computed_at) AS status,
        argMax(currency, computed_at) AS currency,
        argMax(base, computed_at) AS base,
        argMax(commission, computed_at) AS commission,
        argMax(ts, computed_at) AS ts
    FROM commissions
    GROUP BY program, line, ref
)
WHERE status != 'rejected' AND ts >= ? AND ts < ? {where}
GROUP BY {group_comma}currency
