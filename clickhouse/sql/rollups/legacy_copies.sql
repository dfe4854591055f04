-- Whether a day holds a click stored twice with the same sorting key: a copy written by a retry or
-- the spool before copies were kept apart (rewritten, sql/migrations/009_rollups.sql). A merge
-- would fold such a pair into the copy some time after the day is rolled up, and the click would
-- then count twice: the roller merges the day's partition first. Parameters: the day's start, its
-- end.
SELECT count() FROM
(
    SELECT click_id
    FROM clicks
    WHERE ts >= ? AND ts < ? AND rewritten = 0
    GROUP BY click_id
    HAVING count() > 1
);
