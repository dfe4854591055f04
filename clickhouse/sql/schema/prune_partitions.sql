-- The partitions of an event table, by id: a month (YYYYMM) or, for clicks and impressions since
-- migration 013, a day (YYYYMMDD). Parameters: database, table.
SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition_id;
