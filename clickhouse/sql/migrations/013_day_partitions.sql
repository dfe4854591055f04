-- Clicks and impressions in partitions of a UTC day instead of a month. The roller reads one
-- finished day at a time (sql/rollups); with month partitions each of its passes read the whole
-- month's partition, as the rows are sorted by partner, link and time, so rolling a day up cost more
-- the later the day in its month (bench/results/2026-12-05-day-partitions.md). A partition's key
-- cannot change in place: these tables take the rows (clickhouse/rebuild.go copies them while the
-- edges write, then the tables swap names, then what was written meanwhile follows, then the old
-- tables are dropped). Their columns and keys are those of clicks and impressions at 012.
CREATE TABLE IF NOT EXISTS clicks_by_day (
    click_id          String,
    ts                DateTime('UTC'),
    ts_ms             UInt16,
    link              String,
    partner_id        String,
    program           String,
    campaign          String,
    outcome           String,
    claim_partner_id  String,
    claim_click_id    String,
    claim_expires_at  DateTime('UTC'),
    tampered          UInt8,
    ip                String,
    user_agent        String,
    referer           String,
    referer_host      String,
    visitor           UInt64,
    bot               UInt8,
    not_navigation    UInt8,
    rate_limited      UInt8,
    duplicate         UInt8,
    gpc               UInt8,
    network_param     String,
    network_click_id  String,
    country           String,
    region            String,
    city              String,
    device_type       String,
    os                String,
    os_version        String,
    browser           String,
    browser_version   String,
    replayed          UInt8,
    rewritten         UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(ts)
PRIMARY KEY (partner_id, link, ts, click_id)
ORDER BY (partner_id, link, ts, click_id, rewritten);

CREATE TABLE IF NOT EXISTS impressions_by_day (
    impression_id  String,
    ts             DateTime('UTC'),
    ts_ms          UInt16,
    link           String,
    partner_id     String,
    program        String,
    campaign       String,
    ip             String,
    user_agent     String,
    referer        String,
    visitor        UInt64,
    bot            UInt8,
    known_link     UInt8,
    duplicate      UInt8,
    replayed       UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(ts)
PRIMARY KEY (partner_id, link, ts, impression_id)
ORDER BY (partner_id, link, ts, impression_id, replayed);
