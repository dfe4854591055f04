-- Who is attributing a program: one attribution job at a time may write a program's lines. A job
-- takes a lease (a row), renews it while it runs (a row with a later expiry each time) and releases
-- it at the end (a row marked released). Of the standing leases of a program the earliest taken
-- wins; a job that died holds its lease until it expires. See clickhouse/lease.go.
CREATE TABLE IF NOT EXISTS attribution_leases (
    program     String,
    taken_ns    UInt64,
    holder      String,
    expires_ns  UInt64,
    released    UInt8,
    written_at  DateTime('UTC') DEFAULT now()
) ENGINE = MergeTree
ORDER BY (program, taken_ns, holder);
