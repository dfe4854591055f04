-- Whether a range holds rows a retry or the spool wrote (then clicks are deduplicated). Parameters:
-- from, to.
SELECT count() FROM clicks WHERE ts >= ? AND ts < ? AND replayed = 1;
