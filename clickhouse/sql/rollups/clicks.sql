-- One run's rows of the clicks rollup table {table}: the clicks of [start, end) never replayed,
-- by the table's dimensions {keys}, in rows of a day or an hour ({grain}). Parameters: the run,
-- the start, the end.
INSERT INTO {table} (run, period, {keys}, clicks_humans, clicks_bots, claims, kept, protected,
    nn_humans, nn_bots, dup_humans, dup_bots, visitors_humans, visitors_all)
SELECT
    ? AS run,
    {grain}(ts) AS period,
    {keys},
{click_states}
FROM clicks
WHERE ts >= ? AND ts < ? AND replayed = 0
GROUP BY period, {keys};
