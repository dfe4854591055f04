-- The hours of [from, to) holding rows written late or replayed, of every source (sql/migrations/
-- 009_rollups.sql, replays): a report's queries, one per source, share this read. Parameters:
-- from, to.
SELECT source, period
FROM replays
WHERE period >= ? AND period < ?
GROUP BY source, period
HAVING sum(rows) > 0
ORDER BY source, period;
