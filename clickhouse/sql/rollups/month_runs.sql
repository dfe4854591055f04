-- The runs that made months' rows (sql/migrations/015_rollup_months.sql), each with the hash of the
-- day runs it merged; of runs made from the same days, the first recorded. Parameters: none.
SELECT month, days, argMin(run, committed_ns) AS run
FROM rollup_month_runs
GROUP BY month, days
ORDER BY month;
