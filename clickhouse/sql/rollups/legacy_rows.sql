-- Whether a day holds a click written again by a release of schema 4 to 8 (a retry, the spool):
-- marked replayed but not rewritten. Of a day that began after the database reached schema 4
-- (copies_marked_since.sql), only such a row can share its sorting key with the click first stored
-- (this release writes every copy with rewritten = 1, and rewritten = replayed always), so such a
-- day without one needs no look by id (legacy_copies.sql, a pass over the day's ids: 0.15 CPU s per
-- million clicks against 0.005 for this count, bench/results/2026-12-05-roll-threads.md).
-- Parameters: the day's start, its end.
SELECT count()
FROM clicks
WHERE ts >= ? AND ts < ? AND replayed = 1 AND rewritten = 0;
