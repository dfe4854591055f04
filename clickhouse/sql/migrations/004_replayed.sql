-- Rows a retry or the spool wrote: only these can repeat a click that is already stored, so a range
-- without any can be counted without deduplicating (see sql/report/clicks.sql).
ALTER TABLE clicks ADD COLUMN replayed UInt8;
