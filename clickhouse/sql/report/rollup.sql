-- A report's groups read from rollups: the parts ({parts}: rows of rollup tables, and counts made
-- from the raw tables for what the rollups do not hold, all with the same columns) merged by the
-- asked dimensions. The dimension, filter and grouping placeholders are filled as in clicks.sql,
-- over period, the start of each part's hour or day. Parameters: those of {metrics}, then each
-- part's.
SELECT
    {dims}
    {metrics}
FROM
(
{parts}
)
WHERE 1 {nonempty}
{group_by}
