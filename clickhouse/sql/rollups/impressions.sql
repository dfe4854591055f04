-- One run's rows of the impressions rollup table {table}: the impressions of [start, end) never
-- replayed, each once, by {keys}, in rows of a day or an hour ({grain}). Parameters: the run, the
-- start, the end.
INSERT INTO {table} (run, period, {keys}, impressions_humans, impressions_bots)
SELECT
    ? AS run,
    {grain}(ts) AS period,
    {keys},
{impression_states}
FROM
(
{impressions_once}
)
GROUP BY period, {keys};
