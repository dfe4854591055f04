-- Click ids in the clicks table, each counted once however often a replay wrote it.
SELECT uniqExact(click_id) AS clicks, count() AS rows FROM clicks;
