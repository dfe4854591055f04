-- A part of sql/report/rollup.sql: the clicks of {range} never replayed, counted as rollup rows
-- count them, for the hours no rollup holds. Parameters: those of {range}, then the filters.
SELECT toStartOfHour(ts) AS period, {columns}
{click_states}
FROM clicks
WHERE ({range}) AND replayed = 0 {where}
GROUP BY period{group_columns}
