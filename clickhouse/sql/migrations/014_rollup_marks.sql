-- Finer index marks for the rollup tables read by partner and by link: a mark every 64 rows
-- instead of 8,192. A report reads whole granules between marks; one partner's rows are a few dozen
-- a day among thousands, and the links a by-link report shows are a few hundred among tens of
-- thousands, so with 8,192-row granules both read (and decode the visitor states of) nearly every
-- row of the range (bench/results/2026-12-05-reports-fine.md). A table's index granularity is fixed
-- when it is made: these tables take the rows of every recorded run (clickhouse/rebuild.go), then
-- swap names with the tables they replace. Their columns and keys are those of 009.

CREATE TABLE IF NOT EXISTS rollup_clicks_partners_fine (
    run              UInt64,
    period           DateTime('UTC'),
    partner_id       String,
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
ORDER BY (partner_id, program, campaign, period, run)
SETTINGS index_granularity = 64;

CREATE TABLE IF NOT EXISTS rollup_clicks_links_fine (
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

CREATE TABLE IF NOT EXISTS rollup_impressions_links_fine (
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

CREATE TABLE IF NOT EXISTS rollup_associations_links_fine (
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
