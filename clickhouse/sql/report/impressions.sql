-- Impressions by the asked dimensions (those the table has), each id counted once; bots left out
-- unless asked. Parameters: the bots flag, from, to, then the filters.
SELECT
    {dims}
    uniqExactIf(cityHash64(impression_id), bot = 0 OR ?) AS impressions
FROM impressions
WHERE ts >= ? AND ts < ? {where}
{group_by}
