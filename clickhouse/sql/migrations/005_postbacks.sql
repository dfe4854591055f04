-- Every postback attempt to an affiliate network: what was sent, when, and what came back. A line
-- and status with an ok attempt is never sent again.
CREATE TABLE IF NOT EXISTS postbacks (
    network      String,
    program      String,
    line         String,
    ref          String,
    status       String,
    url          String,
    attempt      UInt16,
    ts           DateTime('UTC'),
    http_status  UInt16,
    error        String,
    ok           UInt8
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (network, program, line, ref, status, ts);
