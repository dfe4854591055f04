-- A part of sql/report/rollup.sql: the impressions of {range} never replayed, each once, for the
-- hours no rollup holds. Parameters: those of {range}, then the filters.
SELECT toStartOfHour(ts) AS period, {columns}
{impression_states}
FROM
(
{impressions_once}
)
WHERE 1 {where}
GROUP BY period{group_columns}
