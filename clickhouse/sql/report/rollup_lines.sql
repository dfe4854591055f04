-- Commission lines by the asked dimensions (day, partner, program) and currency, from a roll of
-- their current state (sql/rollups/lines.sql). Parameters: the run, from, to, then the filters.
SELECT
    {dims}
    currency,
    sum(orders) AS orders,
    sum(base) AS base,
    sum(commission) AS commission
FROM rollup_lines
WHERE run = ? AND ts >= ? AND ts < ? {where}
GROUP BY {group_comma}currency
