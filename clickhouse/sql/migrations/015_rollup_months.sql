-- Rollups of a month, for the tables read by link: a report over 90 days by link reads each link's
-- visitor states (and sign-up sets) once a day, 90 of them, plus the rows around them in the same
-- granules; a month row holds a whole month of them merged. The roller makes a month's rows once
-- every day of the month is rolled up (clickhouse/rollup.go, FinishMonths), from the day rows of
-- the days' runs, under a run of its own, and records in rollup_month_runs which day runs it merged
-- (days: a hash of the days and their runs). A report reads a month's rows in place of its days'
-- only when the days' runs it would read are those (a day rolled up anew, or forgotten, and the month
-- is read by day until it is made again). Columns and keys are those of the day tables (014); a
-- month's rows are one INSERT, in a partition of their own (never rewritten when the next month is made).

CREATE TABLE IF NOT EXISTS rollup_month_runs (
    month         Date,
    days          UInt64,
    run           UInt64,
    committed_ns  UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(month)
ORDER BY (month, days, committed_ns, run);

CREATE TABLE IF NOT EXISTS rollup_clicks_links_months (
    run              UInt64,
    period           DateTime('UTC'),
    partner_id       String,
    link             String,
    program          String,
    campaign         String,
    clicks_humans    UInt64,
    clicks_bots      UInt64,
    claims           UInt64,
    kept             UInt64,
    protected        UInt64,
    nn_humans        UInt64,
    nn_bots          UInt64,
    dup_humans       UInt64,
    dup_bots         UInt64,
    visitors_humans  AggregateFunction(uniqCombinedIf(12), UInt64, UInt8),
    visitors_all     AggregateFunction(uniqCombined(12), UInt64)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (partner_id, link, program, campaign, period, run)
SETTINGS index_granularity = 64;

CREATE TABLE IF NOT EXISTS rollup_impressions_links_months (
    run              UInt64,
    period           DateTime('UTC'),
    partner_id       String,
    link             String,
    program          String,
    campaign         String,
    impressions_humans  UInt64,
    impressions_bots    UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (partner_id, link, program, campaign, period, run)
SETTINGS index_granularity = 64;

CREATE TABLE IF NOT EXISTS rollup_associations_links_months (
    run              UInt64,
    period           DateTime('UTC'),
    partner_id       String,
    link             String,
    program          String,
    registers  AggregateFunction(uniqExactIf, String, UInt8),
    logins     AggregateFunction(uniqExactIf, String, UInt8)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (partner_id, link, program, period, run)
SETTINGS index_granularity = 64;
