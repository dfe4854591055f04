-- Which migrations have run: one row per version (a concurrent second migrate may add a repeat,
-- harmless: versions are read with DISTINCT and every migration is written to run twice safely).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     UInt32,
    name        String,
    applied_at  DateTime('UTC')
) ENGINE = MergeTree()
ORDER BY version;
