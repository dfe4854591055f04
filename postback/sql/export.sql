-- The monthly statement for a network: per partner and currency, the effective commissionable order
-- amount (the base of approved and pending order lines), the leads, and the commission, from the
-- current state of each line. Parameters: the network's programs (an array), from, to.
SELECT
    partner_id,
    currency,
    countIf(line = 'order') AS orders,
    sumIf(base, line = 'order') AS amount,
    countIf(line = 'lead') AS leads,
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
WHERE has(?, program) AND status != 'rejected' AND ts >= ? AND ts < ?
GROUP BY partner_id, currency
ORDER BY partner_id, currency;
