-- ClickHouse's clock, against which edges count the rows written since their last poll.
SELECT toUInt32(now());
