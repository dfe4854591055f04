-- A part of sql/report/rollup.sql: the associations of {range} (the hours no rollup holds, and the
-- hours where associations were written late), as sets of ids: one already in a rollup counts once.
-- Parameters: those of {range} three times, then the filters.
SELECT toStartOfHour(ts) AS period, {columns}
{association_states}
FROM
(
{associations_resolved}
)
WHERE 1 {where}
GROUP BY period{group_columns}
