-- The earliest time an event table holds, from the parts' bounds (no scan): where rolling up
-- begins. 0 when there are no events. Parameters: the database, the three tables (on a cluster, their
-- local tables, and the parts of every shard in place of system.parts).
SELECT toUInt32(ifNull(min(toUnixTimestamp(min_time)), 0))
FROM system.parts
WHERE database = ? AND table IN (?, ?, ?) AND active AND rows > 0
    AND toUnixTimestamp(min_time) > 0;
