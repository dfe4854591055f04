-- The earliest time an event table holds, from the parts' bounds (no scan): where rolling up
-- begins. 0 when there are no events. Parameters: none.
SELECT toUInt32(ifNull(min(toUnixTimestamp(min_time)), 0))
FROM system.parts
WHERE database = currentDatabase() AND table IN ('clicks', 'impressions', 'associations') AND active AND rows > 0
    AND toUnixTimestamp(min_time) > 0;
