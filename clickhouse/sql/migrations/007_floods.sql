-- Requests for codes that are no link, counted per minute and code on each redirector (a row per
-- code and minute, never a row per request: a flood of made-up codes must not crowd out clicks).
-- row_id names a redirector's row, so a replayed row is counted once.
CREATE TABLE IF NOT EXISTS unknown_codes (
    row_id      String,
    minute      DateTime('UTC'),
    code        String,
    hits        UInt64,
    first_seen  DateTime('UTC'),
    last_seen   DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, code, row_id);

-- Impressions of the same link by the same visitor inside the duplicate window, as clicks have.
ALTER TABLE impressions ADD COLUMN duplicate UInt8;
