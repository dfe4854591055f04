-- A part of sql/report/rollup.sql: the rows of the rollup table {table} of the runs given, in
-- [from, to), with the columns {columns} and the counts {values}. Parameters: the runs, from, to, then
-- the filters.
SELECT period, {columns}{values}
FROM {table}
WHERE run IN (SELECT arrayJoin(?)) AND period >= ? AND period < ? {where}
