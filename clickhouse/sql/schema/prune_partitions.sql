-- The partitions (months, YYYYMM) of an event table. Parameters: database, table.
SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition;
