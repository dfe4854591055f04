-- The event tables: what the redirector records.
--
-- Replays can repeat a batch (a write that reached ClickHouse but whose acknowledgement was lost is
-- sent again from the spool). Every event carries its id, and the tables are ReplacingMergeTree
-- with the id in the sorting key, so background merges fold repeats away; until a merge runs,
-- every query counts an id once (uniqExact, or a GROUP BY on the id). Both together: storage stays
-- lean and no report ever double counts.
--
-- Times are DateTime('UTC') (seconds) with the milliseconds beside them in *_ms: DateTime64 does not
-- exist on the 18.16 servers this must run on. Partitions are months; the sorting keys serve the
-- reports, which filter by partner and link and then by time.

CREATE TABLE IF NOT EXISTS clicks (
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
    browser_version   String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, link, ts, click_id);

CREATE TABLE IF NOT EXISTS impressions (
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
    known_link     UInt8
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (partner_id, link, ts, impression_id);

-- An association binds a merchant's account to the partner whose claim the visitor carried when it
-- registered or logged in (RULES.md R2): from the pixel, the server-to-server API, or an import.
CREATE TABLE IF NOT EXISTS associations (
    association_id    String,
    ts                DateTime('UTC'),
    ts_ms             UInt16,
    program           String,
    account_id        String,
    partner_id        String,
    click_id          String,
    link              String,
    kind              String,
    claimed_at        DateTime('UTC'),
    claim_expires_at  DateTime('UTC'),
    source            String,
    network_click_id  String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (program, account_id, ts, association_id);
