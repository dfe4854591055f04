-- Rollups: the events summed by the dimensions reports group by, so that a report over months
-- reads thousands of rows instead of millions (docs/architecture.md, "Rollups").
--
-- A rollup row holds one run's sums for a day (or, in the *_hours tables, an hour) and one value of
-- its table's dimensions. The roller (clickhouse/rollup.go) writes a whole UTC day at once, after
-- the day has ended, from the raw tables, under a run id it draws; it then records the run in
-- rollup_runs. Reports read a day's rows of the first run recorded for that day only, so a roller
-- cut off half-way (its run never recorded) or two rollers racing (the second run ignored) never
-- count twice. SummingMergeTree folds rows of one key and run as parts merge.
--
-- Clicks and impressions are rolled up from their rows never replayed (replayed = 0: the rows the
-- edges wrote promptly, each a different event); rows a retry or the spool wrote, or written late,
-- are counted from the raw table by every report, each id once (sql/report). Sign-ups and log-ins
-- keep the set of their ids (uniqExact states), so adding the same one twice changes nothing.
-- Unique visitors are HyperLogLog estimates with 2^12 registers (uniqCombined(12)): reports mark
-- them as estimates and count them exactly from the raw table on request.

-- A row written again (a retry, the spool) or late is marked in the sorting key too, so that a
-- merge never folds it into the row first written: ReplacingMergeTree keeps the last row of a key,
-- which would leave only the copy, and a day already rolled up from the first row would then count
-- the click again as replayed. Impressions, like clicks, now say which rows are such.
ALTER TABLE clicks ADD COLUMN rewritten UInt8, MODIFY ORDER BY (partner_id, link, ts, click_id, rewritten);
ALTER TABLE impressions ADD COLUMN replayed UInt8, MODIFY ORDER BY (partner_id, link, ts, impression_id, replayed);

-- The hours holding rows written late or replayed, by source (clicks, impressions, associations):
-- the writer adds a row here before it writes such rows, and imports add the hours they wrote to.
-- Reports count these hours' rows from the raw tables on top of the rollups.
CREATE TABLE IF NOT EXISTS replays (
    period  DateTime('UTC'),
    source  String,
    rows    UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (source, period);

-- Each run that rolled a day up, as it finished: the first recorded for a day is the day's.
CREATE TABLE IF NOT EXISTS rollup_runs (
    day           Date,
    run           UInt64,
    committed_ns  UInt64,
    clicks        UInt64,
    impressions   UInt64,
    associations  UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, committed_ns, run);

-- Clicks the totals and each day, by program.
CREATE TABLE IF NOT EXISTS rollup_clicks_days (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
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
ORDER BY (program, period, run);

-- Clicks each hour, by program and outcome (hourly rows).
CREATE TABLE IF NOT EXISTS rollup_clicks_hours (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    outcome          String,
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
ORDER BY (program, outcome, period, run);

-- Clicks by partner.
CREATE TABLE IF NOT EXISTS rollup_clicks_partners (
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
ORDER BY (partner_id, program, campaign, period, run);

-- Clicks by link.
CREATE TABLE IF NOT EXISTS rollup_clicks_links (
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
ORDER BY (partner_id, link, program, campaign, period, run);

-- Clicks by country and device.
CREATE TABLE IF NOT EXISTS rollup_clicks_places (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    country          String,
    device_type      String,
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
ORDER BY (program, country, device_type, period, run);

-- Clicks by device and browser.
CREATE TABLE IF NOT EXISTS rollup_clicks_devices (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    device_type      String,
    browser          String,
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
ORDER BY (program, device_type, browser, period, run);

-- Clicks by referring site.
CREATE TABLE IF NOT EXISTS rollup_clicks_referers (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    referer_host     String,
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
ORDER BY (program, referer_host, period, run);

-- Impressions each hour, by program (hourly rows).
CREATE TABLE IF NOT EXISTS rollup_impressions_hours (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    impressions_humans  UInt64,
    impressions_bots    UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (program, period, run);

-- Impressions by link.
CREATE TABLE IF NOT EXISTS rollup_impressions_links (
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
ORDER BY (partner_id, link, program, campaign, period, run);

-- Associations each hour, by program (hourly rows).
CREATE TABLE IF NOT EXISTS rollup_associations_hours (
    run              UInt64,
    period           DateTime('UTC'),
    program          String,
    registers  AggregateFunction(uniqExactIf, String, UInt8),
    logins     AggregateFunction(uniqExactIf, String, UInt8)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (program, period, run);

-- Associations by link.
CREATE TABLE IF NOT EXISTS rollup_associations_links (
    run              UInt64,
    period           DateTime('UTC'),
    partner_id       String,
    link             String,
    program          String,
    registers  AggregateFunction(uniqExactIf, String, UInt8),
    logins     AggregateFunction(uniqExactIf, String, UInt8)
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(period)
ORDER BY (partner_id, link, program, period, run);

-- The hours where clicks written before this migration were replayed.
INSERT INTO replays (period, source, rows)
SELECT toStartOfHour(ts) AS period, 'clicks' AS source, count() AS rows
FROM clicks
WHERE replayed = 1
GROUP BY period;
