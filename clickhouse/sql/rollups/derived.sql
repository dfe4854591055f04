-- One run's rows of the rollup table {table}, made from the same run's rows of {source}, whose
-- dimensions include {keys} and whose periods are as fine: the day's raw events are read once for
-- both. The rows are copied at the coarser period; SummingMergeTree adds their counts and merges
-- their visitors' states, as reports do when they read rows of one key. Parameters: the run
-- (written), the run (read).
INSERT INTO {table} (run, period, {keys}, {values})
SELECT ? AS written_run, {grain}(period) AS rolled_period, {keys}, {values}
FROM {source}
WHERE run = ?;
