-- One run's rows of the associations rollup table {table}: the associations of [start, end) with
-- the partner and link they count for, by {keys}, in rows of a day or an hour ({grain}). Parameters:
-- the run, then the start and the end three times.
INSERT INTO {table} (run, period, {keys}, registers, logins)
SELECT
    ? AS run,
    {grain}(ts) AS period,
    {keys},
{association_states}
FROM
(
{associations_resolved}
)
GROUP BY period, {keys};
