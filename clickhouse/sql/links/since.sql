-- The versions of links written since a time (ClickHouse's clock; 0 for all), in code and version
-- order: what an edge reads at start and at every poll. Parameters: since (Unix seconds).
SELECT code, version, url, partner_id, program, campaign, status, toUInt32(expires_at), actor, op,
    toUInt32(written_at)
FROM link_versions
WHERE written_at >= toDateTime(?, 'UTC')
ORDER BY code, version;
