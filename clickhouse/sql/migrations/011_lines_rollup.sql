-- Commission lines summed by day, program, partner and currency, from their current state
-- (docs/architecture.md, "Rollups"). The lines change only when the attribution job writes a run,
-- so the whole table is rolled again then (and by the roller when it sees the lines changed), under
-- a new run; reports read the newest run whose fingerprint of the commissions table (its newest run
-- and its row count) is still the table's, and the lines themselves otherwise.
CREATE TABLE IF NOT EXISTS rollup_lines (
    run          UInt64,
    ts           DateTime('UTC'),
    program      String,
    partner_id   String,
    currency     String,
    orders       UInt64,
    base         Int64,
    commission   Int64
) ENGINE = SummingMergeTree()
ORDER BY (run, program, partner_id, ts, currency);

CREATE TABLE IF NOT EXISTS rollup_lines_runs (
    run          UInt64,
    lines_run    UInt64,
    lines_rows   UInt64,
    committed_ns UInt64
) ENGINE = MergeTree
ORDER BY run;
