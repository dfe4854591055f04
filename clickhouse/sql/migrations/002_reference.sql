-- Reference data and results: links, the merchant's accounts, partners, orders, and the commission
-- lines the attribution job writes. Each is a ReplacingMergeTree keyed on its natural key with a
-- version column, so re-importing a file (or re-running the job) replaces rows instead of adding
-- them; queries read the newest version with argMax or FINAL.
--
-- Money is kept exact, as Int64 minor units (cents, fen) beside its currency (RULES.md R7):
-- Decimal(18,2) would be wrong for currencies with 0 or 3 minor digits.

CREATE TABLE IF NOT EXISTS links (
    code        String,
    url         String,
    partner_id  String,
    program     String,
    campaign    String,
    status      String,
    expires_at  DateTime('UTC'),
    updated_at  DateTime('UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY code;

CREATE TABLE IF NOT EXISTS accounts (
    account_id     String,
    identity_id    String,
    registered_at  DateTime('UTC'),
    type           String,
    sales_bound    UInt8,
    imported_at    DateTime('UTC')
) ENGINE = ReplacingMergeTree(imported_at)
ORDER BY account_id;

-- month is 'YYYY-MM', or '' for a row that holds in every month.
CREATE TABLE IF NOT EXISTS partners (
    partner_id   String,
    identity_id  String,
    level        UInt8,
    excluded     UInt8,
    month        String,
    imported_at  DateTime('UTC')
) ENGINE = ReplacingMergeTree(imported_at)
ORDER BY (partner_id, month);

CREATE TABLE IF NOT EXISTS orders (
    order_id      String,
    account_id    String,
    ts            DateTime('UTC'),
    ts_ms         UInt16,
    product       String,
    category      String,
    billing       String,
    kind          String,
    currency      String,
    amount        Int64,
    voucher       Int64,
    refund        Int64,
    refunded_at   DateTime('UTC'),
    imported_at   DateTime('UTC')
) ENGINE = ReplacingMergeTree(imported_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, order_id);

-- One row per commission line and job run; the newest computed_at of (program, line, ref) is the
-- line's current state, so a later run moves a line forward (pending to approved) in place.
CREATE TABLE IF NOT EXISTS commissions (
    program      String,
    partner_id   String,
    line         String,
    ref          String,
    account_id   String,
    status       String,
    reason       String,
    currency     String,
    base         Int64,
    rate         String,
    commission   Int64,
    payable_on   Date,
    as_of        DateTime('UTC'),
    computed_at  DateTime('UTC')
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (program, line, ref);
