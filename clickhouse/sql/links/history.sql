-- Every version of one link, oldest first. Parameters: code.
SELECT code, version, url, partner_id, program, campaign, status, toUInt32(expires_at), actor, op,
    toUInt32(written_at)
FROM link_versions
WHERE code = ?
ORDER BY version;
