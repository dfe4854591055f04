-- The hours of [from, to) holding rows of a source written late or replayed (sql/migrations/
-- 009_rollups.sql, replays). Parameters: the source, from, to.
SELECT period
FROM replays
WHERE source = ? AND period >= ? AND period < ?
GROUP BY period
HAVING sum(rows) > 0
ORDER BY period;
