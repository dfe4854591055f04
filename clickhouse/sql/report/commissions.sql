-- Commission lines by the asked dimensions (those the lines have) and currency, each in its current
-- state; rejected lines count for nothing.
SELECT
    {dims}
    currency,
    countIf(line = 'order') AS orders,
    sumIf(base, line = 'order') AS base,
    sum(commission) AS commission
FROM commission_lines
WHERE status != 'rejected' AND ts >= ? AND ts < ? {where}
GROUP BY {group_comma}currency
