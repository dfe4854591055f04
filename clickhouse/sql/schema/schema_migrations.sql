-- Which migrations have run: one row per version (a concurrent second migrate may add a repeat,
-- harmless: versions are read with DISTINCT and every migration is safe to run twice: IF NOT EXISTS,
-- and an ADD COLUMN that finds its column is taken as done).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     UInt32,
    name        String,
    applied_at  DateTime('UTC')
) ENGINE = MergeTree()
ORDER BY version;
