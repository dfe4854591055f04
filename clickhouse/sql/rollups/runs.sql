-- The run that rolled up each day: the first recorded. Parameters: none.
SELECT day, argMin(run, committed_ns) AS run
FROM rollup_runs
GROUP BY day
ORDER BY day;
