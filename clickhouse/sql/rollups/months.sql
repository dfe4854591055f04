-- One month's rows of a family's month table {to} (sql/migrations/015_rollup_months.sql): the rows
-- of its day table {from} of the month's day runs, merged by the family's dimensions {keys}, under
-- the month's run, with period the month's start. On a cluster both are a shard's local tables,
-- and each shard merges its own rows. Parameters: the month's run, its start, the day runs, the
-- month's start, its end.
INSERT INTO {to} (run, period, {keys}, {values})
SELECT ? AS month_run, ? AS month_start, {keys},
{merged}
FROM {from}
WHERE run IN (SELECT arrayJoin(?)) AND period >= ? AND period < ?
GROUP BY {keys};
