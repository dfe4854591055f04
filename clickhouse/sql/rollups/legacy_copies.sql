-- Whether a day holds a click stored twice with the same sorting key: a copy written by a retry or
-- the spool before copies were kept apart (rewritten, sql/migrations/009_rollups.sql). A merge
-- would fold such a pair into the copy some time after the day is rolled up, and the click would
-- then count twice: the roller merges the day's partition first. Ids are compared by a 64-bit hash,
-- half the work of grouping the strings (bench/results/2026-12-05-roll-cost.md); two ids of one day
-- sharing a hash only cost a merge the day did not need. Parameters: the day's start, its end.
SELECT count() FROM
(
    SELECT cityHash64(click_id) AS id
    FROM clicks
    WHERE ts >= ? AND ts < ? AND rewritten = 0
    GROUP BY id
    HAVING count() > 1
);
