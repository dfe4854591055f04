-- The codes asked for that are no link, most asked first: hits summed over the redirectors' rows
-- of each minute in the range, each row counted once however often a replay wrote it. Parameters:
-- from, to, limit.
SELECT code, sum(hits) AS hits, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM
(
    SELECT row_id, any(code) AS code, any(hits) AS hits, any(first_seen) AS first_seen, any(last_seen) AS last_seen
    FROM unknown_codes
    WHERE minute >= ? AND minute < ?
    GROUP BY row_id
)
GROUP BY code
ORDER BY hits DESC, code
LIMIT ?
