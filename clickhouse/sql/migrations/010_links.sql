-- Links as a managed resource (docs/architecture.md, "Links"): every version of every link, and
-- the claims on codes that keep a code unique when several servers create links at once.
--
-- The links table of migration 002 was created and never written (links came from a file); it
-- kept one row per code, and a link's history needs every version, so it gives way to
-- link_versions.
DROP TABLE IF EXISTS links;

-- One row per version of a link: created, changed, disabled. The newest version of a code is the
-- link; a link is never deleted (its clicks still name it). version is the writing server's clock
-- in nanoseconds; written_at is ClickHouse's, and edges ask for the rows written since the last
-- they saw by it.
CREATE TABLE IF NOT EXISTS link_versions (
    code        String,
    version     UInt64,
    url         String,
    partner_id  String,
    program     String,
    campaign    String,
    status      String,
    expires_at  DateTime('UTC'),
    actor       String,
    request     String,
    op          String,
    written_at  DateTime('UTC') DEFAULT now()
) ENGINE = MergeTree
ORDER BY (code, version);

-- A server that creates a code first claims it here, waits until every claim made before its own
-- is visible, then reads the claims of the code: the earliest (claimed_ns, writer) not released
-- owns it. A server that did not win, or gave up the request, releases its claim with a second row.
CREATE TABLE IF NOT EXISTS link_claims (
    code        String,
    claimed_ns  UInt64,
    writer      String,
    request     String,
    released    UInt8,
    written_at  DateTime('UTC') DEFAULT now()
) ENGINE = MergeTree
ORDER BY (code, claimed_ns, writer);
