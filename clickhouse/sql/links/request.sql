-- The codes a request (an idempotency key, with who sent it) created or changed, in the order of
-- their versions. Parameters: request.
SELECT code
FROM link_versions
WHERE request = ?
GROUP BY code
ORDER BY min(version), code;
