-- When the database reached schema 4 (sql/migrations/004_replayed.sql), from which every release
-- marks a click it writes again as replayed: a day that began earlier may hold copies marked not
-- at all, and is always looked at by id (legacy_copies.sql). 0 when it has no such migration.
-- Parameters: none.
SELECT toUInt64(min(toUnixTimestamp(applied_at)))
FROM schema_migrations
WHERE version = 4;
