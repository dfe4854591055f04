-- A part of sql/report/rollup.sql: the rows of the rollup table {table} of the runs given, in the
-- ranges of periods {ranges} (the part's share of the report's range: the rows of a day table
-- leave out the months read from month rows, and the partitions of those months are not read),
-- with the columns {columns} and the counts {values}. Parameters: the runs, each range's start and
-- end, then the filters.
SELECT period, {columns}{values}
FROM {table}
WHERE run IN (SELECT arrayJoin(?)) AND ({ranges}) {where}
