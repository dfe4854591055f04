-- The codes with versions written since a time, and the newest version of each among those: what
-- a poll compares with the versions it serves, before it reads whole rows of the ones it lacks.
-- Parameters: since (Unix seconds).
SELECT code, max(version)
FROM link_versions
WHERE written_at >= toDateTime(?, 'UTC')
GROUP BY code
