-- Impressions by the asked dimensions (those the table has), each id counted once; bots left out
-- unless asked, and an impression of a link the same visitor saw inside the duplicate window left
-- out always (a page reloaded a thousand times is one impression). Parameters: the bots flag, from,
-- to, then the filters.
SELECT
    {dims}
    uniqExactIf(cityHash64(impression_id), (bot = 0 OR ?) AND duplicate = 0) AS impressions
FROM impressions
WHERE ts >= ? AND ts < ? {where}
{group_by}
