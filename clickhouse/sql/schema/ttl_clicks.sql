-- Servers with TTL (ClickHouse 19.6 and later) drop old events themselves; 400 days is an example,
-- firstclaim prune --ttl sets the number asked for. 18.16 refuses this: prune deletes instead.
ALTER TABLE clicks MODIFY TTL ts + toIntervalDay(400);
