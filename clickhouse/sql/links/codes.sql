-- The newest version of some codes. Parameters: the codes (an array).
SELECT code, version, url, partner_id, program, campaign, status, toUInt32(expires_at), actor, op,
    toUInt32(written_at)
FROM link_versions
WHERE code IN (SELECT arrayJoin(?))
ORDER BY code, version DESC
LIMIT 1 BY code
